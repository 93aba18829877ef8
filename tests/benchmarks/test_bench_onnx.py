"""The onnx suite, dry run: mini RGB + pose and pose-only models exported and timed in both runtimes; the files carry
every figure the table shows (no timing is asserted, only that each was measured and the two runtimes agree)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def test_onnx_suite_dry_run(tmp_path):
    from benchmarks.runner import SUITES, resolve_suites
    from benchmarks.suites.onnx_latency import DRY_RUN, MODELS, run_onnx_latency

    assert resolve_suites("onnx") == ["onnx"] and "onnx" in SUITES
    assert list(MODELS) == ["tiny", "pose", "paper"] and MODELS["paper"]["rounds"] <= 5
    payload = run_onnx_latency(tmp_path, threads=1, dry_run=True)
    d = tmp_path / "onnx"
    assert json.loads((d / "results.json").read_text())["dry_run"] is True
    assert (d / "onnx.png").stat().st_size > 0
    md = (d / "results.md").read_text()
    assert "DRY RUN" in md and "Machine:" in md and "Load averages" in md
    assert [r["label"] for r in payload["results"]] == list(DRY_RUN)
    for r in payload["results"]:
        assert r["label"] in md
        for runtime in ("torch", "onnx"):
            t = r[runtime]
            assert t["n"] == DRY_RUN[r["label"]]["rounds"] == len(t["times_ms"])
            assert 0 < t["min_ms"] <= t["q1_ms"] <= t["median_ms"] <= t["q3_ms"] <= t["max_ms"]
            assert f"{t['median_ms']:.1f} (" in md
        assert r["max_abs_logit_diff"] < 1e-4 and r["opset"] == 20 and r["onnx_file_mib"] > 0
        assert r["speedup_paired_median"] > 0 and r["load_avg_before"] is not None
    pose = payload["results"][1]
    assert set(pose["input"]) == {"pose"} and pose["input"]["pose"] == [1, 4, 13, 3]
    assert set(payload["results"][0]["input"]) == {"video", "pose"}
    assert payload["machine"]["torch_threads"] == 1 and payload["threads"] == 1

    from benchmarks.suites.summary import update_project_readme, write_summary

    text = write_summary(tmp_path, tmp_path / "README.md").read_text()
    assert "## ONNX Runtime vs PyTorch eager" in text and "onnx/onnx.png" in text and "tiny-mini" in text
    project = tmp_path / "PROJECT.md"
    project.write_text("<!-- bench:start -->\n<!-- bench:end -->\n")
    assert update_project_readme(tmp_path, project) and "tiny-mini" not in project.read_text()  # the Deploy section
