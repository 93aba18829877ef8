"""One prediction opens (and probes) its video once: the predictor hands its reader to the input path."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.data import video as video_module
from deformer3d.data.video import write_video
from deformer3d.serve.predictor import Predictor
from exported_models import make_exported


@pytest.mark.parametrize("kind", ["rgb_pose", "timesformer"])
def test_a_prediction_opens_its_video_once(tmp_path, monkeypatch, kind):
    frames = np.repeat(np.random.default_rng(0).integers(0, 255, (4, 64, 80, 3), dtype=np.uint8), 4, axis=0)
    clip = write_video(tmp_path / "clip.mp4", frames, fps=10) or tmp_path / "clip.mp4"
    t = len(frames)
    skeleton = (np.full((1, t, 17, 2), 32.0, np.float32), np.ones((1, t, 17), np.float32))
    predictor = Predictor(make_exported(tmp_path / kind, kind))
    opened = []
    real_init = video_module.VideoReader.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(args[0] if args else kwargs.get("source"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(video_module.VideoReader, "__init__", counting_init)
    result = predictor.predict(clip, skeleton=skeleton if predictor.uses_pose else None)
    assert len(result.top_k) == 5
    assert len(opened) == 1, opened
