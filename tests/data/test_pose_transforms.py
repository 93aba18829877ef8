"""Person-centric skeleton normalisation, person crops, skeleton augmentation and temporal crops."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.config import load_config
from deformer3d.data.pose_transforms import (
    SkeletonAugment,
    augment_skeleton,
    crop_box_around,
    name_sides_by_image,
    person_box,
    person_coordinates_in,
    temporal_crop,
)


def _walker(t: int = 20, v: int = 13, offset=(100.0, 50.0), size: float = 80.0, seed: int = 0):
    """A random skeleton of ``size`` px moving right, placed at ``offset``: (1, T, V, 2), (1, T, V)."""
    rng = np.random.default_rng(seed)
    body = rng.uniform(0, size, (1, 1, v, 2)).astype(np.float32)
    motion = np.linspace(0, 20, t, dtype=np.float32)[None, :, None, None] * np.array([1.0, 0.0], np.float32)
    kp = body + motion + np.asarray(offset, np.float32)
    return kp, np.ones(kp.shape[:3], np.float32)


def test_person_coordinates_do_not_depend_on_position_or_scale():
    kp, sc = _walker()
    uv, _ = person_coordinates_in(kp, sc, person_box(kp, sc))
    # the same person, elsewhere in a bigger frame and filmed 2.5x larger
    kp2 = (kp - 100.0) * 2.5 + 700.0
    uv2, _ = person_coordinates_in(kp2, sc, person_box(kp2, sc))
    np.testing.assert_allclose(uv, uv2, atol=1e-2)  # only the half-pixel convention differs
    assert 0.3 < float(np.median(uv)) < 0.7  # centred on the body


def test_missing_joints_are_ignored_and_zeroed():
    kp, sc = _walker()
    sc[:, :, 0] = 0
    kp[:, :, 0] = 1e6  # a fill value far away must not move the box
    box = person_box(kp, sc)
    assert box[2] < 200
    uv, s = person_coordinates_in(kp, sc, box)
    assert (uv[:, :, 0] == 0).all() and (s[:, :, 0] == 0).all()
    none, s0 = person_coordinates_in(kp, np.zeros_like(sc), person_box(kp, np.zeros_like(sc)))
    assert (none == 0).all() and (s0 == 0).all()


def test_union_box_holds_every_joint_and_crop_stays_inside_the_frame():
    kp, sc = _walker(offset=(5.0, 5.0))
    x0, y0, w, h = person_box(kp, sc, extent="union", margin=1.0)
    assert x0 <= kp[..., 0].min() and x0 + w >= kp[..., 0].max() - 1e-3
    left, top, side, side2 = crop_box_around(person_box(kp, sc, extent="union", margin=1.25), 120, 160)
    assert side == side2 and left >= 0 and top >= 0 and left + side <= 160 and top + side <= 120


def test_augment_is_one_affine_per_clip_and_drops_joints():
    kp, sc = _walker()
    uv, s = person_coordinates_in(kp, sc, person_box(kp, sc))
    rng = np.random.default_rng(0)
    out, s_out = augment_skeleton(uv, s, SkeletonAugment(rotate=30, scale=(0.8, 1.2), shear=0.2, translate=0.1), rng)
    # an affine map: frame-to-frame displacements are transformed by the same matrix for every frame
    d_in, d_out = np.diff(uv, axis=1)[0, :, 0], np.diff(out, axis=1)[0, :, 0]
    ratio = np.linalg.norm(d_out, axis=-1) / np.linalg.norm(d_in, axis=-1)
    assert np.ptp(ratio) < 1e-4 and not np.allclose(out, uv)
    _, dropped = augment_skeleton(uv, s, SkeletonAugment(drop_joints=0.5), rng)
    assert 0.3 < 1 - dropped.mean() < 0.7


def test_temporal_crop_window_is_inside_the_clip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        start, length = temporal_crop(40, (0.5, 1.0), rng)
        assert 20 <= length <= 40 and 0 <= start and start + length <= 40


@pytest.mark.realdata
def test_penn_person_norm_pipeline_shapes_and_flip_views(realdata):
    cfg = load_config(
        "configs/pennaction_pose.yaml",
        [f"data.root={realdata / 'pennaction'}", "data.pose_norm=person", "data.joint_scores=present",
         "data.temporal_crop=[0.6,1.0]", "data.pose_augment.rotate=15"],
    )  # fmt: skip
    from deformer3d.data import build_dataset

    train = build_dataset(cfg.data, "train", need_video=False, need_pose=True)
    x = train[0]["pose"]
    assert x.shape == (cfg.data.num_frames, 13, 3) and (x[..., 2] > 0).float().mean() > 0.9
    test = build_dataset(cfg.data, "test", need_video=False, need_pose=True, num_clips=2, flip_views=True)
    views = test[0]["pose"]
    assert views.shape == (4, cfg.data.num_frames, 13, 3)
    # view 1 is view 0 mirrored: x -> 1 - x with left / right joints swapped (joint 1 = left shoulder <-> 2)
    np.testing.assert_allclose(views[1, :, 1, 0], 1 - views[0, :, 2, 0], atol=1e-6)


def test_hip_width_changes_only_the_hips_about_their_midpoint():
    kp, sc = _walker()
    uv, s = person_coordinates_in(kp, sc, person_box(kp, sc))
    pairs = {"hip": (7, 8), "shoulder": (1, 2)}
    out, _ = augment_skeleton(uv, s, SkeletonAugment(hip_width=(0.5, 0.5)), np.random.default_rng(0), pairs)
    np.testing.assert_allclose(out[..., 7, :] + out[..., 8, :], uv[..., 7, :] + uv[..., 8, :], atol=1e-6)
    np.testing.assert_allclose(out[..., 7, :] - out[..., 8, :], 0.5 * (uv[..., 7, :] - uv[..., 8, :]), atol=1e-6)
    others = [j for j in range(13) if j not in (7, 8)]
    np.testing.assert_allclose(out[..., others, :], uv[..., others, :], atol=1e-6)


def test_swap_sides_renames_left_and_right_without_mirroring():
    kp, sc = _walker()
    uv, s = person_coordinates_in(kp, sc, person_box(kp, sc))
    flip = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11])
    out, _ = augment_skeleton(uv, s, SkeletonAugment(swap_sides=1.0), np.random.default_rng(0), flip_index=flip)
    np.testing.assert_allclose(out, uv[..., flip, :], atol=1e-6)  # joint 1 is now where joint 2 was, x unchanged
    same, _ = augment_skeleton(uv, s, SkeletonAugment(swap_sides=0.0), np.random.default_rng(0), flip_index=flip)
    np.testing.assert_allclose(same, uv, atol=1e-6)


PENN_FLIP = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11])
PENN_TORSO = [(1, 2), (7, 8)]  # shoulders, hips


def _frontal(t: int = 12, facing_camera: bool = True):
    """A Penn-13 person facing the camera (anatomical names: their left shoulder on the image's right) or facing
    away; one hip missing in every other frame. (1, T, 13, 2), (1, T, 13)."""
    x = {"l": 120.0, "r": 80.0} if facing_camera else {"l": 80.0, "r": 120.0}
    kp = np.zeros((1, t, 13, 2), np.float32)
    kp[..., 0, :] = (100, 20)
    for j, side, y in [(1, "l", 40), (2, "r", 40), (3, "l", 60), (4, "r", 60), (5, "l", 80), (6, "r", 80),
                       (7, "l", 90), (8, "r", 90), (9, "l", 120), (10, "r", 120), (11, "l", 150), (12, "r", 150)]:
        kp[..., j, :] = (x[side], y)
    kp[..., 1::2, :] += np.random.default_rng(0).normal(0, 2, (t, 6, 2)).astype(np.float32)[None]
    sc = np.ones(kp.shape[:3], np.float32)
    sc[:, ::2, 7] = 0
    return kp, sc


def test_name_sides_by_image_makes_left_the_image_left_without_moving_a_joint():
    kp, sc = _frontal(facing_camera=True)
    out, s = name_sides_by_image(kp, sc, PENN_FLIP, PENN_TORSO)
    assert (out[..., 1, 0] < out[..., 2, 0]).all() and (out[..., 7, 0] < out[..., 8, 0]).all()
    np.testing.assert_array_equal(out, kp[..., PENN_FLIP, :])  # renamed, not mirrored
    np.testing.assert_array_equal(s, sc[..., PENN_FLIP])  # the missing hip moved with its name
    away, _ = _frontal(facing_camera=False)
    same, _ = name_sides_by_image(away, sc, PENN_FLIP, PENN_TORSO)
    np.testing.assert_array_equal(same, away)  # already named by the image: unchanged
    # idempotent, and each person of a clip decides for itself
    again, _ = name_sides_by_image(out, s, PENN_FLIP, PENN_TORSO)
    np.testing.assert_array_equal(again, out)
    two, _ = name_sides_by_image(np.concatenate([kp, away]), np.concatenate([sc, sc]), PENN_FLIP, PENN_TORSO)
    np.testing.assert_array_equal(two[1], away[0])
    np.testing.assert_array_equal(two[0], out[0])


def test_name_sides_by_image_leaves_a_person_without_torso_alone():
    kp, sc = _frontal()
    sc[..., [1, 2, 7, 8]] = 0
    out, _ = name_sides_by_image(kp, sc, PENN_FLIP, PENN_TORSO)
    np.testing.assert_array_equal(out, kp)


def test_side_names_image_gives_the_same_input_for_both_conventions(realdata):
    """A Penn Action clip and the same clip with every left / right name swapped (the other annotation
    convention) become the same model input once sides are named by the image."""
    from deformer3d.data import load_clip
    from deformer3d.data.formats.pennaction import read_mat

    cfg = load_config("configs/pennaction_pose.yaml").data
    cfg.side_names = "image"
    m = read_mat(realdata / "pennaction" / "labels" / "0001.mat")
    kp, sc = m["keypoints"], m["scores"]
    a = load_clip("a", cfg, keypoints=kp, scores=sc, need_video=False, need_pose=True)["pose"]
    b = load_clip("b", cfg, keypoints=kp[..., PENN_FLIP, :], scores=sc[..., PENN_FLIP], need_video=False,
                  need_pose=True)["pose"]
    assert a.shape[-2] == 13
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def _incline_dataset(incline: dict):
    from deformer3d.config import DataConfig
    from deformer3d.data.dataset import ActionDataset
    from deformer3d.data.formats import SampleRecord

    kp, sc = _walker(t=8)
    kp[0, :, 12] = kp[0, :, 0] + [80.0, 0.0]  # the right ankle 80 px right of the head: a body lying flat
    records = [SampleRecord(id=name, label=i, keypoints=kp, scores=sc, img_shape=(240, 320), total_frames=8)
               for i, name in enumerate(["pushup", "squat"])]
    cfg = DataConfig(format="pennaction", layout="penn13", num_frames=4, pose_norm="person", flip=False)
    cfg.pose_augment.rotate, cfg.pose_augment.incline = 10.0, incline
    return ActionDataset(records, ["pushup", "squat"], cfg, stage="train", need_video=False, need_pose=True)


def test_incline_tilts_only_the_named_classes_further():
    ds = _incline_dataset({"pushup": 60.0})

    def tilts(index: int) -> np.ndarray:
        angles = []
        for _ in range(200):
            x = ds[index]["pose"].numpy()  # (T, V, 3): x, y, score
            d = x[:, 12, :2] - x[:, 0, :2]  # head -> ankle, horizontal before the augmentation
            angles.append(np.degrees(np.arctan2(d[:, 1], d[:, 0])))
        return np.abs(np.concatenate(angles))

    push, squat = tilts(0), tilts(1)
    assert squat.max() <= 10.0 + 1e-3  # the dataset-wide rotate
    assert 45.0 < push.max() <= 60.0 + 1e-3 and (push > 10.0).mean() > 0.5


def test_incline_for_a_class_the_dataset_lacks_is_refused_by_name():
    from deformer3d.data.formats import DataFormatError

    with pytest.raises(DataFormatError, match=r"data\.pose_augment\.incline names \['push_up'\].*pushup, squat"):
        _incline_dataset({"push_up": 60.0})
