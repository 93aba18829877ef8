"""Estimated poses meet the model's joint layout: a Penn-13 and a COCO-17 pose model both predict on a real clip
with MediaPipe poses; MediaPipe's native log lines never reach the user's terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from native_log import NATIVE_LOG

pytestmark = pytest.mark.realdata
pytest.importorskip("mediapipe")

DEFORMER3D = str(Path(sys.executable).with_name("deformer3d"))


def export_pose_model(out: Path, layout: str, joints: int) -> Path:
    """A tiny, untrained pose-only model whose ``data.layout`` is ``layout``, written by the engine's export."""
    from deformer3d.data.synthetic import CLASSES
    from deformer3d.engine.export import export_module
    from deformer3d.engine.module import ActionModule

    torch.manual_seed(0)
    data = {"num_frames": 8, "image_size": 112, "resize_short": 128, "layout": layout, "max_persons": 1,
            "test_sampler": "equidistant", "frame_interval": 1}
    model = {"name": "deformer3d", "preset": "tiny", "modality": "pose", "max_persons": 1, "num_joints": joints}
    return export_module(ActionModule(model, len(CLASSES), list(CLASSES), data_info=data), out)


@pytest.fixture(scope="module")
def squat(realdata):
    return realdata / "wild" / "squat.mp4"


@pytest.mark.parametrize(("layout", "joints"), [("penn13", 13), ("coco17", 17)])
def test_pose_models_of_either_layout_predict_on_a_real_clip(tmp_path, squat, layout, joints):
    from deformer3d.data.skeleton import get_layout
    from deformer3d.serve.predictor import Predictor

    predictor = Predictor(export_pose_model(tmp_path / layout, layout, joints))
    try:
        result = predictor.predict(squat, top_k=3)
    finally:
        predictor.close()
    probs = [p for _, p in result.top_k]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert result.pose.shape == (8, 1, joints, 3)
    scores = result.pose[..., 2]
    # the person of the clip was found: most joints present in most frames, the limbs in every layout
    assert (scores > 0).mean() > 0.6
    lay = get_layout(layout)
    limbs = [lay.index(j) for j in ("left_shoulder", "right_hip", "left_knee", "right_ankle")]
    assert (scores[:, 0, limbs] > 0).mean() > 0.7
    if layout == "penn13":
        assert (scores[:, 0, lay.index("head")] > 0).mean() > 0.7  # derived from the nose and ears


def test_no_native_log_lines_reach_the_terminal(tmp_path, squat):
    """Control first: MediaPipe left alone prints native log lines on fd 2 (so the pattern is real); then
    ``deformer3d predict`` with MediaPipe poses prints none of them."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    raw = ("import numpy as np, mediapipe as mp\n"
           "with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as p:\n"
           "    p.process(np.zeros((64, 64, 3), np.uint8))\n")
    control = subprocess.run([sys.executable, "-c", raw], capture_output=True, text=True, env=env, timeout=600)
    assert control.returncode == 0 and NATIVE_LOG.search(control.stderr), control.stderr[-2000:]

    model = export_pose_model(tmp_path / "penn", "penn13", 13)
    run = subprocess.run([DEFORMER3D, "predict", str(squat), "--model", str(model), "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["top_k"]
    assert not NATIVE_LOG.search(run.stderr), run.stderr[-2000:]
