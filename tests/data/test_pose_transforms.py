"""Person-centric skeleton normalisation, person crops, skeleton augmentation and temporal crops."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.config import load_config
from deformer3d.data.pose_transforms import (
    SkeletonAugment,
    augment_skeleton,
    crop_box_around,
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
