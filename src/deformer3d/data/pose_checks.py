"""Checks of a skeleton against its video: the same frames, and joints that are really there.

A skeleton and its video must cover the same frames: a mismatch is an error, or (explicitly) resampled. Frame ``t`` of a skeleton is frame ``t`` of its video. When the counts differ by more than
:data:`FRAME_TOLERANCE` (an encoder dropping the last frame, a Kinect recording one frame longer than its AVI),
the pairing is wrong (another video's skeleton, a skeleton of a cut) and clamping indices would pair frames with
poses silently; instead the caller gets a :class:`DataFormatError` naming both counts, or asks for ``resample``:
the skeleton stretched evenly over the video's frames.
"""

from __future__ import annotations

import numpy as np

from deformer3d.errors import DataFormatError

FRAME_TOLERANCE = 1  # frames a skeleton may differ from its video by (the last one repeated or dropped)
FRAME_MARGIN = 1.0  # a joint more than one frame size outside the frame is not a detection


def match_frames(
    keypoints: np.ndarray, scores: np.ndarray, total: int, *, skeleton: str, video: str, resample: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``keypoints (M, T_k, V, 2)``, ``scores (M, T_k, V)`` -> the same over exactly ``total`` video frames.

    ``skeleton`` / ``video`` name the two sources in the error. Within :data:`FRAME_TOLERANCE` the last pose is
    repeated or dropped; beyond it, ``resample=True`` maps video frame i to skeleton frame
    ``round(i * (T_k - 1) / (total - 1))``, otherwise a :class:`DataFormatError`.
    """
    t_k = keypoints.shape[1]
    if t_k == total:
        return keypoints, scores
    if abs(t_k - total) > FRAME_TOLERANCE and not resample:
        raise DataFormatError(
            f"{skeleton}: the skeleton has {t_k} frames but the video {video} has {total}; a skeleton must cover "
            "the video frame by frame (pair it with its own video, or resample it explicitly"
            " (predict --resample-skeleton))"
        )
    if abs(t_k - total) > FRAME_TOLERANCE:
        idx = np.round(np.arange(total) * (t_k - 1) / max(total - 1, 1)).astype(np.int64)
    else:
        idx = np.minimum(np.arange(total), t_k - 1)
    return keypoints[:, idx], scores[:, idx]


def usable_joints(keypoints: np.ndarray, scores: np.ndarray, hw: tuple[int, int] | None) -> np.ndarray:
    """``(M, T, V)`` bool: score > 0, finite coordinates and (when the frame size ``hw`` is known) not further
    than :data:`FRAME_MARGIN` frame sizes outside the frame. ``keypoints (M, T, V, 2)`` pixels, ``scores (M, T, V)``.
    """
    kp = np.asarray(keypoints, np.float64)
    sc = np.asarray(scores, np.float64)
    ok = (sc > 0) & np.isfinite(sc) & np.isfinite(kp).all(-1)
    if hw is not None:
        h, w = hw
        with np.errstate(invalid="ignore"):
            ok &= (kp[..., 0] >= -FRAME_MARGIN * w) & (kp[..., 0] <= (1 + FRAME_MARGIN) * w)
            ok &= (kp[..., 1] >= -FRAME_MARGIN * h) & (kp[..., 1] <= (1 + FRAME_MARGIN) * h)
    return ok


def joints_found(keypoints: np.ndarray, scores: np.ndarray, hw: tuple[int, int] | None) -> float:
    """The fraction of (frame, joint) slots where at least one person has a usable joint, in [0, 1]."""
    ok = usable_joints(keypoints, scores, hw)
    return float(ok.any(axis=0).mean()) if ok.size else 0.0
