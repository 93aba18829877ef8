"""Behaviour of the benchmark helpers: power-law fits, timing summaries, peak memory, suite names, writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.common import (
    exponent_check,
    fit_power_law,
    load_note,
    machine_info,
    markdown_table,
    peak_rss,
    summarize,
    time_fn,
    write_results,
)
from benchmarks.runner import resolve_suites
from deformer3d.errors import UserError


@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5, 3.0])
def test_fit_power_law_recovers_exponent(exponent):
    x = np.array([8, 16, 24, 32, 48, 64], dtype=float)
    y = 3.7 * x**exponent
    fit = fit_power_law(x, y)
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.r2 == pytest.approx(1.0)
    assert np.allclose(fit.predict(x), y)


def test_fit_power_law_with_noise_and_offset():
    rng = np.random.default_rng(0)
    x = np.array([8, 16, 32, 64], dtype=float)
    # a linear cost with a constant overhead: the fitted exponent is below 1 but close at these sizes
    y = (5.0 * x + 2.0) * rng.uniform(0.97, 1.03, size=x.shape)
    fit = fit_power_law(x, y)
    assert 0.85 < fit.exponent < 1.05
    assert exponent_check(fit.exponent, 1.0, 0.25)
    assert not exponent_check(fit.exponent, 2.0, 0.25)


def test_fit_power_law_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1, 0, 3])
    with pytest.raises(ValueError, match="distinct"):
        fit_power_law([2, 2], [1, 3])
    with pytest.raises(ValueError, match="equal length"):
        fit_power_law([1, 2, 3], [1, 2])


def test_summarize_median_and_iqr():
    t = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert t.median_ms == 3.0
    assert t.q1_ms == 2.0 and t.q3_ms == 4.0
    assert t.iqr_ms == 2.0 and t.min_ms == 1.0 and t.n == 5
    with pytest.raises(ValueError):
        summarize([])


def test_time_fn_counts_calls_within_bounds():
    calls = []
    t = time_fn(lambda: calls.append(1), warmup=2, budget_s=0.0, min_repeats=4, max_repeats=10)
    assert t.n == 4 and len(calls) == 6  # 2 warm-up + 4 timed
    t = time_fn(lambda: calls.append(1), warmup=1, repeats=7)
    assert t.n == 7
    calls.clear()
    t = time_fn(lambda: calls.append(1), warmup=0, budget_s=0.0, min_repeats=3)
    assert t.n == 3 and len(calls) == 3  # without warm-up the first timed run sizes the rest and counts


def test_load_note_says_when_timings_are_upper_bounds():
    assert "upper bounds" in load_note({"load_avg_1m_at_start": 5.0, "cpu_cores": 2})
    assert "idle" in load_note({"load_avg_1m_at_start": 0.5, "cpu_cores": 2})
    assert "unknown" in load_note({})


def test_peak_rss_sees_a_large_allocation():
    import torch

    with peak_rss() as small:
        pass
    for _ in range(2):  # the second time too: freed memory must not hide a repeated allocation
        with peak_rss() as big:
            x = torch.ones(64 * 2**20 // 4)  # 64 MiB of float32, touched
            del x
        assert big.method
        assert big.peak_mib >= 48, big
        assert big.peak_mib > small.peak_mib


def test_resolve_suites():
    assert resolve_suites("cost") == ["cost"]
    assert resolve_suites("cost,scaling,cost") == ["cost", "scaling"]
    assert resolve_suites("studies") == ["ablation", "attention", "tokens", "windows", "frames"]
    with pytest.raises(UserError, match="unknown suite"):
        resolve_suites("nope")


def test_writers(tmp_path):
    md = markdown_table(["a", "b"], [[1.23456, "x"], [12345.6, None]])
    assert md.splitlines()[0] == "| a | b |"
    assert "1.23" in md and "12,346" in md and "—" in md
    info = machine_info()
    assert info["cpu_cores"] >= 1 and info["torch"]
    jpath, mpath = write_results(tmp_path / "s", {"x": float("nan"), "m": info}, md)
    data = json.loads(jpath.read_text())
    assert data["x"] is None and data["m"]["torch"] == info["torch"]
    assert mpath.read_text().startswith("| a | b |")


def test_random_clip_is_what_the_model_reads_and_seeded():
    from types import SimpleNamespace

    from benchmarks.common import random_clip

    both = SimpleNamespace(uses_video=True, uses_pose=True)
    clip = random_clip(both, 2, 4, 8, 13)
    assert {k: list(v.shape) for k, v in clip.items()} == {"video": [2, 3, 4, 8, 8], "pose": [2, 4, 13, 3]}
    assert (clip["pose"][..., 2] == 1).all() and 0 <= clip["pose"][..., :2].min() < clip["pose"][..., :2].max() < 1
    again = random_clip(both, 2, 4, 8, 13)
    assert all((clip[k] == again[k]).all() for k in clip)
    assert list(random_clip(SimpleNamespace(uses_video=False, uses_pose=True), 1, 4, 8, 13)) == ["pose"]
    assert list(random_clip(object(), 1, 4, 8, 13)) == ["video"]  # a model that states nothing reads video


def test_results_hold_nested_configs(tmp_path):
    """A suite's payload may carry the data config it measured (with nested dataclasses such as
    data.pose_augment): results.json holds them as plain objects instead of the suite dying after its run."""
    from deformer3d.config import DataConfig

    cfg = DataConfig()
    jpath, _ = write_results(tmp_path / "s", {"data": cfg}, "x")
    data = json.loads(jpath.read_text())
    assert data["data"]["pose_augment"]["rotate"] == cfg.pose_augment.rotate
