"""Joint layouts, person selection and keypoint normalisation.

Layouts name every joint and list the left/right pairs (horizontal flip swaps them) and the bones (for drawing):
``coco17`` (COCO / MMPose / MediaPipe-mapped), ``ntu25`` (Kinect v2, NTU RGB+D), ``penn13`` (Penn Action) and
``mediapipe33`` (BlazePose). ``MEDIAPIPE33_TO_COCO17`` maps BlazePose landmarks onto COCO-17.

Keypoint arrays follow pyskl: ``keypoints (M, T, V, 2)`` in pixels, ``scores (M, T, V)`` with 0 = missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deformer3d.errors import DataFormatError


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = field(default=())

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def flip_index(self) -> np.ndarray:
        """``(V,)`` permutation: joint j of the flipped skeleton is joint ``flip_index[j]`` of the original."""
        idx = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            idx[a], idx[b] = b, a
        return idx

    def index(self, joint: str) -> int:
        return self.joints.index(joint)


def _pairs_by_name(joints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """Left/right pairs found by name: 'left_x' <-> 'right_x'."""
    pairs = []
    for i, name in enumerate(joints):
        if name.startswith("left_"):
            j = joints.index("right_" + name[len("left_") :])
            pairs.append((i, j))
    return tuple(pairs)


_COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip
COCO17 = Layout(
    "coco17",
    _COCO17,
    bones=(
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (5, 6),
        (5, 7),
        (7, 9),
        (6, 8),
        (8, 10),
        (5, 11),
        (6, 12),
        (11, 12),
        (11, 13),
        (13, 15),
        (12, 14),
        (14, 16),
    ),  # fmt: skip
    flip_pairs=_pairs_by_name(_COCO17),
)

# Kinect v2 order (NTU RGB+D README, 1-based there): 1 base of spine ... 25 right thumb.
_NTU25 = (
    "spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot", "spine_shoulder", "left_hand_tip", "left_thumb",
    "right_hand_tip", "right_thumb",
)  # fmt: skip
NTU25 = Layout(
    "ntu25",
    _NTU25,
    bones=(
        (0, 1),
        (1, 20),
        (20, 2),
        (2, 3),
        (20, 4),
        (4, 5),
        (5, 6),
        (6, 7),
        (7, 21),
        (7, 22),
        (20, 8),
        (8, 9),
        (9, 10),
        (10, 11),
        (11, 23),
        (11, 24),
        (0, 12),
        (12, 13),
        (13, 14),
        (14, 15),
        (0, 16),
        (16, 17),
        (17, 18),
        (18, 19),
    ),  # fmt: skip
    flip_pairs=_pairs_by_name(_NTU25),
)

_PENN13 = (
    "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
PENN13 = Layout(
    "penn13",
    _PENN13,
    bones=(
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 3),
        (3, 5),
        (2, 4),
        (4, 6),
        (1, 7),
        (2, 8),
        (7, 8),
        (7, 9),
        (9, 11),
        (8, 10),
        (10, 12),
    ),  # fmt: skip
    flip_pairs=_pairs_by_name(_PENN13),
)

_MP33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "left_mouth", "right_mouth", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
MEDIAPIPE33 = Layout(
    "mediapipe33",
    _MP33,
    bones=(
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 7),
        (0, 4),
        (4, 5),
        (5, 6),
        (6, 8),
        (9, 10),
        (11, 12),
        (11, 13),
        (13, 15),
        (15, 17),
        (15, 19),
        (15, 21),
        (17, 19),
        (12, 14),
        (14, 16),
        (16, 18),
        (16, 20),
        (16, 22),
        (18, 20),
        (11, 23),
        (12, 24),
        (23, 24),
        (23, 25),
        (24, 26),
        (25, 27),
        (26, 28),
        (27, 29),
        (28, 30),
        (29, 31),
        (30, 32),
        (27, 31),
        (28, 32),
    ),  # fmt: skip
    flip_pairs=_pairs_by_name(_MP33),
)

# BlazePose landmark for each COCO-17 joint, in COCO order (nose, eyes, ears, shoulders, elbows, wrists, hips,
# knees, ankles): the same anatomical point in both layouts.
MEDIAPIPE33_TO_COCO17 = np.array([MEDIAPIPE33.index(name) for name in COCO17.joints], dtype=np.int64)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (COCO17, NTU25, PENN13, MEDIAPIPE33)}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise DataFormatError(f"unknown joint layout '{name}' (valid: {', '.join(LAYOUTS)})") from None


def mediapipe_to_coco(keypoints: np.ndarray, scores: np.ndarray | None = None):
    """Select the 17 COCO joints from BlazePose 33 along the joint axis (the second-to-last of ``keypoints``)."""
    kp = np.take(keypoints, MEDIAPIPE33_TO_COCO17, axis=-2)
    if scores is None:
        return kp
    return kp, np.take(scores, MEDIAPIPE33_TO_COCO17, axis=-1)


# --------------------------------------------------------------------------- persons
def motion_energy(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``(M,)`` how much each person moves: summed temporal variance of its valid joints (NTU / pyskl main-actor
    criterion; a still bystander or a spurious detection scores low). Frames where a person is absent count as
    missing, not as a jump to (0, 0)."""
    valid = scores > 0  # (M, T, V)
    out = np.zeros(keypoints.shape[0])
    for m in range(keypoints.shape[0]):
        energy = 0.0
        for v in range(keypoints.shape[2]):
            pts = keypoints[m, valid[m, :, v], v]
            if len(pts) > 1:
                energy += float(pts.var(axis=0).sum())
        out[m] = energy
    return out


