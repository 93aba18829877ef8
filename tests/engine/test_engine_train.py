"""Training end to end on a tiny skeleton dataset: run folder, safe checkpoints, report, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from deformer3d.config import ConfigError, load_config
from deformer3d.engine.datamodule import ActionDataModule, carve_validation
from deformer3d.engine.train import train_from_config
from engine_fixtures import CLASSES, write_config

CLI = [sys.executable, "-m", "deformer3d.cli"]



def test_the_evaluation_after_training_tests_the_checkpoint_eval_checkpoint_names(tiny):
    """eval.checkpoint: last -> the test split is evaluated on last.ckpt (as `deformer3d test` would), so an export
    of last.ckpt carries that report in its card."""
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run", epochs=1)
    out = train_from_config(cfg, ["eval.checkpoint=last", "eval.frame_sweep=[]"])
    assert Path(out["results"]["checkpoint"]).name == "last.ckpt"


def test_train_writes_run_folder_and_report(tiny):
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run", epochs=2)
    out = train_from_config(cfg, ["trainer.max_epochs=2"])
    run = tmp / "run"
    assert load_config(run / "config.yaml").trainer.max_epochs == 2  # resolved config saved
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = torch.load(run / "checkpoints" / name, weights_only=True)  # plain tensors and values only
        assert ckpt["hyper_parameters"]["class_names"] == CLASSES
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1]
    assert all(r["time/epoch_s"] > 0 for r in history)  # each epoch's wall time, for the recipes' epoch times
    res = json.loads((run / "eval" / "results.json").read_text())
    assert res["num_samples"] == 12 and res["num_classes"] == 4
    assert 0 <= res["top1"] <= 100 and res["top5"] >= res["top1"]
    assert [r["num_frames"] for r in res["frame_sweep"]] == [4, 8]
    header = (run / "eval" / "confusion_matrix.csv").read_text().splitlines()[0]
    assert header.split(",")[1:] == CLASSES
    report = (run / "eval" / "report.md").read_text()
    for png in ("confusion_matrix.png", "training_curves.png", "frame_sweep.png"):
        assert png in report and (run / "eval" / png).stat().st_size > 1000
    assert out["results"]["top1"] == res["top1"]

    # export: safetensors folder that rebuilds the same model (no pickle) and predicts the same logits
    from deformer3d.engine.checkpoint import load_module
    from deformer3d.engine.export import export_checkpoint, load_exported

    model_dir = export_checkpoint(run / "checkpoints" / "best.ckpt", tmp / "model")
    assert sorted(p.name for p in model_dir.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    model, info = load_exported(model_dir)
    assert info["labels"] == CLASSES and info["num_classes"] == 4 and info["data"]["num_frames"] == 8
    card = (model_dir / "README.md").read_text()  # the card carries the evaluation report of this checkpoint
    assert f"| top-1 | {res['top1']:.1f}% |" in card and "## Intended use and limits" in card
    module, _ = load_module(run / "checkpoints" / "best.ckpt")
    pose = torch.rand(2, 8, 17, 3)
    with torch.no_grad():
        assert torch.equal(model(pose=pose).logits, module.model(pose=pose).logits)


def test_val_carved_from_train_is_stratified_and_disjoint(tiny):
    tmp, data = tiny
    cfg = load_config(write_config(tmp / "exp.yaml", data, tmp / "run"), ["data.val_fraction=0.25"])
    dm = ActionDataModule(cfg.data, need_video=False, need_pose=True)
    train, val = dm.dataset("train"), dm.dataset("val")
    assert len(train) == 24 and len(val) == 8  # 32 training samples, 2 of each class held out
    assert set(train.indices).isdisjoint(val.indices)
    assert sorted(int(val[i]["label"]) for i in range(len(val))) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert train.class_names == CLASSES
    tr, va = carve_validation([0] * 10 + [1] * 5 + [2], 0.2, seed=3)
    assert (len(tr), len(va)) == (13, 3) and tr == sorted(set(range(16)) - set(va))


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_killed_run_resumes_to_the_same_result(tiny):
    """Kill a training process after an epoch (SIGKILL), resume with --resume last: same weights and metrics
    as a run that was never interrupted."""
    tmp, data = tiny
    epochs = 4
    # the reference: one uninterrupted run
    ref_cfg = write_config(tmp / "ref.yaml", data, tmp / "ref", epochs=epochs, workers=1)
    train_from_config(ref_cfg, [], evaluate=False)

    cfg = write_config(tmp / "exp.yaml", data, tmp / "run", epochs=epochs, workers=1)
    last = tmp / "run" / "checkpoints" / "last.ckpt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp / "killed_run.log"
    # its own process group, killed whole (trainer + data workers), like a crash; stderr to a file, because a
    # pipe would stay open in any worker that outlives the trainer and block reading it
    with log.open("wb") as stderr:
        proc = subprocess.Popen([*CLI, "train", str(cfg)], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                                start_new_session=True)
    killed_at = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if last.exists():
                try:
                    killed_at = torch.load(last, weights_only=True)["epoch"]
                except Exception:  # being replaced right now: look again
                    killed_at = None
                if killed_at is not None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    err = log.read_text(errors="replace")
    assert killed_at is not None, f"the run ended before it could be killed: {err[-2000:]}"
    assert killed_at < epochs - 1, "killed too late to test resuming"

    train_from_config(cfg, [], resume="last", evaluate=False)
    ref, got = _state(tmp / "ref" / "checkpoints" / "last.ckpt"), _state(last)
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(got[k], ref[k]), k  # bit-exact
    h_ref = json.loads((tmp / "ref" / "history.json").read_text())
    h_got = json.loads((tmp / "run" / "history.json").read_text())
    assert [r["epoch"] for r in h_got] == list(range(epochs))
    for a, b in zip(h_ref, h_got, strict=True):
        assert a["step"] == b["step"]
        assert a["val/top1"] == b["val/top1"] and a["val/loss"] == b["val/loss"]
        assert a["train/loss"] == b["train/loss"]


def test_average_from_epoch_checkpoints_the_mean_without_changing_training(tiny):
    """trainer.average_from_epoch=1 over 3 epochs: the running weights are those of a plain run (bit-exact), the
    checkpoint's weights are the mean of 2 epoch ends (not the last weights), and an average that would hold no
    epoch is refused with the key's name."""
    tmp, data = tiny
    ref_cfg = write_config(tmp / "ref.yaml", data, tmp / "ref", epochs=3)
    train_from_config(ref_cfg, [], evaluate=False)
    cfg = write_config(tmp / "avg.yaml", data, tmp / "avg", epochs=3)
    train_from_config(cfg, ["trainer.average_from_epoch=1"], evaluate=False)
    ref = _state(tmp / "ref" / "checkpoints" / "last.ckpt")
    ckpt = torch.load(tmp / "avg" / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(ckpt["averaging_state"]["n_averaged"]) == 2
    assert ckpt["state_dict"].keys() == ref.keys()
    for k in ref:
        assert torch.equal(ckpt["current_model_state"][k], ref[k]), k
    assert any(not torch.equal(ckpt["state_dict"][k], ref[k]) for k in ref if ref[k].is_floating_point())
    refusal = r"override 'trainer.average_from_epoch=3'\): trainer.average_from_epoch=3 averages nothing"
    with pytest.raises(ConfigError, match=refusal):
        train_from_config(cfg, ["trainer.average_from_epoch=3"], evaluate=False)
