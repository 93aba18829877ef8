"""DDP: a 2-process CPU (gloo) training run through the CLI, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from engine_fixtures import write_config, write_motion_pkl

DIST_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "LOCAL_WORLD_SIZE",
             "GROUP_RANK", "TORCHELASTIC_RUN_ID")


def test_two_process_gloo_training(tmp_path):
    data = tmp_path / "data"
    write_motion_pkl(data / "motion.pkl")  # 32 training samples
    epochs, batch, world = 2, 8, 2
    cfg = write_config(tmp_path / "exp.yaml", data, tmp_path / "run", epochs=epochs)
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS and not k.startswith("SLURM_")}
    env["OMP_NUM_THREADS"] = "1"  # two processes on a small machine
    cmd = [sys.executable, "-m", "deformer3d.cli", "train", str(cfg),
           "trainer.accelerator=cpu", f"trainer.devices={world}", "trainer.strategy=ddp"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "world_size: 2" in proc.stderr + proc.stdout or "MEMBER: 2/2" in proc.stderr + proc.stdout

    # every rank takes 32 / 2 = 16 samples per epoch: 2 steps of 8; the global step counts optimiser steps
    expected_steps = epochs * (32 // world // batch)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == expected_steps
    assert last["epoch"] == epochs - 1
    best = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    assert set(best["state_dict"]) == set(last["state_dict"])
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [r["step"] for r in history] == [expected_steps // epochs * (e + 1) for e in range(epochs)]
    results = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert results["num_samples"] == 12  # the test split is evaluated once, on rank 0, over all samples
