"""Joint layouts, person selection and keypoint normalisation.

Layouts name every joint and list the left/right pairs (horizontal flip swaps them) and the bones (for drawing):
``coco17`` (COCO / MMPose / MediaPipe-mapped), ``ntu25`` (Kinect v2, NTU RGB+D), ``penn13`` (Penn Action) and
``mediapipe33`` (BlazePose). :func:`convert_layout` converts keypoints between any two of them (a joint is
copied from the joint of the same name, or derived, e.g. the Penn / NTU head from the COCO nose and ears; a joint
with no source gets score 0); ``MEDIAPIPE33_TO_COCO17`` is the BlazePose -> COCO-17 case as an index.

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


# --------------------------------------------------------------------------- conversions
# Joints a layout lacks by name but can take from others: (sources, rule). "any" = the mean of the sources that
# are present (a head seen from the side still has one ear and the nose); "all" = only when every source is
# present (a spine point from one shoulder would sit on that shoulder).
_DERIVED: dict[str, tuple[tuple[str, ...], str]] = {
    "head": (("nose", "left_ear", "right_ear"), "any"),  # Penn Action / Kinect head: the middle of the head
    "spine_shoulder": (("left_shoulder", "right_shoulder"), "all"),
    "spine_base": (("left_hip", "right_hip"), "all"),
    "spine_mid": (("left_shoulder", "right_shoulder", "left_hip", "right_hip"), "all"),
    # Kinect hand / foot points from BlazePose's finger and toe landmarks
    "left_hand": (("left_pinky", "left_index"), "all"),
    "right_hand": (("right_pinky", "right_index"), "all"),
    "left_hand_tip": (("left_index",), "any"),
    "right_hand_tip": (("right_index",), "any"),
    "left_foot": (("left_foot_index",), "any"),
    "right_foot": (("right_foot_index",), "any"),
    # and back: BlazePose landmarks from Kinect points
    "left_index": (("left_hand_tip",), "any"),
    "right_index": (("right_hand_tip",), "any"),
    "left_foot_index": (("left_foot",), "any"),
    "right_foot_index": (("right_foot",), "any"),
}
# A conversion must give the destination at least its limbs: fewer mapped joints than this is refused.
MIN_CONVERTED_JOINTS = 8


def conversion_rules(src: str, dst: str) -> list[tuple[tuple[int, ...], str] | None]:
    """For each joint of ``dst``: ``(source joint indices, "any" | "all")``, or None when ``src`` has no source for
    it. Raises :class:`DataFormatError` for an unknown layout or a conversion that would leave the destination
    without its limbs."""
    a, b = get_layout(src), get_layout(dst)
    rules: list[tuple[tuple[int, ...], str] | None] = []
    for joint in b.joints:
        if joint in a.joints:
            rules.append(((a.index(joint),), "copy"))
        elif joint in _DERIVED and all(n in a.joints for n in _DERIVED[joint][0]):
            names, how = _DERIVED[joint]
            rules.append((tuple(a.index(n) for n in names), how))
        elif joint in _DERIVED and _DERIVED[joint][1] == "any" and any(n in a.joints for n in _DERIVED[joint][0]):
            names = tuple(n for n in _DERIVED[joint][0] if n in a.joints)
            rules.append((tuple(a.index(n) for n in names), "any"))
        else:
            rules.append(None)
    mapped = sum(r is not None for r in rules)
    if mapped < min(MIN_CONVERTED_JOINTS, b.num_joints):
        raise DataFormatError(
            f"cannot convert joint layout '{src}' to '{dst}': only {mapped} of {b.num_joints} joints have a source; "
            "give a skeleton in (or closer to) the model's layout"
        )
    return rules


def convert_layout(keypoints: np.ndarray, scores: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``(..., V_src, C)`` and scores ``(..., V_src)`` in layout ``src`` -> ``(..., V_dst, C)``,
    ``(..., V_dst)`` in layout ``dst`` (``C`` = 2 or 3 coordinates).

    A joint of the same name is copied as it is; a derived joint is the mean of its present sources (score: their
    mean; ``all`` rules need every source present); a joint with no source gets coordinates 0 and score 0.
    Raises :class:`DataFormatError` when the arrays do not hold ``src``'s joints or the conversion is impossible.
    """
    kp = np.asarray(keypoints, np.float32)
    sc = np.asarray(scores, np.float32)
    v_src = get_layout(src).num_joints
    if kp.ndim < 2 or kp.shape[-2] != v_src or sc.shape != kp.shape[:-1]:
        raise DataFormatError(
            f"keypoints {kp.shape} / scores {sc.shape} do not hold the {v_src} joints of layout '{src}' "
            "(expected (..., V, 2) and (..., V))"
        )
    if src == dst:
        return kp.copy(), sc.copy()
    rules = conversion_rules(src, dst)
    out_kp = np.zeros(kp.shape[:-2] + (len(rules), kp.shape[-1]), np.float32)
    out_sc = np.zeros(sc.shape[:-1] + (len(rules),), np.float32)
    for j, rule in enumerate(rules):
        if rule is None:
            continue
        idx, how = rule
        if how == "copy":
            out_kp[..., j, :], out_sc[..., j] = kp[..., idx[0], :], sc[..., idx[0]]
            continue
        present = sc[..., list(idx)] > 0  # (..., k)
        ok = present.all(-1) if how == "all" else present.any(-1)
        weight = present / np.maximum(present.sum(-1, keepdims=True), 1)
        joint = np.einsum("...k,...kc->...c", weight, kp[..., list(idx), :])
        out_kp[..., j, :] = np.where(ok[..., None], joint, 0.0)
        out_sc[..., j] = np.where(ok, (weight * sc[..., list(idx)]).sum(-1), 0.0)
    return out_kp, out_sc


def layout_of(num_joints: int) -> str | None:
    """The layout with ``num_joints`` joints (each layout here has its own count), or None."""
    return next((name for name, lay in LAYOUTS.items() if lay.num_joints == num_joints), None)


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
