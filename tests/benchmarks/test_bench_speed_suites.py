"""The skeleton_speed and gpu suites, run small: they write JSON + markdown with the expected content (no timing
is asserted; the GPU script's CPU dry run is the same code path with tiny models, fp32 and the eager backend)."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.suites.gpu import run_gpu
from benchmarks.suites.skeleton_speed import AFTER, BEFORE, VARIANTS, make_batch, run_skeleton_speed
from deformer3d.models import build_model
from deformer3d.models.flops import count_flops


def test_skeleton_speed_suite_small(tmp_path):
    payload = run_skeleton_speed(tmp_path, batches=(2,), rounds=1, steps=1, warmup=0, threads=1, matmul_size=64,
                                 model_overrides={"depth": 1})  # fmt: skip
    d = tmp_path / "skeleton_speed"
    assert json.loads((d / "results.json").read_text())["results"][0]["batch"] == 2
    md = (d / "results.md").read_text()
    assert all(name in md for name, _, _ in VARIANTS) and "matmul peak" in md.lower() and "Machine:" in md
    (r,) = payload["results"]
    assert list(r["variants"]) == [name for name, _, _ in VARIANTS]
    assert r["speedup_wall"] == r["variants"][AFTER]["speedup_wall"] > 0 and r["matmul_peak_gflops"] > 0
    assert r["variants"][BEFORE]["speedup_wall"] == 1.0
    # each variant's counted FLOPs: a forward and its backward (about twice the forward) of its own model
    for name, v in r["variants"].items():
        model = build_model(v["model"], 15)
        forward = count_flops(model, pose=make_batch(model, 2)["pose"])
        assert 2.5 * forward < v["step_flops"] < 3.5 * forward, name
        assert v["model"]["num_joints"] == 13 and v["model"]["modality"] == "pose" and v["model"]["depth"] == 1
    # the earlier recipes are what they were (width 96 / 128, stride windows), whatever the config says now
    assert r["variants"]["v5 recipe, original code"]["model"]["dim"] == 96
    assert r["variants"][BEFORE]["model"]["dim"] == 128 and r["variants"][BEFORE]["model"]["joint_window"] == 7
    assert r["variants"][AFTER]["model"]["dim"] == payload["model"]["dim"]


def test_gpu_suite_dry_run_on_cpu(tmp_path):
    payload = run_gpu(tmp_path, dry_run=True)
    md = (tmp_path / "gpu" / "results.md").read_text()
    assert "DRY RUN" in md and "deformer3d-mini" in md and "timesformer-mini" in md
    assert len(payload["results"]) == 2
    for row in payload["results"]:
        assert [v["variant"] for v in row["variants"]] == ["eager", "compile"]
        for v in row["variants"]:
            assert "error" not in v, v.get("error")
            assert v["train"]["clips_per_s"] > 0 and v["train"]["n"] == 2
            assert v["inference"]["median_ms"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the suite measures instead")
def test_gpu_suite_without_cuda_says_not_measured(tmp_path):
    payload = run_gpu(tmp_path)
    assert "results" not in payload and "no CUDA GPU" in payload["note"]
    assert "Not measured" in (tmp_path / "gpu" / "results.md").read_text()
