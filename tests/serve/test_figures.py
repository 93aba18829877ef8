"""Explanation figures name and connect the joints of the model's own layout."""

from __future__ import annotations

import numpy as np

from deformer3d.data.skeleton import get_layout
from deformer3d.serve.figures import explanation_figures
from deformer3d.serve.predictor import Prediction


def _labels(fig) -> set[str]:
    return {t.get_text() for ax in fig.axes for t in ax.get_yticklabels()}


def test_joint_attention_figure_uses_the_prediction_layout():
    t, v = 8, 13
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.uniform(0.2, 0.8, (t, 1, v, 2)), np.ones((t, 1, v, 1))], -1)
    p = Prediction(top_k=[("squat", 0.9)], frames=np.zeros((t, 32, 32, 3), np.uint8), frame_inds=np.arange(t),
                   pose=pose, explanations={"joint_attention": rng.random((t, v))}, model_name="m",
                   video_name="v.mp4", total_frames=t, layout="penn13")
    figs = explanation_figures(p)
    names = set(get_layout("penn13").joints)
    assert names <= _labels(figs["joints"])  # Penn's names, not COCO's renumbered per "person"
    assert not any(label.startswith("p0:") for label in _labels(figs["joints"]))
    # the frames figure draws Penn's bones (lines), not only dots
    assert any(ax.lines for ax in figs["frames"].axes)
