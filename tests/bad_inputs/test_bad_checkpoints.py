"""Checkpoints that are empty, random, of the wrong kind or unwritable: one line, exit 2, nothing written or lost."""

from __future__ import annotations

import os
import resource
import signal

import pytest
import torch
from contract import refused, run_cli, snapshot

from engine_fixtures import write_config

pytestmark = pytest.mark.bad_inputs


def _bad_checkpoints(folder):
    """{name: (path, words the refusal must contain)}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.ckpt").write_bytes(b"")
    (folder / "random.ckpt").write_bytes(os.urandom(4096))
    torch.save([1, 2, 3], folder / "list.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"model_cfg": 3}}, folder / "bad_hparams.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"model_cfg": {"name": "deformer3d"}, "num_classes": "four",
                                                       "class_names": ["a"]}}, folder / "string_classes.ckpt")
    valid = torch.save  # a real checkpoint truncated half-way
    valid({"state_dict": {"w": torch.zeros(1000)}}, folder / "whole.ckpt")
    data = (folder / "whole.ckpt").read_bytes()
    (folder / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (folder / "whole.ckpt").unlink()
    return {
        "empty": (folder / "empty.ckpt", ["empty", "0 bytes"]),
        "random": (folder / "random.ckpt", ["not a readable checkpoint"]),
        "list": (folder / "list.ckpt", ["not a deformer3d training checkpoint", "list"]),
        "bad_hparams": (folder / "bad_hparams.ckpt", ["hyper_parameters.model_cfg"]),
        "string_classes": (folder / "string_classes.ckpt", ["hyper_parameters.num_classes"]),
        "truncated": (folder / "truncated.ckpt", ["truncated"]),
    }


@pytest.mark.parametrize("kind", ["empty", "random", "list", "bad_hparams", "string_classes", "truncated"])
def test_bad_checkpoint_refused_by_export_test_and_resume(tiny, cli, kind):
    tmp, data = tiny
    path, words = _bad_checkpoints(tmp / "ckpts")[kind]
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run")
    before = snapshot(tmp)
    out = cli("export", path, tmp / "model", names=[path.name, *words])
    assert "Python object" not in out.text  # only a pickle that carries an object is called unsafe
    assert not (tmp / "model").exists()
    cli("test", cfg, "--checkpoint", path, names=[path.name])
    cli("train", cfg, "--resume", path, names=[path.name])
    assert snapshot(tmp) == before  # no run folder, no model folder, the bad file untouched
    assert not (tmp / "run").exists()


def test_a_folder_given_as_checkpoint(tmp_path, cli):
    cli("export", tmp_path, tmp_path / "model", names=[tmp_path.name, "folder"])
    assert not (tmp_path / "model").exists()


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    """A write that runs out of room (here a file-size limit: EFBIG, as a full disk gives ENOSPC) is a
    CheckpointError; the old checkpoint stays byte for byte and no temporary file is left."""
    from deformer3d.engine.checkpoint import CheckpointError, atomic_torch_save

    target = tmp_path / "last.ckpt"
    atomic_torch_save({"w": torch.zeros(10)}, target)
    before = target.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))  # the soft limit only: restored below
    try:
        with pytest.raises(CheckpointError) as info:
            atomic_torch_save({"w": torch.zeros(1_000_000)}, target)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    message = str(info.value)
    assert "cannot write the checkpoint" in message and "previous checkpoint is kept" in message
    assert "last.ckpt" in message and "\n" not in message
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_interrupted_write_cleaned_on_the_next_run(tiny):
    """A killed write leaves ``.last.ckpt.XXXX.tmp``; the next ``train`` of that run folder removes it."""
    tmp, data = tiny
    run = tmp / "run"
    cfg = write_config(tmp / "exp.yaml", data, run, epochs=1)
    leftover = run / "checkpoints" / ".last.ckpt.k1ll3d.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a checkpoint")
    out = run_cli("train", cfg)
    assert out.exit_code == 0, out.output
    assert not leftover.exists() and "interrupted checkpoint write" in out.text
    assert (run / "checkpoints" / "last.ckpt").is_file()
    # resuming that run with another model is refused before training, and the checkpoint stays as it was
    before = snapshot(run)
    refused("train", cfg, "model.dim=64", "--resume", "last", names=["last.ckpt", "cannot resume"])
    assert snapshot(run) == before
