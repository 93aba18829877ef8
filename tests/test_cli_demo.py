"""`deformer3d demo` end to end (slow): SynthActions -> train -> evaluate -> export -> printed instructions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_reaches_target_accuracy(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "deformer3d.cli", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "run" / "eval" / "results.json").read_text())
    assert results["top1"] >= 90.0, results["top1"]
    for name in ("config.json", "model.safetensors", "labels.json"):
        assert (out / "model" / name).is_file()
    assert "deformer3d predict" in proc.stdout and "deformer3d serve" in proc.stdout