def select_persons(keypoints: np.ndarray, scores: np.ndarray, max_persons: int):
    """Keep the ``max_persons`` most moving persons (main actor first); pad with zero-score persons.

    ``keypoints (M, T, V, 2)``, ``scores (M, T, V)`` -> ``(max_persons, T, V, 2)``, ``(max_persons, T, V)``.
    """
    m, t, v = scores.shape
    if m > max_persons or m > 1:
        order = np.argsort(-motion_energy(keypoints, scores), kind="stable")[:max_persons]
        keypoints, scores = keypoints[order], scores[order]
    if keypoints.shape[0] < max_persons:
        pad = max_persons - keypoints.shape[0]
        keypoints = np.concatenate([keypoints, np.zeros((pad, t, v, keypoints.shape[-1]), keypoints.dtype)])
        scores = np.concatenate([scores, np.zeros((pad, t, v), scores.dtype)])
    return keypoints, scores


def clean_keypoints(keypoints: np.ndarray, scores: np.ndarray):
    """Missing joints (NaN / inf coordinates, or all-zero (0, 0) points) get score 0 and coordinates 0."""
    kp = np.asarray(keypoints, np.float32).copy()
    sc = np.asarray(scores, np.float32).copy()
    bad = ~np.isfinite(kp).all(-1) | ~np.isfinite(sc) | (kp == 0).all(-1)
    kp[bad] = 0.0
    sc[bad] = 0.0
    return kp, sc


# --------------------------------------------------------------------------- normalisation
def normalize_to_box(keypoints: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Pixel-index coordinates -> [0, 1] of ``box = (x0, y0, w, h)`` (pixel i covers [i, i+1), its centre i+0.5)."""
    x0, y0, w, h = box
    out = np.empty_like(keypoints, dtype=np.float32)
    out[..., 0] = (keypoints[..., 0] + 0.5 - x0) / w
    out[..., 1] = (keypoints[..., 1] + 0.5 - y0) / h
    return out


def normalize_to_image(keypoints: np.ndarray, height: int, width: int) -> np.ndarray:
    return normalize_to_box(keypoints, (0.0, 0.0, float(width), float(height)))


def center_and_scale(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Body-centred coordinates: subtract the mean valid joint, divide by the largest extent (per person)."""
    out = np.zeros_like(keypoints, dtype=np.float32)
    for m in range(keypoints.shape[0]):
        valid = scores[m] > 0
        if not valid.any():
            continue
        pts = keypoints[m][valid]
        centre = pts.mean(0)
        extent = max(float(np.ptp(pts, axis=0).max()), 1e-6)
        out[m] = (keypoints[m] - centre) / extent
        out[m][~valid] = 0
    return out
