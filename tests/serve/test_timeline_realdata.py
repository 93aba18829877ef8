"""Acceptance on real footage with the bundled Penn Action model: a squat, push-up and sit-up video played one
after the other becomes three segments in that order, each boundary within 2 s of the true cut."""

from __future__ import annotations

import pytest

from bundled import bundled_model
from deformer3d.serve.predictor import Predictor
from deformer3d.serve.timeline import run_timeline
from realvideos import concatenate

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
ACTIONS = ["squat", "pushup", "situp"]
TOLERANCE_S = 2.0


def test_concatenated_workout_gives_segments_in_order_with_boundaries_within_2s(realdata, tmp_path):
    pytest.importorskip("mediapipe")
    model = bundled_model()
    video = tmp_path / "workout.mp4"
    starts = concatenate([realdata / "wild" / f"{a}.mp4" for a in ACTIONS], video)
    tl = run_timeline(Predictor(model), video, progress=False)
    got = [(s.label, round(s.start, 1), round(s.end, 1)) for s in tl.segments]
    assert [s.label for s in tl.segments] == ACTIONS, got
    for seg, start in zip(tl.segments[1:], starts[1:], strict=True):
        assert abs(seg.start - start) <= TOLERANCE_S, (got, starts)
