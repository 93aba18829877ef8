"""The studies' plumbing: variant overrides are valid configs, run keys, and the plain-language verdicts."""

from __future__ import annotations

import pytest

from benchmarks.paths import study_config
from benchmarks.studies.catalogue import FULL, studies
from benchmarks.studies.report import makespan
from benchmarks.studies.runs import run_key
from benchmarks.studies.verdicts import ablation_verdict, tokens_verdict
from deformer3d.config import load_config
from deformer3d.models import build_model


def test_every_study_variant_builds():
    for study in studies().values():
        labels = [v.label for v in study.variants]
        assert study.reference in labels
        for v in study.variants:
            cfg = load_config(study_config(), [*v.overrides, *study.extra_overrides])
            model = build_model(dict(cfg.model), 14)
            assert cfg.model.get("num_frames", 8) == cfg.data.num_frames
            assert model.uses_video and model.uses_pose


def test_window_stride_changes_the_windows():
    from deformer3d.models.attention import window_starts

    cfg = load_config(study_config(), ["model.temporal_window=4", "model.temporal_stride=1"])
    model = build_model(dict(cfg.model), 14)
    assert model.blocks[0].temporal.inner.stride == 1
    assert window_starts(8, 4, 1) == [0, 1, 2, 3, 4]
    assert window_starts(8, 4, 4) == [0, 4]


def test_run_key_is_stable_and_distinct():
    assert run_key(["model.deformable=none"], 0) == run_key(["model.deformable=none"], 0)
    assert run_key([], 0) != run_key([], 1)
    assert run_key(["a=1", "b=2"], 0) == run_key(["b=2", "a=1"], 0)


def _row(label, values):
    import statistics

    return {"label": label, "top1_median": statistics.median(values),
            "top1_spread": (max(values) - min(values)) / 2, "top1": values}


def test_ablation_verdict_says_when_the_ordering_holds_and_when_not():
    rows = [_row(FULL, [60, 62]), _row("w/o 3D deformable attention", [40, 42]),
            _row("w/o joint stride attention", [50]), _row("w/o temporal stride attention", [55])]
    text = " ".join(ablation_verdict(rows))
    assert "Full model best: **holds**" in text and "largest drop among the removals: **holds**" in text
    rows[2] = _row("w/o joint stride attention", [30])
    rows[3] = _row("w/o temporal stride attention", [65])
    text = " ".join(ablation_verdict(rows))
    assert "Full model best: **does not hold**" in text and "largest drop among the removals: **does not hold**" in text


@pytest.mark.parametrize(("values", "holds"), [((50, 40, 30), True), ((40, 50, 30), False)])
def test_tokens_verdict(values, holds):
    rows = [_row("cross", [values[0]]), _row("single", [values[1]]), _row("none", [values[2]])]
    text = tokens_verdict(rows)[0]
    assert ("**holds**" in text) is holds


def test_a_gap_within_the_seed_spread_is_called_nominal():
    rows = [_row(FULL, [80, 86]), _row("w/o 3D deformable attention", [70, 90]),
            _row("w/o joint stride attention", [81]), _row("w/o temporal stride attention", [82])]
    text = " ".join(ablation_verdict(rows))
    assert "Full model best: **holds only nominally**" in text
    assert "largest drop among the removals: **holds only nominally**" in text
    text = tokens_verdict([_row("cross", [60, 70]), _row("single", [64]), _row("none", [50])])[0]
    assert "**holds only nominally**" in text
    text = tokens_verdict([_row("cross", [80, 84]), _row("single", [60, 62]), _row("none", [70])])
    assert "**does not hold**" in text[0] and "Cross-modal tokens best of the three: **holds**" in text[1]


def test_makespan_follows_the_pool():
    assert makespan([144, 206, 197], 2) == 144 + 197  # the third run waits for the first worker to free up
    assert makespan([10, 10, 10, 10], 2) == 20 and makespan([5, 7], 1) == 12
