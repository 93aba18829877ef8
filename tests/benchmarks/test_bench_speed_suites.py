"""The skeleton_speed and gpu suites, run small: they write JSON + markdown with the expected content (no timing
is asserted; the GPU script's CPU dry run is the same code path with tiny models, fp32 and the eager backend)."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.suites.gpu import run_gpu
from benchmarks.suites.skeleton_speed import make_batch, run_skeleton_speed
from deformer3d.models import build_model
from deformer3d.models.flops import count_flops


def test_skeleton_speed_suite_small(tmp_path):
    payload = run_skeleton_speed(tmp_path, batches=(2,), rounds=1, steps=1, warmup=0, threads=1, matmul_size=64,
                                 model_overrides={"depth": 1})  # fmt: skip
    d = tmp_path / "skeleton_speed"
    assert json.loads((d / "results.json").read_text())["results"][0]["batch"] == 2
    md = (d / "results.md").read_text()
    assert "before" in md and "after" in md and "matmul peak" in md.lower() and "Machine:" in md
    (r,) = payload["results"]
    assert set(r["variants"]) == {"before", "after"} and r["speedup_wall"] > 0 and r["matmul_peak_gflops"] > 0
    # the step's counted FLOPs: a forward and its backward (about twice the forward) of the Penn recipe's model
    model = build_model(payload["model"], 15)
    forward = count_flops(model, pose=make_batch(model, 2)["pose"])
    assert 2.5 * forward < r["step_flops"] < 3.5 * forward
    assert payload["model"]["num_joints"] == 13 and payload["model"]["modality"] == "pose"


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
