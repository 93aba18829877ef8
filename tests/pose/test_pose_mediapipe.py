"""MediaPipe pose backend: interface shapes, and accuracy against real ground truth (COCO and Human3.6M images)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deformer3d.errors import ModelInputError, UserError
from deformer3d.pose import build_pose_estimator
from native_log import NATIVE_LOG

pytest.importorskip("mediapipe")

# Human3.6M joint -> COCO-17 joint for the joints both define at the same anatomical point (H36M's pelvis,
# spine, thorax, neck and head have no COCO counterpart; COCO's face points none in H36M).
H36M_TO_COCO = {1: 11, 2: 13, 3: 15, 4: 12, 5: 14, 6: 16, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}


@pytest.fixture(scope="module")
def static_estimator():
    with build_pose_estimator("mediapipe", static_image_mode=True) as est:
        yield est


def test_no_person_gives_zero_scores_with_contract_shapes():
    with build_pose_estimator("mediapipe") as est:
        kp, sc = est.estimate(np.zeros((3, 64, 80, 3), np.uint8))
    assert kp.shape == (1, 3, 17, 2) and kp.dtype == np.float32
    assert sc.shape == (1, 3, 17) and sc.dtype == np.float32
    assert (sc == 0).all()


def test_bad_frames_and_backend_are_clear_errors():
    with build_pose_estimator("mediapipe") as est:
        with pytest.raises(ModelInputError, match="uint8"):
            est.estimate(np.zeros((2, 32, 32, 3), np.float32))
        with pytest.raises(ModelInputError, match=r"\(T, H, W, 3\)"):
            est.estimate(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(UserError, match="available: .*mediapipe"):
        build_pose_estimator("openpose")


def _box_iou(a, b) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def _ground_truth(root):
    """(image path, [(bbox, joints (17, 3) in COCO order with visibility; 0 = not annotated)]) per image."""
    for sub, ann_name in (("coco", "test_coco.json"), ("h36m", "h36m_coco.json")):
        ann = json.loads((root / "pose_gt" / sub / ann_name).read_text())
        for image in ann["images"]:
            path = next((root / "pose_gt" / sub).rglob(image["file_name"]))
            people = []
            for a in ann["annotations"]:
                if a["image_id"] != image["id"] or a.get("num_keypoints", 17) == 0:
                    continue
                raw = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
                if sub == "h36m":  # Human3.6M order -> COCO order, shared joints only
                    joints = np.zeros((17, 3))
                    for h, c in H36M_TO_COCO.items():
                        joints[c] = raw[h]
                else:
                    joints = raw
                people.append((a["bbox"], joints))
            yield path, people


@pytest.mark.realdata
def test_joints_within_20_percent_of_box_on_real_ground_truth(realdata, static_estimator):
    """PCK@0.2 with the box's longer side as the unit (as mmpose's PCK): >= 90% of the annotated joints of every
    detected person (matched to the ground-truth person whose box overlaps the detection's the most)."""
    correct = total = detected = images = 0
    for path, people in _ground_truth(realdata):
        images += 1
        frame = np.asarray(Image.open(path).convert("RGB"))
        kp, sc = static_estimator.estimate(frame)
        kp, sc = kp[0, 0], sc[0, 0]
        if sc.max() == 0:
            continue
        detected += 1
        x0, y0 = kp.min(axis=0)
        det_box = (x0, y0, *(kp.max(axis=0) - (x0, y0)))
        box, gt = max(people, key=lambda p: _box_iou(det_box, p[0]))
        annotated = gt[:, 2] > 0
        err = np.linalg.norm(kp - gt[:, :2], axis=1) / max(box[2], box[3])
        correct += int((err[annotated] < 0.2).sum())
        total += int(annotated.sum())
    assert images == 8 and detected >= 6, f"MediaPipe found a person in only {detected} of {images} images"
    pck = correct / total
    print(f"pose_gt PCK@0.2(box): {pck:.3f} ({correct}/{total} joints, {detected}/{images} images)")
    assert pck >= 0.90


@pytest.mark.realdata
def test_video_session_tracks_across_chunks_like_one_clip(realdata):
    """Chunks of one video through a session give exactly what the same frames give as one clip (one graph, the
    person tracked across the chunk boundary), and a closed session says so instead of starting a new graph."""
    from deformer3d.data.video import VideoReader

    with VideoReader(realdata / "wild" / "squat.mp4") as reader:
        frames = reader.get_frames(np.arange(0, 48, 2))  # (24, H, W, 3)
    with build_pose_estimator("mediapipe") as est:
        whole_kp, whole_sc = est.estimate(frames)
        with est.video_session() as session:
            parts = [session.estimate(frames[:10]), session.estimate(frames[10:])]
        with pytest.raises(UserError, match="closed"):
            session.estimate(frames[:1])
    assert (whole_sc > 0.5).mean() > 0.5  # the person is found
    np.testing.assert_array_equal(np.concatenate([k for k, _ in parts], axis=1), whole_kp)
    np.testing.assert_array_equal(np.concatenate([s for _, s in parts], axis=1), whole_sc)


def _stderr_of(script: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stderr


def test_graph_start_lines_stay_silent_while_the_caller_works_before_the_first_chunk():
    """MediaPipe opens its calculators on its own threads after the graph is built: a caller that decodes for a
    while before the first chunk (here: sleeps) used to get TF Lite's delegate lines on the terminal (CI, stop 24).
    Python's own stderr still reaches the terminal in that pause."""
    stderr = _stderr_of(
        "import sys, time, numpy as np\n"
        "from deformer3d.pose import build_pose_estimator\n"
        "est = build_pose_estimator('mediapipe')\n"
        "session = est.video_session()\n"
        "print('python line in the pause', file=sys.stderr)\n"
        "time.sleep(1.5)\n"
        "session.estimate(np.zeros((2, 64, 64, 3), np.uint8))\n"
        "session.close()\n"
        "print('python line after', file=sys.stderr)\n"
    )
    assert "python line in the pause" in stderr and "python line after" in stderr
    assert not NATIVE_LOG.search(stderr), stderr[-2000:]


def test_silences_ending_out_of_order_give_stderr_back():
    """Two sessions whose silences overlap without nesting (the first ends while the second still starts): Python's
    stderr reaches the terminal throughout, and fd 2 is the terminal's again once both are over."""
    stderr = _stderr_of(
        "import contextlib, os, sys\n"
        "from deformer3d.pose.mediapipe_backend import native_stderr_silenced\n"
        "a, b = contextlib.ExitStack(), contextlib.ExitStack()\n"
        "a.enter_context(native_stderr_silenced())\n"
        "b.enter_context(native_stderr_silenced())\n"
        "os.write(2, b'native while silenced\\n')\n"
        "a.close()\n"
        "print('python while b silences', file=sys.stderr, flush=True)\n"
        "os.write(2, b'native while b silences\\n')\n"
        "b.close()\n"
        "os.write(2, b'native after both\\n')\n"
        "print('python after both', file=sys.stderr, flush=True)\n"
    )
    assert "native while silenced" not in stderr and "native while b silences" not in stderr
    assert "python while b silences" in stderr
    assert "native after both" in stderr and "python after both" in stderr
