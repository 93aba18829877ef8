"""Memory is bounded by the work, not by the file: hostile pickles, huge pictures. Peak memory is measured as the
peak RSS of a child process (``ru_maxrss`` of the only child of a fresh interpreter)."""

from __future__ import annotations

import json
import pickle
import re
import resource  # noqa: F401  (POSIX only; the children report their own peak through it)
import subprocess
import sys
import textwrap
from pathlib import Path

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


def test_checkpoint_asking_for_2_gib_is_refused_before_allocating(tmp_path):
    """torch's weights-only unpickler rebuilds ``bytearray(n)`` for any n; the checkpoint loader checks first."""
    import zipfile

    path = tmp_path / "evil.ckpt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", HOSTILE["bytearray"])
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")
    code = ("import sys\nfrom deformer3d.engine.checkpoint import safe_torch_load\n"
            "try:\n    safe_torch_load(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    rc, text, peak = peak_rss_of(sys.executable, "-c", code, str(path))
    assert rc == 0 and text.startswith("CheckpointError") and "evil.ckpt" in text and "bytearray" in text, text
    assert peak < 1.0, f"peak RSS {peak:.2f} GiB"  # torch's import alone is ~0.4 GiB; the 2 GiB never came


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


# --------------------------------------------------------------------------- huge pictures through `predict`
WRITE_VIDEO = textwrap.dedent("""
    import sys, av, numpy as np
    path, w, h, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "30"}
        y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
        for i in range(n):
            grey = ((y + 9 * i) % 256).astype(np.uint8)  # a moving gradient: small file, real pictures
            rgb = np.repeat(np.broadcast_to(grey, (h, w))[..., None], 3, axis=2)
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
""")


def write_big_video(path, width: int, height: int, frames: int):
    """Encode in a child process, so the test's own memory never holds the pictures."""
    subprocess.run([sys.executable, "-c", WRITE_VIDEO, str(path), str(width), str(height), str(frames)], check=True)
    return path


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    """A tiny untrained RGB model folder (the engine's own export)."""
    import torch

    from deformer3d.data.synthetic import CLASSES
    from deformer3d.engine.export import export_module
    from deformer3d.engine.module import ActionModule

    torch.manual_seed(0)
    data = {"num_frames": 8, "image_size": 112, "resize_short": 128, "layout": "coco17", "max_persons": 1,
            "test_sampler": "equidistant", "frame_interval": 1}
    module = ActionModule({"name": "deformer3d", "preset": "tiny", "modality": "rgb"}, len(CLASSES), list(CLASSES),
                          data_info=data)
    return export_module(module, tmp_path_factory.mktemp("model") / "rgb")


def predict_peak(video, model) -> tuple[int, str, float]:
    return peak_rss_of(str(Path(sys.executable).with_name("deformer3d")), "predict", str(video), "--model",
                       str(model), "--json")


def test_8192_square_video_is_refused_within_1_gib(tmp_path, rgb_model):
    video = write_big_video(tmp_path / "huge.mp4", 8192, 8192, 3)
    assert video.stat().st_size < 2**20  # a small file ...
    rc, text, peak = predict_peak(video, rgb_model)
    # ... refused with the file, its size and the limit named, in one line, before anything is decoded
    assert rc == 2 and "Traceback" not in text, text
    line = " ".join(text.split())  # rich wraps the one line at the terminal width
    assert re.search(r"huge\.mp4: 8192x8192 pictures \(67\.1 Mpx\) exceed the decoding limit of 35\.4 Mpx", line), text
    assert peak < 1.0, f"peak RSS {peak:.2f} GiB"


def test_4000x3000_clip_predicts_within_0_6_gib(tmp_path, rgb_model):
    video = write_big_video(tmp_path / "photo_size.mp4", 4000, 3000, 12)
    rc, text, peak = predict_peak(video, rgb_model)
    assert rc == 0, text
    assert json.loads(text[text.index("{"):text.rindex("}") + 1])["top_k"]
    assert peak < 0.6, f"peak RSS {peak:.2f} GiB"
