"""SynthActions: determinism, splits, joints that match the pixels, the object / order / direction pairs."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.data.formats.pyskl import read_pyskl
from deformer3d.data.synthetic import CLASSES, OBJECTS, render_clip, write_synthactions
from deformer3d.data.video import open_video
from deformer3d.errors import UserError

K = len(CLASSES)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_synthactions(out, num_clips=3 * K, seed=3, size=48, frame_range=(6, 9), workers=2, progress=False)
    return out


def test_same_seed_same_pkl_bytes(synth_dir, tmp_path):
    write_synthactions(
        tmp_path, num_clips=3 * K, seed=3, size=48, frame_range=(6, 9), workers=1, progress=False
    )
    assert (tmp_path / "synthactions.pkl").read_bytes() == (synth_dir / "synthactions.pkl").read_bytes()


def test_other_seed_differs(tmp_path):
    a, _ = render_clip(5, seed=0, size=48, frame_range=(6, 6))
    b, _ = render_clip(5, seed=1, size=48, frame_range=(6, 6))
    assert not np.array_equal(a, b)


def test_classes_and_splits(synth_dir):
    data = read_pyskl(synth_dir / "synthactions.pkl")
    assert len(CLASSES) >= 12 and data["class_names"] == list(CLASSES) and data["hflip"] is False
    label_of = {a["frame_dir"]: a["label"] for a in data["annotations"]}
    for split in ("train", "val", "test"):
        assert {label_of[i] for i in data["split"][split]} == set(range(K)), split
    all_ids = sum(data["split"].values(), [])
    assert sorted(all_ids) == sorted(label_of) and len(set(all_ids)) == len(all_ids)


def test_videos_match_annotations(synth_dir):
    data = read_pyskl(synth_dir / "synthactions.pkl")
    for ann in data["annotations"][:5]:
        r = open_video(synth_dir / ann["filename"])
        assert r.num_frames == ann["total_frames"] == ann["keypoint"].shape[1]
        assert (r.height, r.width) == tuple(ann["img_shape"])
        assert ann["keypoint"].shape == (1, ann["total_frames"], 17, 2)


def test_joints_sit_on_the_drawn_person():
    """Frames are drawn from the exact joints: a shoulder pixel differs from the empty background."""
    frames, ann = render_clip(0, seed=0, size=96, frame_range=(8, 8), difficulty=0.0)
    kp = ann["keypoint"][0]
    # difficulty 0: no noise, no dropout, no shake
    background = frames[0, 0, 0]
    for t in range(8):
        # the torso is one flat colour: the two diagonals' midpoints (shoulder to opposite hip) are the shirt
        mid = np.round((kp[t, 5] + kp[t, 12]) / 2).astype(int)
        mid2 = np.round((kp[t, 6] + kp[t, 11]) / 2).astype(int)
        assert (frames[t, mid[1], mid[0]] == frames[t, mid2[1], mid2[0]]).all()
        assert not (frames[t, mid[1], mid[0]] == background).all()


def test_object_pairs_share_motion_but_not_pixels():
    """drink / phone_call: the same motion family, different objects in the pixels."""
    assert OBJECTS["drink"] != OBJECTS["phone_call"] and OBJECTS["lift_box"] != OBJECTS["lift_ball"]
    drink = CLASSES.index("drink")
    phone = CLASSES.index("phone_call")
    f_d, a_d = render_clip(drink, seed=0, size=64, frame_range=(10, 10))
    f_p, a_p = render_clip(phone, seed=0, size=64, frame_range=(10, 10))
    # the reserved object colours show up only in their own class
    cup = np.array([255, 235, 0])
    phone_c = np.array([255, 0, 255])
    assert (np.abs(f_d.astype(int) - cup).sum(-1) < 60).any()
    assert not (np.abs(f_p.astype(int) - cup).sum(-1) < 60).any()
    assert (np.abs(f_p.astype(int) - phone_c).sum(-1) < 60).any()


def test_order_reversed_pair():
    """stand_up is sit_down backwards: the hips go down in one and up in the other."""
    sit, stand = CLASSES.index("sit_down"), CLASSES.index("stand_up")
    for seed in range(3):
        _, a = render_clip(sit, seed=seed, size=96, frame_range=(20, 20), difficulty=0.0)
        _, b = render_clip(stand, seed=seed, size=96, frame_range=(20, 20), difficulty=0.0)
        hip_a = a["keypoint"][0, :, 11:13, 1].mean(-1)
        hip_b = b["keypoint"][0, :, 11:13, 1].mean(-1)
        assert hip_a[-1] - hip_a[0] > 5 and hip_b[0] - hip_b[-1] > 5  # y grows downwards


def test_direction_pair():
    """The right wrist turns clockwise on screen in one class and anticlockwise in the other."""

    def turning(label):
        _, a = render_clip(label, seed=1, size=96, frame_range=(30, 30), difficulty=0.0)
        kp = a["keypoint"][0]
        v = kp[:, 10] - kp[:, 6]  # wrist relative to shoulder
        ang = np.unwrap(np.arctan2(v[:, 1], v[:, 0]))  # y down: increasing angle = clockwise on screen
        return ang[-1] - ang[0]

    assert turning(CLASSES.index("arm_circle_cw")) > np.pi
    assert turning(CLASSES.index("arm_circle_ccw")) < -np.pi


def test_too_few_clips_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="at least"):
        write_synthactions(tmp_path, num_clips=K, progress=False)
