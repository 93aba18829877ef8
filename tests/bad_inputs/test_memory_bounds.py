"""Memory is bounded by the work, not by the file: hostile pickles, huge pictures. Peak memory is measured as the
peak RSS of a child process (``ru_maxrss`` of the only child of a fresh interpreter)."""

from __future__ import annotations

import pickle
import resource  # noqa: F401  (POSIX only; the children report their own peak through it)
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from deformer3d.data.formats.pyskl import MAX_CONSTRUCTED_BYTES, read_pyskl, safe_load_pickle, write_pyskl
from deformer3d.errors import DataFormatError

pytestmark = pytest.mark.bad_inputs
GiB = 2**30


def _long1(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _call(module: str, name: str, *args: bytes) -> bytes:
    """A protocol-2 pickle of ``module.name(*args)`` (args already pickled)."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"".join(args) + bytes([0x84 + len(args)]) + b"R."


HOSTILE = {
    "bytearray": _call("builtins", "bytearray", _long1(2 * GiB)),
    "bytes": _call("builtins", "bytes", _long1(2 * GiB)),
    "list_of_range": b"\x80\x02cbuiltins\nlist\ncbuiltins\nrange\n" + _long1(2**28) + b"\x85R\x85R.",
    "array_shape": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _long1(2**28)
    + b"\x85U\x01d\x87R.",
    "ndarray_call": b"\x80\x02cnumpy\nndarray\n" + _long1(2**28) + b"\x85U\x01O\x86R.",
}


def peak_rss_of(*command: str) -> tuple[int, str, float]:
    """Run ``command`` as the only child of a fresh interpreter -> (exit code, its stdout + stderr, peak GiB)."""
    runner = textwrap.dedent("""
        import resource, subprocess, sys
        r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
        sys.stdout.write(r.stdout + r.stderr)
        print("PEAK_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)
    """)
    out = subprocess.run([sys.executable, "-c", runner, *command], capture_output=True, text=True, check=True).stdout
    text, tail = out.rsplit("PEAK_KB", 1)
    kb, rc = tail.split()
    return int(rc), text, int(kb) / 2**20


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_pickle_is_refused_before_allocating(tmp_path, kind):
    path = tmp_path / f"{kind}.pkl"
    path.write_bytes(HOSTILE[kind])
    assert len(HOSTILE[kind]) < 80
    with pytest.raises(DataFormatError, match=f"{kind}.pkl: .*(size alone|limit)"):
        read_pyskl(path)


def test_35_byte_pickle_asking_for_2_gib_stays_small(tmp_path):
    """The loader's peak memory stays at the interpreter's, far below the 2 GiB the file asks for."""
    path = tmp_path / "evil.pkl"
    path.write_bytes(HOSTILE["bytearray"])
    code = ("import sys\nfrom deformer3d.data.formats.pyskl import read_pyskl\n"
            "try:\n    read_pyskl(sys.argv[1])\nexcept Exception as e:\n    print('refused:', e)\n")
    rc, text, peak = peak_rss_of(sys.executable, "-c", code, str(path))
    assert rc == 0 and "refused:" in text and "evil.pkl" in text
    assert peak < 0.25, f"peak RSS {peak:.2f} GiB"


def test_object_array_whose_state_is_short_is_refused_not_a_crash(tmp_path):
    """numpy trusts an object array's state: shape (2**28,) with a one-item list would crash the interpreter."""
    from numpy._core.multiarray import _reconstruct

    class Short:
        def __reduce__(self):
            return (_reconstruct, (np.ndarray, (0,), b"b"), (1, (2**28,), np.dtype("O"), False, [None]))

    path = tmp_path / "short.pkl"
    path.write_bytes(pickle.dumps(Short(), protocol=4))
    with pytest.raises(DataFormatError, match="short.pkl: .*object array"):
        safe_load_pickle(path)


def test_real_annotations_still_load(tmp_path):
    """Arrays of every size the data carries load as plain ndarrays (the cap is on sizes without data)."""
    big = np.random.default_rng(0).random((1, 300, 17, 2)).astype(np.float32)
    ann = {"frame_dir": "a", "label": 0, "keypoint": big, "keypoint_score": np.ones((1, 300, 17), np.float32),
           "names": np.array(["x", "y"]), "img_shape": (480, 640), "total_frames": 300}
    write_pyskl(tmp_path / "ok.pkl", [ann], {"train": ["a"]})
    got = read_pyskl(tmp_path / "ok.pkl")["annotations"][0]
    assert type(got["keypoint"]) is np.ndarray and np.array_equal(got["keypoint"], big)
    assert got["names"].tolist() == ["x", "y"] and MAX_CONSTRUCTED_BYTES < 2 * GiB
