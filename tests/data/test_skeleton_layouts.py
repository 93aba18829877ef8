"""Joint-layout conversions: every direction between COCO-17, MediaPipe-33, NTU-25 and Penn-13."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deformer3d.data.skeleton import (
    LAYOUTS,
    Layout,
    convert_layout,
    get_layout,
    layout_of,
    mediapipe_to_coco,
)
from deformer3d.errors import DataFormatError

BUILTIN = ("coco17", "mediapipe33", "ntu25", "penn13")


def random_pose(layout: str, seed: int = 0, shape=(2, 5)):
    rng = np.random.default_rng(seed)
    v = get_layout(layout).num_joints
    return (rng.random(shape + (v, 2)) * 100).astype(np.float32), rng.uniform(0.2, 1, shape + (v,)).astype(np.float32)


@pytest.mark.parametrize(("src", "dst"), list(itertools.permutations(BUILTIN, 2)))
def test_every_direction_copies_joints_of_the_same_name(src, dst):
    kp, sc = random_pose(src)
    out_kp, out_sc = convert_layout(kp, sc, src, dst)
    a, b = get_layout(src), get_layout(dst)
    assert out_kp.shape == (2, 5, b.num_joints, 2) and out_sc.shape == (2, 5, b.num_joints)
    shared = [j for j in b.joints if j in a.joints]
    assert len(shared) >= 12  # the limbs: shoulders, elbows, wrists, hips, knees, ankles
    for joint in shared:
        assert np.array_equal(out_kp[..., b.index(joint), :], kp[..., a.index(joint), :])
        assert np.array_equal(out_sc[..., b.index(joint)], sc[..., a.index(joint)])
    assert (out_sc >= 0).all() and np.isfinite(out_kp).all()


def test_a_joint_without_source_gets_score_zero():
    kp, sc = random_pose("penn13")
    coco_kp, coco_sc = convert_layout(kp, sc, "penn13", "coco17")
    face = [get_layout("coco17").index(j) for j in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    assert (coco_sc[..., face] == 0).all() and (coco_kp[..., face, :] == 0).all()
    ntu_kp, ntu_sc = convert_layout(*random_pose("coco17"), "coco17", "ntu25")
    ntu = get_layout("ntu25")
    for joint in ("neck", "left_hand", "left_thumb", "right_foot"):
        assert (ntu_sc[..., ntu.index(joint)] == 0).all()


def test_head_is_the_mean_of_nose_and_ears_that_are_present():
    coco = get_layout("coco17")
    kp, sc = random_pose("coco17", shape=(1, 2))
    sc[0, 1, coco.index("left_ear")] = 0.0  # frame 1: one ear not seen
    penn_kp, penn_sc = convert_layout(kp, sc, "coco17", "penn13")
    nose, le, re = (coco.index(j) for j in ("nose", "left_ear", "right_ear"))
    assert np.allclose(penn_kp[0, 0, 0], kp[0, 0, [nose, le, re]].mean(0))
    assert np.allclose(penn_sc[0, 0, 0], sc[0, 0, [nose, le, re]].mean())
    assert np.allclose(penn_kp[0, 1, 0], kp[0, 1, [nose, re]].mean(0))
    sc[0, 1, [nose, re]] = 0.0
    assert convert_layout(kp, sc, "coco17", "penn13")[1][0, 1, 0] == 0.0  # nothing of the head seen


def test_spine_needs_both_shoulders():
    coco, ntu = get_layout("coco17"), get_layout("ntu25")
    kp, sc = random_pose("coco17", shape=(1, 2))
    sc[0, 1, coco.index("left_shoulder")] = 0.0
    out_kp, out_sc = convert_layout(kp, sc, "coco17", "ntu25")
    j = ntu.index("spine_shoulder")
    both = kp[0, 0, [coco.index("left_shoulder"), coco.index("right_shoulder")]].mean(0)
    assert np.allclose(out_kp[0, 0, j], both) and out_sc[0, 0, j] > 0 and out_sc[0, 1, j] == 0


def test_round_trips_keep_what_both_layouts_have():
    kp, sc = random_pose("coco17")
    back = convert_layout(*convert_layout(kp, sc, "coco17", "mediapipe33"), "mediapipe33", "coco17")
    assert np.array_equal(back[0], kp) and np.array_equal(back[1], sc)
    assert np.array_equal(mediapipe_to_coco(*random_pose("mediapipe33"))[0],
                          convert_layout(*random_pose("mediapipe33"), "mediapipe33", "coco17")[0])


def test_impossible_conversions_are_clear_errors(monkeypatch):
    kp, sc = random_pose("coco17")
    with pytest.raises(DataFormatError, match="unknown joint layout 'openpose25'"):
        convert_layout(kp, sc, "coco17", "openpose25")
    with pytest.raises(DataFormatError, match="do not hold the 13 joints of layout 'penn13'"):
        convert_layout(kp, sc, "penn13", "coco17")
    hand = Layout("hand5", ("thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip"), bones=())
    monkeypatch.setitem(LAYOUTS, "hand5", hand)
    with pytest.raises(DataFormatError, match="cannot convert joint layout 'coco17' to 'hand5': only 0 of 5"):
        convert_layout(kp, sc, "coco17", "hand5")


def test_layout_of_joint_count():
    assert [layout_of(n) for n in (17, 33, 25, 13, 18)] == ["coco17", "mediapipe33", "ntu25", "penn13", None]


@pytest.mark.realdata
def test_real_ntu_skeleton_to_coco_and_penn(realdata):
    from deformer3d.data.formats import load_pose_file

    kp, sc, _ = load_pose_file(realdata / "ntu" / "S001C001P001R001A001.skeleton")
    assert kp.shape[2] == 25
    coco_kp, coco_sc = convert_layout(kp, sc, "ntu25", "coco17")
    penn_kp, penn_sc = convert_layout(kp, sc, "ntu25", "penn13")
    ntu, coco = get_layout("ntu25"), get_layout("coco17")
    assert np.array_equal(coco_kp[..., coco.index("right_wrist"), :], kp[..., ntu.index("right_wrist"), :])
    assert np.array_equal(penn_kp[..., 0, :], kp[..., ntu.index("head"), :])  # Kinect's head is Penn's head
    body = sc[0].max(-1) > 0
    assert (coco_sc[0, body][:, 5:] > 0).mean() > 0.9 and (coco_sc[..., :5] == 0).all()
