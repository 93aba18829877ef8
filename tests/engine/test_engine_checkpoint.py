"""Checkpoint safety: atomic writes survive interruption; loads never unpickle code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from deformer3d.engine.checkpoint import CheckpointError, SafeCheckpointIO, atomic_torch_save, safe_torch_load


class Interrupt:
    """Pickling this object raises KeyboardInterrupt: a Ctrl-C in the middle of writing a checkpoint."""

    def __reduce__(self):
        raise KeyboardInterrupt("interrupted while writing")


class Payload:
    """A pickle payload: unpickling it would create ``marker`` (runs code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _tensors(value: float) -> dict[str, torch.Tensor]:
    return {f"w{i}": torch.full((256, 256), value) for i in range(8)}


def test_interrupted_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    io = SafeCheckpointIO()
    io.save_checkpoint({"state_dict": _tensors(1.0), "epoch": 1}, path)
    # several MB of tensors are serialised before the interrupting object is reached
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": _tensors(2.0), "epoch": 2, "z": Interrupt()}, path)
    ckpt = io.load_checkpoint(path)
    assert ckpt["epoch"] == 1
    assert torch.equal(ckpt["state_dict"]["w0"], torch.full((256, 256), 1.0))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_killed_writer_never_leaves_corrupt_checkpoint(tmp_path):
    """SIGKILL a process that rewrites last.ckpt in a loop: the file is always a complete checkpoint."""
    path = tmp_path / "last.ckpt"
    script = textwrap.dedent(
        f"""
        import torch
        from deformer3d.engine.checkpoint import atomic_torch_save
        big = {{f"w{{i}}": torch.randn(512, 512) for i in range(16)}}  # ~16 MB per write
        i = 0
        while True:
            atomic_torch_save({{"state_dict": big, "epoch": i}}, {str(path)!r})
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert path.exists(), "writer never produced a checkpoint"
        time.sleep(0.7)  # the writer is busy rewriting: the kill lands mid-write almost surely
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    ckpt = safe_torch_load(path)
    assert set(ckpt["state_dict"]) == {f"w{i}" for i in range(16)}
    assert isinstance(ckpt["epoch"], int)


def test_payload_pickle_is_refused(tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        safe_torch_load(evil)
    assert not marker.exists()
    # the same file really would run code with an unsafe load: the test checks a real payload
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_missing_and_truncated_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        safe_torch_load(tmp_path / "nope.ckpt")
    good = tmp_path / "good.ckpt"
    atomic_torch_save({"state_dict": _tensors(3.0)}, good)
    data = good.read_bytes()
    bad = tmp_path / "truncated.ckpt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        safe_torch_load(bad)
