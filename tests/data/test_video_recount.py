"""A video whose index over-announces: the reader recounts and raises FrameCountError; each reader of frames asks
once more from the corrected count (data.video.again_after_recount), and a second failure is not hidden."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from deformer3d.data.video import FrameCountError, again_after_recount
from deformer3d.pose import extract
from deformer3d.serve.predictor import Predictor


def test_once_more_and_no_more():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise FrameCountError("over-announced")
        return "ok"

    assert again_after_recount(flaky) == "ok" and len(calls) == 2

    def broken():
        calls.append(1)
        raise FrameCountError("still wrong")

    calls.clear()
    with pytest.raises(FrameCountError, match="still wrong"):
        again_after_recount(broken)
    assert len(calls) == 2


class _OverAnnouncing:
    """Announces 40 frames, 25 decode: the first request past them recounts and raises, as VideoReader does."""

    source_height, source_width, fps = 120, 160, 25.0

    def __init__(self):
        self.num_frames, self.requests = 40, []

    def _check(self, wanted):
        if max(wanted) >= 25 and self.num_frames == 40:
            self.num_frames = 25
            raise FrameCountError("index over-announced")

    def get_frames(self, keys):
        self.requests.append(list(keys))
        self._check(keys)
        return np.zeros((len(keys), 120, 160, 3), np.uint8)

    def iter_frames(self, chunk):
        self._check([self.num_frames - 1])
        yield np.zeros((self.num_frames, 120, 160, 3), np.uint8)

    def to_source_pixels(self, kp):
        return kp


def _pose_of(frames):
    n = len(frames)
    return np.full((1, n, 17, 2), 5.0, np.float32), np.ones((1, n, 17), np.float32)


def test_the_predictors_key_frames_are_picked_again_from_the_recount():
    predictor = Predictor.__new__(Predictor)
    predictor._estimator = SimpleNamespace(estimate=_pose_of)
    predictor.data_cfg = SimpleNamespace(num_frames=8)
    reader = _OverAnnouncing()
    kp, sc = predictor._estimate_pose(reader)
    assert len(reader.requests) == 2 and max(reader.requests[0]) == 39 and max(reader.requests[1]) == 24
    assert kp.shape[1] == sc.shape[1] == 25


def test_extract_poses_estimates_again_over_what_decodes(monkeypatch):
    reader = _OverAnnouncing()
    monkeypatch.setattr(extract, "open_video", lambda path, short_side: reader)
    estimator = SimpleNamespace(estimate_chunks=lambda chunks: _pose_of(np.concatenate(list(chunks))))
    ann = extract.estimate_video("clip.mp4", estimator)
    assert ann["total_frames"] == 25 and ann["keypoint"].shape == (1, 25, 17, 2)
