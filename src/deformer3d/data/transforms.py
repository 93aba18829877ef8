"""Keypoint-aware spatial transforms: random resized crop, centre crop, three-crop, resize, flip, normalise.

Every crop is a box ``(x0, y0, w, h)`` in integer pixels of the source frame; the frames are cut to the box and
resized to ``S x S`` in one step, and the keypoints go through the same box, so a joint stays on the same pixel:
with pixel i covering ``[i, i+1)``, a keypoint at pixel-index x ends at ``u = (x + 0.5 - x0) / w`` in [0, 1] of the
crop (``u * S - 0.5`` is its pixel index in the output). Joints that fall outside the crop get score 0 (missing).
Flipping maps ``u -> 1 - u`` and swaps left/right joints via the layout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from deformer3d.data.skeleton import Layout, normalize_to_box

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Box = tuple[int, int, int, int]  # x0, y0, w, h in source pixels


# --------------------------------------------------------------------------- boxes
def full_box(height: int, width: int) -> Box:
    return (0, 0, int(width), int(height))


def center_box(height: int, width: int, resize_short: int, image_size: int) -> Box:
    """The centre ``image_size`` square after resizing the short side to ``resize_short``, in source pixels."""
    side = min(height, width, max(1, round(image_size * min(height, width) / max(resize_short, image_size))))
    return ((width - side) // 2, (height - side) // 2, side, side)


def three_crop_boxes(height: int, width: int, resize_short: int, image_size: int) -> list[Box]:
    """Left / centre / right squares along the long side (top / centre / bottom for portrait frames)."""
    x0, y0, side, _ = center_box(height, width, resize_short, image_size)
    if width >= height:
        return [(0, y0, side, side), (x0, y0, side, side), (width - side, y0, side, side)]
    return [(x0, 0, side, side), (x0, y0, side, side), (x0, height - side, side, side)]


def random_resized_box(
    height: int,
    width: int,
    scale: tuple[float, float],
    rng: np.random.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Box:
    """torchvision's RandomResizedCrop box: area in ``scale`` x frame area, aspect ratio in ``ratio`` (log-uniform);
    falls back to the central square after 10 misses."""
    area = height * width
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        r = math.exp(rng.uniform(*log_r))
        w = int(round(math.sqrt(target * r)))
        h = int(round(math.sqrt(target / r)))
        if 0 < w <= width and 0 < h <= height:
            x0 = int(rng.integers(0, width - w + 1))
            y0 = int(rng.integers(0, height - h + 1))
            return (x0, y0, w, h)
    side = min(height, width)
    return ((width - side) // 2, (height - side) // 2, side, side)


# --------------------------------------------------------------------------- frames
def crop_resize(frames: np.ndarray, box: Box, size: int | tuple[int, int]) -> torch.Tensor:
    """``frames (T, H, W, 3)`` uint8 -> the box resized to ``size`` as ``(T, 3, S, S)`` float in [0, 255]."""
    x0, y0, w, h = box
    out_hw = (size, size) if isinstance(size, int) else size
    clip = torch.from_numpy(np.ascontiguousarray(frames[:, y0 : y0 + h, x0 : x0 + w]))
    clip = rearrange(clip, "t h w c -> t c h w").float()
    if (h, w) != tuple(out_hw):
        # antialias keeps thin structures (stick-figure limbs, small objects) when shrinking
        clip = F.interpolate(clip, size=out_hw, mode="bilinear", align_corners=False, antialias=True)
    return clip


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Whole frames resized to ``size = (H, W)``: ``(T, 3, H, W)`` float in [0, 255]."""
    return crop_resize(frames, full_box(frames.shape[1], frames.shape[2]), size)


def normalize_video(clip: torch.Tensor) -> torch.Tensor:
    """``(T, 3, S, S)`` float in [0, 255] -> ``(3, T, S, S)`` ImageNet-normalised float32."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0
    return rearrange((clip - mean) / std, "t c h w -> c t h w").contiguous().float()


def to_uint8_frames(clip: torch.Tensor) -> np.ndarray:
    """``(T, 3, S, S)`` float in [0, 255] -> ``(T, S, S, 3)`` uint8 (for display)."""
    return rearrange(clip.round().clamp(0, 255).to(torch.uint8), "t c h w -> t h w c").numpy()


def hflip_video(clip: torch.Tensor) -> torch.Tensor:
    """Mirror ``(..., W)`` along the last (width) axis."""
    return clip.flip(-1)


# --------------------------------------------------------------------------- keypoints
def keypoints_to_box(keypoints: np.ndarray, scores: np.ndarray, box: Box):
    """``keypoints (M, T, V, 2)`` pixels -> [0, 1] of the box; joints outside the box get score 0 and coordinates
    clipped into [0, 1]. Returns float32 ``(M, T, V, 2)``, ``(M, T, V)``."""
    uv = normalize_to_box(keypoints, tuple(float(b) for b in box))
    sc = np.asarray(scores, np.float32).copy()
    outside = ((uv < 0) | (uv > 1)).any(-1)
    sc[outside] = 0.0
    uv = np.clip(uv, 0.0, 1.0)
    uv[sc <= 0] = 0.0
    return uv.astype(np.float32), sc


def hflip_keypoints(uv: np.ndarray, scores: np.ndarray, layout: Layout):
    """Mirror normalised keypoints (u -> 1 - u) and swap left/right joints. Missing joints stay (0, 0, 0)."""
    idx = layout.flip_index
    uv = uv[..., idx, :].copy()
    scores = scores[..., idx].copy()
    present = scores > 0
    uv[..., 0] = np.where(present, 1.0 - uv[..., 0], 0.0)
    return uv, scores


def pose_tensor(uv: np.ndarray, scores: np.ndarray) -> torch.Tensor:
    """``(M, T, V, 2)`` + ``(M, T, V)`` -> the model's ``(T, M*V, 3)`` float32 (persons concatenated per frame)."""
    pose = np.concatenate([uv, scores[..., None]], axis=-1).astype(np.float32)
    return torch.from_numpy(rearrange(pose, "m t v c -> t (m v) c").copy())
