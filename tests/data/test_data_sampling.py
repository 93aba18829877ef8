"""Samplers and the short-video padding chain: exact indices."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.data.sampling import (
    FramePlan,
    interpolate,
    make_plans,
    pad_chain,
    reverse_append,
    sample_indices,
    thin_evenly,
)


def test_uniform_test_mode_is_centred_at_fixed_interval():
    inds = sample_indices("uniform", 300, 8, interval=32)
    # span = 7*32+1 = 225, room = 75, centred start = 37
    assert inds.tolist() == [[37 + 32 * k for k in range(8)]]


def test_uniform_interval_shrinks_to_fit():
    inds = sample_indices("uniform", 50, 8, interval=32)
    # largest interval with (8-1)*i+1 <= 50 is 7; span 50 -> start 0
    assert inds.tolist() == [[0, 7, 14, 21, 28, 35, 42, 49]]


def test_uniform_multi_clip_starts_spread_evenly():
    inds = sample_indices("uniform", 100, 4, interval=2, num_clips=3)
    assert inds[:, 0].tolist() == [0, 46, 93]  # room = 100 - 7 = 93
    assert (np.diff(inds, axis=1) == 2).all()


def test_uniform_train_random_start_in_range():
    rng = np.random.default_rng(0)
    for _ in range(50):
        row = sample_indices("uniform", 40, 4, interval=5, train=True, rng=rng)[0]
        assert row[0] >= 0 and row[-1] <= 39 and (np.diff(row) == 5).all()


def test_equidistant_centres():
    assert sample_indices("equidistant", 80, 8).tolist() == [[5, 15, 25, 35, 45, 55, 65, 75]]
    assert sample_indices("equidistant", 10, 4).tolist() == [[1, 3, 6, 8]]


def test_equidistant_train_stays_in_segments():
    rng = np.random.default_rng(1)
    row = sample_indices("equidistant", 80, 8, train=True, rng=rng)[0]
    assert [int(r // 10) for r in row] == list(range(8))


def test_random_has_no_repeats_when_long_enough():
    rng = np.random.default_rng(2)
    for _ in range(100):
        row = sample_indices("random", 12, 8, train=True, rng=rng)[0]
        assert len(set(row.tolist())) == 8 and (np.diff(row) > 0).all()


def test_dense_multi_clip():
    inds = sample_indices("dense", 64, 4, interval=4, num_clips=4)
    assert inds.tolist() == [[0, 4, 8, 12], [17, 21, 25, 29], [34, 38, 42, 46], [51, 55, 59, 63]]


def test_unknown_sampler_and_zero_frames():
    with pytest.raises(ValueError, match="unknown sampler"):
        sample_indices("bogus", 10, 2)
    with pytest.raises(ValueError, match="zero frames"):
        sample_indices("uniform", 0, 2)


def _rows(plan: FramePlan):
    """(sources, weights, gain) per output frame, dropping zero-weight padding."""
    out = []
    for s, w, g in zip(plan.sources, plan.weights, plan.gain, strict=False):
        parts = sorted((int(a), float(b)) for a, b in zip(s, w, strict=False) if b > 0)
        merged: dict[int, float] = {}
        for a, b in parts:
            merged[a] = merged.get(a, 0) + b
        out.append((tuple(sorted(merged.items())), round(float(g), 6)))
    return out


def test_chain_interpolation_first():
    plan = pad_chain(FramePlan.from_indices([0, 1, 2]), 5)
    assert _rows(plan) == [
        (((0, 1.0),), 1.0),
        (((0, 0.5), (1, 0.5)), 1.0),
        (((1, 1.0),), 1.0),
        (((1, 0.5), (2, 0.5)), 1.0),
        (((2, 1.0),), 1.0),
    ]


def test_chain_reversal_second_and_brightness_third():
    base = FramePlan.from_indices([0, 1, 2])
    rev = pad_chain(base, 10)  # interp gives 5 < 10, reversal gives 10
    assert len(rev) == 10
    assert _rows(rev)[5:] == _rows(rev)[:5][::-1]
    bright = pad_chain(base, 12)  # 10 < 12 -> one brightness copy at 0.6
    assert len(bright) == 20
    assert [g for _, g in _rows(bright)[10:]] == [0.6] * 10
    assert [s for s, _ in _rows(bright)[10:]] == [s for s, _ in _rows(bright)[:10]]
    longer = pad_chain(base, 35)  # needs 0.6, 0.8, 1.2 copies: 10 * 4 = 40
    assert len(longer) == 40 and sorted({g for _, g in _rows(longer)}) == [0.6, 0.8, 1.0, 1.2]


def test_chain_single_frame():
    plan = pad_chain(FramePlan.from_indices([0]), 8)
    # interpolation cannot grow one frame; reversal -> 2; brightness copies -> 4, 6, 8
    assert len(plan) == 8
    assert set(plan.sources.reshape(-1).tolist()) == {0}
    assert sorted({round(g, 6) for g in plan.gain}) == [0.6, 0.8, 1.0, 1.2]


def test_plan_apply_blends_and_brightens():
    frames = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (10, 30, 200)])
    plan = pad_chain(FramePlan.from_indices([0, 1, 2]), 12)
    out = plan.apply(frames)
    assert out[1, 0, 0, 0] == 20  # average of 10 and 30
    assert out[10, 0, 0, 0] == 6  # 0.6 * 10
    assert out.dtype == np.uint8
    # brightening saturates instead of wrapping
    hot = FramePlan(np.array([[2]]), np.array([[1.0]]), np.array([1.4]))
    assert hot.apply(frames)[0, 0, 0, 0] == 255


def test_plan_apply_keypoints_average_and_min_score():
    kp = np.array([[[[0.0, 0.0]], [[10.0, 20.0]]]], np.float32)  # (M=1, T=2, V=1, 2)
    sc = np.array([[[1.0], [0.5]]], np.float32)
    plan = interpolate(FramePlan.from_indices([0, 1]))
    k, s = plan.apply_keypoints(kp, sc)
    assert k[0, 1, 0].tolist() == [5.0, 10.0] and s[0, 1, 0] == 0.5


def test_make_plans_after_sampling_thins_padded_sequence():
    (plan,) = make_plans(3, 4, sampler="uniform", augment_before_sampling=False)
    # padded: [0, .5, 1, 1.5, 2] -> 4 evenly = rows 0, 1, 3, 4
    assert _rows(plan) == [
        (((0, 1.0),), 1.0),
        (((0, 0.5), (1, 0.5)), 1.0),
        (((1, 0.5), (2, 0.5)), 1.0),
        (((2, 1.0),), 1.0),
    ]


def test_make_plans_before_sampling_uses_sampler_on_padded():
    (plan,) = make_plans(3, 4, sampler="equidistant", augment_before_sampling=True)
    # padded length 5; equidistant centres of 4 segments over 5 -> floor(0.625), floor(1.875), ... = 0, 1, 3, 4
    assert _rows(plan) == _rows(pad_chain(FramePlan.from_indices([0, 1, 2]), 4).take([0, 1, 3, 4]))


def test_make_plans_no_padding_when_long_or_disabled():
    (plan,) = make_plans(20, 4, sampler="equidistant")
    assert plan.is_plain and plan.sources[:, 0].tolist() == [2, 7, 12, 17]
    (plan,) = make_plans(2, 4, sampler="uniform", pad_short=False)
    assert plan.sources[:, 0].tolist() == [0, 1, 1, 1]


def test_reverse_and_thin():
    assert reverse_append(FramePlan.from_indices([0, 1])).sources[:, 0].tolist() == [0, 1, 1, 0]
    assert thin_evenly(9, 3).tolist() == [0, 4, 8]
