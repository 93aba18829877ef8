"""Person-centric skeleton normalisation, person boxes for RGB crops, and skeleton augmentation.

A skeleton recogniser should see the body, not the camera: the same squat filmed in a portrait phone video, a wide
broadcast frame or a tight Penn Action crop should give the same input. :func:`person_box` finds a square box
around the main person from the keypoints alone; :func:`person_coordinates` maps keypoints into that box's unit
square (centre 0.5, the body about one unit tall or wide), so the coordinates no longer depend on where the person
stands in the frame, how large the frame is or how it was cropped. The same box, with a margin, is the
person-centric crop of RGB models (as PoseC3D crops around the skeleton).

:func:`augment_skeleton` perturbs normalised skeletons the way estimated poses differ from annotations and the way
people differ from each other: a random affine (rotation, anisotropic scale, shear, translation), per-joint jitter
and dropped joints. :func:`name_sides_by_image` makes "left" mean the image's left, whatever a dataset's or an
estimator's convention. Shapes follow pyskl: ``keypoints (M, T, V, 2)``, ``scores (M, T, V)``, 0 = missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from deformer3d.data.skeleton import normalize_to_box

Box = tuple[float, float, float, float]  # x0, y0, w, h in source pixels


def _frame_extents(keypoints: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame box of one person's present joints: ``lo (T, 2)``, ``hi (T, 2)`` and ``ok (T,)`` (frames with at
    least one present joint)."""
    present = scores > 0
    ok = present.any(-1)
    lo = np.where(present[..., None], keypoints, np.inf).min(axis=1)
    hi = np.where(present[..., None], keypoints, -np.inf).max(axis=1)
    return lo, hi, ok


def person_box(keypoints: np.ndarray, scores: np.ndarray, *, extent: str = "median", margin: float = 1.0) -> Box | None:
    """A square box around the main person (person 0) over the whole clip, or None when no joint is present.

    ``extent="median"``: centred on the median of the per-frame box centres, side = the median per-frame box side
    (the larger of width and height): a scale that is stable when the person bends, lies down or moves an arm, for
    normalising coordinates. ``extent="union"``: the box holding every present joint of every frame, for crops that
    must keep the person in view all clip long. ``margin`` multiplies the side.
    """
    kp = np.asarray(keypoints, np.float64)[0]
    lo, hi, ok = _frame_extents(kp, np.asarray(scores)[0])
    if not ok.any():
        return None
    lo, hi = lo[ok], hi[ok]
    if extent == "median":
        centre = np.median((lo + hi) / 2, axis=0)
        side = float(np.median((hi - lo).max(axis=-1)))
    elif extent == "union":
        lo_all, hi_all = lo.min(axis=0), hi.max(axis=0)
        centre = (lo_all + hi_all) / 2
        side = float((hi_all - lo_all).max())
    else:
        raise ValueError(f"extent must be 'median' or 'union', got {extent!r}")
    side = max(side * margin, 1.0)  # a single visible joint still gives a usable (one-pixel) box
    return (float(centre[0] - side / 2), float(centre[1] - side / 2), side, side)


