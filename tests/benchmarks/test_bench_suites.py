"""Small real runs of the cost and scaling suites: they write JSON + markdown + PNG with the expected content.

No timing is asserted (timings belong in benchmarks/); the FLOP-based growth exponents are deterministic.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.suites.cost import CostSpec, run_cost
from benchmarks.suites.scaling import run_scaling


def test_scaling_suite_small(tmp_path):
    payload = run_scaling(tmp_path, frames=[8, 16, 32], persons=[1, 2, 4], budget_s=0.0, grid=7, min_repeats=1)
    d = tmp_path / "scaling"
    assert (d / "results.json").is_file() and (d / "scaling.png").stat().st_size > 10_000
    md = (d / "results.md").read_text()
    assert "attention-FLOPs exponent" in md and "Machine:" in md
    by_name = {r["name"]: r for r in payload["results"]}
    # full attention grows quadratically, stride attention about linearly, in FLOPs (exact counts)
    assert by_name["full temporal"]["fit"]["attention_flops"]["exponent"] == pytest.approx(2.0, abs=0.05)
    assert by_name["full joint"]["fit"]["attention_flops"]["exponent"] > 1.75
    assert by_name["joint stride (w=8)"]["fit"]["attention_flops"]["exponent"] == pytest.approx(1.0, abs=0.1)
    assert by_name["temporal stride (w=4)"]["fit"]["attention_flops"]["exponent"] < 1.3
    # the deformable module attends to fewer keys than full attention at every T
    for row in payload["spacetime_ratio"]:
        assert row["flops_ratio"] > 1
    assert json.loads((d / "results.json").read_text())["tolerance"] == payload["tolerance"]

    from benchmarks.suites.summary import write_summary

    readme = write_summary(tmp_path, tmp_path / "README.md")
    text = readme.read_text()
    assert "attention-FLOPs exponent" in text and "scaling/scaling.png" in text
    assert "Not run yet: `python -m benchmarks --suite cost`" in text


def test_cost_suite_tiny(tmp_path):
    specs = [
        CostSpec("deformer3d-mini", {"name": "deformer3d", "preset": "tiny", "depth": 1}, 4, 32, 17, budget_s=0.0),
        CostSpec("timesformer-mini", {"name": "timesformer", "preset": "tiny", "num_hidden_layers": 1}, 4, 32, 0,
                 budget_s=0.0),
        CostSpec("broken", {"name": "no-such-model"}, 4, 32, 0, budget_s=0.0),
    ]
    payload = run_cost(tmp_path, specs, reference="timesformer-mini")
    d = tmp_path / "cost"
    rows = {r["label"]: r for r in payload["results"]}
    assert "error" in rows["broken"]  # one failing model does not lose the others
    ok = rows["deformer3d-mini"]
    assert ok["params"] > 0 and ok["flops"] > 0
    assert ok["input"] == {"video": [1, 3, 4, 32, 32], "pose": [1, 4, 17, 3]}
    assert ok["cpu"]["n"] >= 3 and ok["cpu"]["median_ms"] > 0 and ok["cpu"]["peak_mib"] >= 0
    assert rows["timesformer-mini"]["input"] == {"video": [1, 3, 4, 32, 32]}
    md = (d / "results.md").read_text()
    assert "deformer3d-mini" in md and "failed" in md and "FLOPs / timesformer-mini" in md
    assert (d / "cost.png").is_file()


def test_data_loader_rate_and_verdict(tmp_path):
    from benchmarks.suites.data import loader_rate, verdict
    from deformer3d.config import DataConfig
    from deformer3d.data import build_dataset
    from deformer3d.data.synthetic import write_synthactions

    write_synthactions(tmp_path, num_clips=42, seed=1, size=32, frame_range=(6, 9), workers=1, progress=False)
    cfg = DataConfig(format="synth", root=str(tmp_path), num_frames=4, image_size=32, resize_short=36)
    ds = build_dataset(cfg, "train", need_video=True, need_pose=True)
    rate = loader_rate(ds, 3, budget_s=0.0)
    assert rate["clips_per_s"] > 0 and rate["passes"] >= 2
    assert rate["q1_ms_per_clip"] <= rate["ms_per_clip"] <= rate["q3_ms_per_clip"]

    def payload(train_rate):
        return {"model": {"train_clips_per_s": train_rate},
                "loader": [{"source": "SynthActions train: video + pose", "clips_per_s": 10.0}]}

    assert "not the bottleneck" in verdict(payload(15.0), workers=2)
    assert "IS the bottleneck" in verdict(payload(35.0), workers=2)
