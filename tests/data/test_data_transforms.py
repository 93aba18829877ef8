"""Keypoint-aware transforms and joint layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformer3d.data.skeleton import (
    COCO17,
    LAYOUTS,
    MEDIAPIPE33,
    MEDIAPIPE33_TO_COCO17,
    NTU25,
    PENN13,
    clean_keypoints,
    get_layout,
    select_persons,
)
from deformer3d.data.transforms import (
    center_box,
    crop_resize,
    hflip_keypoints,
    hflip_video,
    keypoints_to_box,
    normalize_video,
    random_resized_box,
    three_crop_boxes,
)
from deformer3d.errors import DataFormatError


def _dot_frame(h, w, x, y, r=0):
    f = np.zeros((1, h, w, 3), np.uint8)
    f[0, y - r : y + r + 1, x - r : x + r + 1] = 255
    return f


def _centroid(img: torch.Tensor) -> tuple[float, float]:
    """Brightness centroid (x, y) in pixel-index coordinates of a (3, H, W) image."""
    g = img.mean(0).numpy().astype(np.float64)
    ys, xs = np.mgrid[: g.shape[0], : g.shape[1]]
    return float((g * xs).sum() / g.sum()), float((g * ys).sum() / g.sum())


@pytest.mark.parametrize("box,size", [((10, 5, 40, 40), 40), ((10, 5, 60, 60), 24), ((0, 0, 90, 70), 32)])
def test_crop_keeps_keypoints_on_the_same_pixels(box, size):
    x, y = 37, 29
    frames = _dot_frame(80, 100, x, y, r=1)
    kp = np.array([[[[x, y]]]], np.float32)  # (M, T, V, 2)
    uv, sc = keypoints_to_box(kp, np.ones((1, 1, 1), np.float32), box)
    out = crop_resize(frames, box, size)[0]
    cx, cy = _centroid(out)
    # the joint's pixel in the output is u * S - 0.5
    assert sc[0, 0, 0] == 1
    assert abs(uv[0, 0, 0, 0] * size - 0.5 - cx) < 0.35
    assert abs(uv[0, 0, 0, 1] * size - 0.5 - cy) < 0.35


def test_joints_outside_the_crop_are_missing():
    kp = np.array([[[[5, 5], [50, 50]]]], np.float32)
    uv, sc = keypoints_to_box(kp, np.ones((1, 1, 2), np.float32), (20, 20, 40, 40))
    assert sc[0, 0].tolist() == [0.0, 1.0]
    assert uv[0, 0, 0].tolist() == [0.0, 0.0] and ((uv >= 0) & (uv <= 1)).all()


@pytest.mark.parametrize("layout", [COCO17, NTU25])
def test_flip_swaps_left_and_right(layout):
    size = 40
    v = layout.num_joints
    rng = np.random.default_rng(0)
    kp_px = rng.integers(2, size - 2, size=(1, 1, v, 2)).astype(np.float32)
    uv, sc = keypoints_to_box(kp_px, np.ones((1, 1, v), np.float32), (0, 0, size, size))
    fuv, fsc = hflip_keypoints(uv, sc, layout)
    li, ri = layout.index("left_wrist"), layout.index("right_wrist")
    # the flipped right wrist is where the mirrored left wrist was, and vice versa
    assert np.allclose(fuv[0, 0, ri], [1 - uv[0, 0, li, 0], uv[0, 0, li, 1]])
    assert np.allclose(fuv[0, 0, li], [1 - uv[0, 0, ri, 0], uv[0, 0, ri, 1]])
    centre = layout.index("nose" if layout is COCO17 else "head")
    assert np.allclose(fuv[0, 0, centre, 0], 1 - uv[0, 0, centre, 0])
    # flipping twice is the identity
    assert np.allclose(hflip_keypoints(fuv, fsc, layout)[0], uv)
    # pixels and joints agree: a dot at the left wrist lands under the flipped right-wrist joint
    x, y = kp_px[0, 0, li].astype(int)
    img = hflip_video(crop_resize(_dot_frame(size, size, x, y), (0, 0, size, size), size))[0]
    cx, cy = _centroid(img)
    assert abs(fuv[0, 0, ri, 0] * size - 0.5 - cx) < 1e-4 and abs(fuv[0, 0, ri, 1] * size - 0.5 - cy) < 1e-4


def test_layout_pairs_and_mediapipe_map():
    assert len(COCO17.flip_pairs) == 8 and len(NTU25.flip_pairs) == 10 and len(PENN13.flip_pairs) == 6
    assert len(MEDIAPIPE33.flip_pairs) == 16
    for lay in LAYOUTS.values():
        assert sorted(lay.flip_index.tolist()) == list(range(lay.num_joints))
        assert all(0 <= a < lay.num_joints and 0 <= b < lay.num_joints for a, b in lay.bones)
    assert MEDIAPIPE33_TO_COCO17.tolist() == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    with pytest.raises(DataFormatError, match="unknown joint layout"):
        get_layout("smpl24")


def test_boxes():
    assert center_box(240, 320, 128, 112) == (55, 15, 210, 210)
    left, mid, right = three_crop_boxes(240, 320, 240, 200)
    assert left[0] == 0 and right[0] + right[2] == 320 and mid == center_box(240, 320, 240, 200)
    rng = np.random.default_rng(0)
    for _ in range(50):
        x0, y0, w, h = random_resized_box(100, 150, (0.3, 1.0), rng)
        assert 0 <= x0 and x0 + w <= 150 and 0 <= y0 and y0 + h <= 100


def test_normalize_video_shape_and_values():
    clip = torch.full((4, 3, 8, 8), 255.0)
    out = normalize_video(clip)
    assert out.shape == (3, 4, 8, 8) and out.dtype == torch.float32
    assert torch.allclose(out[0, 0, 0, 0], torch.tensor((1 - 0.485) / 0.229))


def test_person_selection_by_motion_energy_and_padding():
    t, v = 10, 17
    still = np.zeros((t, v, 2), np.float32) + 50
    moving = still + np.linspace(0, 30, t)[:, None, None]
    kp = np.stack([still, moving])
    sc = np.ones((2, t, v), np.float32)
    k, s = select_persons(kp, sc, 1)
    assert np.array_equal(k[0], moving)
    k, s = select_persons(kp[:1], sc[:1], 3)
    assert k.shape == (3, t, v, 2) and s[1:].sum() == 0


def test_nan_joints_become_missing():
    kp = np.ones((1, 2, 3, 2), np.float32)
    kp[0, 0, 1] = np.nan
    kp[0, 1, 2] = 0
    k, s = clean_keypoints(kp, np.ones((1, 2, 3), np.float32))
    assert np.isfinite(k).all() and s[0, 0, 1] == 0 and s[0, 1, 2] == 0 and s.sum() == 4