def person_coordinates_in(
    keypoints: np.ndarray, scores: np.ndarray, box: Box | None
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints in the unit square of a person ``box`` (from :func:`person_box` over the whole clip, so every
    sampled clip of a video shares it).

    Returns float32 ``(M, T, V, 2)`` (not clipped: a jump or a swing may leave the box) and the scores; missing
    joints get (0, 0). ``box=None`` (no joint present anywhere) gives an all-missing clip.
    """
    sc = np.asarray(scores, np.float32).copy()
    if box is None:
        return np.zeros(np.shape(keypoints), np.float32), np.zeros_like(sc)
    uv = normalize_to_box(keypoints, box).astype(np.float32)
    uv[sc <= 0] = 0.0
    return uv, sc


def crop_box_around(box: Box, height: int, width: int, min_side: int = 1) -> tuple[int, int, int, int]:
    """A float square ``box`` as an integer crop inside a ``height x width`` frame: at least ``min_side``, shifted
    (not shrunk) to stay inside where it fits, clipped where it is larger than the frame."""
    x0, y0, w, h = box
    side = int(round(min(max(w, h, min_side), height, width)))
    side = max(side, 1)
    cx, cy = x0 + w / 2, y0 + h / 2
    left = int(round(min(max(cx - side / 2, 0), width - side)))
    top = int(round(min(max(cy - side / 2, 0), height - side)))
    return (left, top, side, side)


def name_sides_by_image(
    keypoints: np.ndarray, scores: np.ndarray, flip_index: np.ndarray, pairs: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Rename left / right joints so that, per person and clip, the ``left_*`` torso joints lie on the image's left.

    Datasets and estimators disagree on what "left" is when the person faces the camera (Penn Action's annotators
    mix both conventions even within a class; MediaPipe and COCO name the person's own left), so a name carries
    noise, not information; where the torso sits in the picture does not. ``pairs``: (left, right) joint indices
    voted over (shoulders, hips); the vote is the median over frames of ``x_left - x_right`` where both are present.
    ``keypoints (M, T, V, 2)``, ``scores (M, T, V)``; positions are never moved, only names swapped."""
    kp, sc = np.array(keypoints), np.array(scores)
    for m in range(kp.shape[0]):
        votes = []
        for a, b in pairs:
            both = (sc[m, :, a] > 0) & (sc[m, :, b] > 0)
            both &= np.isfinite(kp[m, :, a, 0]) & np.isfinite(kp[m, :, b, 0])
            votes.append(kp[m, both, a, 0] - kp[m, both, b, 0])
        d = np.concatenate(votes) if votes else np.zeros(0)
        if d.size and np.median(d) > 0:
            kp[m], sc[m] = kp[m][:, flip_index], sc[m][:, flip_index]
    return kp, sc


@dataclass
class SkeletonAugment:
    """Random perturbations of person-normalised skeletons (training only); 0 switches one off.

    rotate: max rotation in degrees.  scale: (lo, hi) independent x / y scale.  shear: max horizontal shear.
    translate: max shift in person units.  jitter: std of per-joint Gaussian noise (person units).
    drop_joints: probability of dropping a joint in a frame (its score becomes 0).
    hip_width / shoulder_width: (lo, hi) factor on the distance between the two hips / shoulders about their
    midpoint: datasets and estimators put these joints differently (MediaPipe's hips sit ~0.6x as far apart,
    relative to the torso, as Penn Action's annotated ones), and people differ.
    swap_sides: probability of swapping the left / right joint names without mirroring the picture. Datasets
    disagree on what "left" means when the person faces the camera: Penn Action's annotators put the left
    shoulder of a frontal lifter on the image's left (the viewer's left), MediaPipe on the person's left; a
    model that sees both conventions does not depend on either.
    """

    rotate: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    shear: float = 0.0
    translate: float = 0.0
    jitter: float = 0.0
    drop_joints: float = 0.0
    hip_width: tuple[float, float] = (1.0, 1.0)
    shoulder_width: tuple[float, float] = (1.0, 1.0)
    swap_sides: float = 0.0


def augment_skeleton(
    uv: np.ndarray, scores: np.ndarray, aug: SkeletonAugment, rng: np.random.Generator,
    pairs: dict[str, tuple[int, int]] | None = None, flip_index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``uv (M, T, V, 2)`` person coordinates (centre 0.5) -> the same clip under one random affine about the
    centre (the same for every frame, so the motion stays smooth), plus jitter and dropped joints. ``pairs``: the
    ``hip`` / ``shoulder`` (left, right) joint indices for the width changes; ``flip_index``: the layout's
    left <-> right permutation for ``swap_sides``."""
    uv = np.array(uv, np.float32)
    if aug.swap_sides > 0 and flip_index is not None and rng.random() < aug.swap_sides:
        uv, scores = uv[..., flip_index, :], np.asarray(scores)[..., flip_index]
    for name, (lo, hi) in (("hip", aug.hip_width), ("shoulder", aug.shoulder_width)):
        if (lo, hi) != (1.0, 1.0) and pairs and name in pairs:
            a, b = pairs[name]
            mid = (uv[..., a, :] + uv[..., b, :]) / 2
            factor = np.float32(rng.uniform(lo, hi))
            uv[..., a, :] = mid + factor * (uv[..., a, :] - mid)
            uv[..., b, :] = mid + factor * (uv[..., b, :] - mid)
    theta = math.radians(rng.uniform(-aug.rotate, aug.rotate))
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    shear = np.array([[1.0, rng.uniform(-aug.shear, aug.shear)], [0.0, 1.0]])
    scale = np.diag(rng.uniform(aug.scale[0], aug.scale[1], size=2))
    matrix = (rot @ shear @ scale).astype(np.float32)
    shift = rng.uniform(-aug.translate, aug.translate, size=2).astype(np.float32)
    out = (uv - 0.5) @ matrix.T + 0.5 + shift
    if aug.jitter > 0:
        out = out + rng.normal(0.0, aug.jitter, size=out.shape).astype(np.float32)
    sc = np.asarray(scores, np.float32).copy()
    if aug.drop_joints > 0:
        sc[rng.random(sc.shape) < aug.drop_joints] = 0.0
    out[sc <= 0] = 0.0
    return out.astype(np.float32), sc


def temporal_crop(total: int, ratio: tuple[float, float], rng: np.random.Generator) -> tuple[int, int]:
    """A random window ``(start, length)`` of ``ratio`` (lo, hi) of a ``total``-frame clip: sampling a fixed number
    of frames from it plays the action faster or slower and starts it at another phase."""
    length = max(1, int(round(total * rng.uniform(ratio[0], ratio[1]))))
    start = int(rng.integers(0, total - length + 1))
    return start, length
