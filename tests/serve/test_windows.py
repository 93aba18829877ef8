"""Long videos through a short-clip model: the windows the predictor looks through."""

from __future__ import annotations

import numpy as np

from deformer3d.serve.windows import MAX_WINDOWS, clip_windows, person_seen, presence, window_frames


def test_short_video_is_one_window():
    assert clip_windows(80, 30.0, 2.0) == [(0, 80)]  # 2.7 s <= 1.5 x 2 s
    assert clip_windows(500, 30.0, 0.0) == [(0, 500)]  # a model without a clip length: the whole video


def test_long_video_windows_cover_it_evenly():
    wins = clip_windows(681, 30.0, 2.0)
    assert len(wins) == MAX_WINDOWS
    assert all(n == 60 for _, n in wins)
    assert wins[0][0] == 0 and wins[-1][0] + wins[-1][1] == 681  # first and last frames are looked at
    gaps = np.diff([s for s, _ in wins])
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_a_little_longer_video_gets_overlapping_windows():
    wins = clip_windows(100, 30.0, 2.0)
    assert 2 <= len(wins) < MAX_WINDOWS
    starts = [s for s, _ in wins]
    assert all(b - a < 60 for a, b in zip(starts, starts[1:], strict=False))  # overlapping: nothing skipped


def test_window_frames_are_the_test_samplers_inside_each_window():
    frames = window_frames([(0, 60), (100, 60)], 16)
    assert [len(f) for f in frames] == [16, 16]
    assert frames[0].min() >= 0 and frames[0].max() < 60
    assert frames[1].min() >= 100 and frames[1].max() < 160
    np.testing.assert_array_equal(frames[1] - 100, frames[0])  # the same positions in every window


def test_a_window_counts_for_a_pose_model_when_a_person_is_in_half_its_frames():
    scores = np.zeros((1, 16, 13), np.float32)
    scores[0, :8, 3] = 0.9  # one joint in 8 of 16 frames
    assert person_seen(scores, uses_video=False)
    scores[0, 7] = 0.0
    assert not person_seen(scores, uses_video=False)
    assert person_seen(scores, uses_video=True) and person_seen(None, uses_video=False)  # an RGB model sees frames
    # the predictor's form, frames first (T, persons x joints): the same share
    assert presence(scores[0]) == 7 / 16 and presence(np.zeros((0, 13))) == 0.0
