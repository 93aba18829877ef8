"""Per-window probabilities -> segments: tiling, smoothing, merging of short runs."""

from __future__ import annotations

import numpy as np

from deformer3d.serve.segments import (
    NO_PERSON,
    most_probable_path,
    moving_average,
    to_segments,
    window_slices,
)

LABELS = ["squat", "pushup", "situp"]


def _windows(n: int, window: float = 2.0, stride: float = 1.0):
    starts = np.arange(n) * stride
    return starts, starts + window


def _onehot(classes: list[int], k: int = 3, p: float = 0.8) -> np.ndarray:
    out = np.full((len(classes), k), (1 - p) / (k - 1))
    out[np.arange(len(classes)), classes] = p
    return out


def test_window_slices_tile_the_video_without_gaps():
    starts, ends = _windows(6)
    lo, hi = window_slices(starts, ends)
    assert lo[0] == 0.0 and hi[-1] == ends[-1]
    np.testing.assert_allclose(lo[1:], hi[:-1])
    assert (hi > lo).all()


def test_segments_follow_the_class_changes_with_boundaries_between_window_centres():
    classes = [0] * 10 + [1] * 8 + [2] * 12
    starts, ends = _windows(len(classes))
    segs = to_segments(starts, ends, _onehot(classes), LABELS, min_duration=2.0, smooth=1)
    assert [s.label for s in segs] == LABELS
    # the change from window 9 (centre 10.0) to window 10 (centre 11.0) lies at 10.5
    assert segs[0].end == segs[1].start == 10.5
    assert segs[1].end == segs[2].start == 18.5
    assert segs[0].start == 0.0 and segs[-1].end == ends[-1]
    assert all(abs(s.confidence - 0.8) < 1e-9 for s in segs)


def test_a_single_odd_window_does_not_split_an_action():
    classes = [0] * 8 + [1] + [0] * 8
    starts, ends = _windows(len(classes))
    probs = _onehot(classes)
    assert len(to_segments(starts, ends, probs, LABELS, min_duration=0.0, smooth=1)) == 3  # unsmoothed: split
    segs = to_segments(starts, ends, probs, LABELS, min_duration=2.0, smooth=3)
    assert [s.label for s in segs] == ["squat"]
    assert segs[0].start == 0.0 and segs[0].end == ends[-1]


def test_short_runs_merge_into_the_longer_neighbour():
    classes = [0] * 6 + [2] + [1] * 10
    starts, ends = _windows(len(classes))
    segs = to_segments(starts, ends, _onehot(classes), LABELS, min_duration=3.0, smooth=1)
    assert [s.label for s in segs] == ["squat", "pushup"]
    assert segs[0].end == segs[1].start


def test_moving_average_keeps_constant_rows_and_row_sums():
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=9)
    avg = moving_average(probs, 3)
    np.testing.assert_allclose(avg.sum(1), 1.0)
    np.testing.assert_allclose(avg[4], probs[3:6].mean(0))
    np.testing.assert_allclose(avg[0], probs[:2].mean(0))
    np.testing.assert_allclose(moving_average(np.ones((4, 3)) / 3, 5), np.ones((4, 3)) / 3)


def test_windows_without_a_person_become_their_own_segment_or_merge_when_short():
    # squat, 6 windows with nobody (a title card: their class output is noise, here "situp"), then push-ups
    classes = [0] * 10 + [2] * 6 + [1] * 10
    seen = np.array([True] * 10 + [False] * 6 + [True] * 10)
    starts, ends = _windows(len(classes))
    segs = to_segments(starts, ends, _onehot(classes), LABELS, min_duration=2.0, smooth=1, seen=seen)
    assert [s.label for s in segs] == ["squat", NO_PERSON, "pushup"]
    assert segs[1].start == 10.5 and segs[1].end == 16.5 and segs[1].confidence == 1.0
    # one window with nobody is too short to be a stretch of its own: the action goes on through it
    seen = np.array([True] * 10 + [False] + [True] * 15)
    segs = to_segments(starts, ends, _onehot([0] * 11 + [1] * 15), LABELS, min_duration=2.0, smooth=1, seen=seen)
    assert [s.label for s in segs] == ["squat", "pushup"]
    # everybody seen: the same segments as without the argument
    every = np.ones(len(classes), bool)
    assert to_segments(starts, ends, _onehot(classes), LABELS, 2.0, 1, seen=every) == to_segments(
        starts, ends, _onehot(classes), LABELS, 2.0, 1)


def test_switch_penalty_keeps_an_action_through_windows_that_flip_between_look_alikes():
    # squat, then four windows whose top class flips between two others (each only just above squat), then squat
    probs = _onehot([0] * 8 + [0] * 4 + [0] * 8)
    probs[8:12] = [[0.3, 0.4, 0.3], [0.3, 0.3, 0.4], [0.3, 0.4, 0.3], [0.3, 0.3, 0.4]]
    starts, ends = _windows(len(probs))
    flips = to_segments(starts, ends, probs, LABELS, min_duration=0.0, smooth=1)
    assert len(flips) == 6  # each window's own top class
    segs = to_segments(starts, ends, probs, LABELS, min_duration=0.0, smooth=1, switch_penalty=2.0)
    assert [s.label for s in segs] == ["squat"]


def test_switch_penalty_finds_a_real_change_where_the_evidence_turns():
    classes = [0] * 10 + [1] * 8 + [2] * 12
    starts, ends = _windows(len(classes))
    plain = to_segments(starts, ends, _onehot(classes), LABELS, min_duration=0.0, smooth=1)
    for penalty in (1.0, 6.0):
        assert to_segments(starts, ends, _onehot(classes), LABELS, min_duration=0.0, smooth=1,
                           switch_penalty=penalty) == plain
    # but a change backed by less evidence than the penalty (two windows at 4:1) is not made
    assert [s.label for s in to_segments(starts, ends, _onehot([0] * 10 + [1] * 2 + [0] * 10), LABELS,
                                         smooth=1, switch_penalty=6.0)] == ["squat"]


def test_most_probable_path_is_the_argmax_without_penalty_and_constant_with_a_huge_one():
    probs = np.random.default_rng(1).dirichlet(np.ones(4), size=30)
    np.testing.assert_array_equal(most_probable_path(probs, 0.0), probs.argmax(1))
    path = most_probable_path(probs, 1e6)
    assert (path == path[0]).all() and path[0] == np.log(probs).sum(0).argmax()
