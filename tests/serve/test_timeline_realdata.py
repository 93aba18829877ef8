"""Acceptance on real footage with the bundled Penn Action model: a squat, push-up and sit-up video played one
after the other becomes three action segments in that order, each boundary within 2 s of the true one.

The push-up clip opens on a 3 s black title card. Nobody is in it, so the timeline calls it ``(no person)`` and the
push-up starts when the person appears: the true boundaries are each clip's end and each action's first visible
frame (the cut plus the clip's title card), and ``(no person)`` segments are not actions."""

from __future__ import annotations

import pytest

from bundled import bundled_model
from deformer3d.serve.predictor import Predictor
from deformer3d.serve.segments import NO_PERSON
from deformer3d.serve.timeline import run_timeline
from realvideos import concatenate, title_card_seconds

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
ACTIONS = ["squat", "pushup", "situp"]
TOLERANCE_S = 2.0


def test_concatenated_workout_gives_segments_in_order_with_boundaries_within_2s(realdata, tmp_path):
    pytest.importorskip("mediapipe")
    model = bundled_model()
    clips = [realdata / "wild" / f"{a}.mp4" for a in ACTIONS]
    video = tmp_path / "workout.mp4"
    cuts = concatenate(clips, video)
    tl = run_timeline(Predictor(model), video, progress=False)
    got = [(s.label, round(s.start, 1), round(s.end, 1)) for s in tl.segments]
    actions = [s for s in tl.segments if s.label != NO_PERSON]
    assert [s.label for s in actions] == ACTIONS, got
    # where each action starts (after its clip's title card) and where the next clip begins
    starts = [cut + title_card_seconds(clip) for cut, clip in zip(cuts, clips, strict=True)]
    for seg, start in zip(actions[1:], starts[1:], strict=True):
        assert abs(seg.start - start) <= TOLERANCE_S, (got, starts)
    for seg, end in zip(actions[:-1], cuts[1:], strict=True):
        assert abs(seg.end - end) <= TOLERANCE_S, (got, cuts)
