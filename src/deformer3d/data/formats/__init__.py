"""Dataset formats. Each parser turns its annotation into :class:`SampleRecord` lists, one per split.

Every format module exposes ``load_split(cfg: DataConfig, split: str) -> SplitData``; ``LOADERS`` (a
:class:`deformer3d.registry.Registry`) maps the ``data.format`` config value to it. Paths inside annotations are resolved under the dataset root with
:func:`resolve_under`, which refuses paths that escape it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deformer3d.errors import DataFormatError
from deformer3d.registry import Registry


@dataclass
class SampleRecord:
    """One sample before loading: where its frames / joints are and what is known about it.

    ``video``: a video file or frame folder (None for pose-only sources). ``keypoints (M, T, V, 2)`` pixels and
    ``scores (M, T, V)`` when they are in memory (pyskl, PennAction); ``pose_file`` when they are parsed on demand
    (NTU ``.skeleton``, sidecars). ``total_frames`` / ``img_shape (H, W)`` when the annotation knows them.
    """

    id: str
    label: int
    video: Path | None = None
    keypoints: np.ndarray | None = None
    scores: np.ndarray | None = None
    pose_file: Path | None = None
    total_frames: int | None = None
    img_shape: tuple[int, int] | None = None
    fps: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_pose(self) -> bool:
        return self.keypoints is not None or self.pose_file is not None


@dataclass
class SplitData:
    records: list[SampleRecord]
    class_names: list[str]
    hflip: bool = True  # False when the labels are not mirror-symmetric (e.g. clockwise vs anticlockwise)


def resolve_under(root: Path, rel: str | Path, what: str = "path") -> Path:
    """``root / rel``, refusing absolute paths or ``..`` that leave ``root`` (an annotation must not point at
    arbitrary files of the machine)."""
    root = Path(root).resolve()
    path = (root / rel).resolve()
    if path != root and root not in path.parents:
        raise DataFormatError(
            f"{what} '{rel}' escapes the dataset root {root}; annotation paths must be relative and stay inside it"
        )
    return path


def read_lines(path: Path) -> list[str]:
    """Non-empty stripped lines (CRLF tolerant)."""
    try:
        return [
            ln.strip()
            for ln in Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
            if ln.strip()
        ]
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc})") from None


def class_names_from(cfg, default: list[str]) -> list[str]:
    """``cfg.class_names`` (a file, one name per line, relative to the root or absolute) or ``default``."""
    if not cfg.class_names:
        return list(default)
    path = Path(cfg.class_names)
    if not path.is_absolute() and not path.is_file() and cfg.root:
        path = Path(cfg.root) / path
    if not path.is_file():
        raise DataFormatError(f"data.class_names: file not found: {path}")
    return read_lines(path)


def pose_arrays(keypoints: Any, scores: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Check a skeleton read from a file -> ``(keypoints (M, T, V, 2) float32, scores (M, T, V) float32)``.

    ``keypoints`` may be ``(T, V, C)`` (one person) or ``(M, T, V, C)`` with C = 2 (x, y) or 3 (x, y, score);
    ``scores`` None means: from C = 3, else every joint present. Refused, naming ``source``: values that are not
    numbers, other shapes, zero frames or joints, a score array of another shape. NaN / inf stay (they mark missing
    joints, see ``skeleton.clean_keypoints``)."""
    try:
        kp = np.asarray(keypoints, dtype=np.float32)
        sc = None if scores is None else np.asarray(scores, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{source}: keypoints / scores are not arrays of numbers ({exc})") from None
    if kp.ndim == 3:  # (T, V, C): one person
        kp = kp[None]
        sc = None if sc is None or sc.ndim != 2 else sc[None]
    if kp.ndim != 4 or kp.shape[-1] not in (2, 3):
        raise DataFormatError(
            f"{source}: keypoints have shape {kp.shape}, expected (M persons, T frames, V joints, 2)"
        )
    if kp.shape[1] == 0:
        raise DataFormatError(f"{source}: the skeleton has 0 frames; re-extract the poses of this video")
    if kp.shape[2] == 0:
        raise DataFormatError(f"{source}: the skeleton has 0 joints per frame; re-extract the poses")
    if sc is None:
        sc = kp[..., 2].copy() if kp.shape[-1] == 3 else np.ones(kp.shape[:3], np.float32)
    elif sc.shape != kp.shape[:3]:
        raise DataFormatError(
            f"{source}: scores have shape {sc.shape} but the keypoints {kp.shape} need {kp.shape[:3]} "
            "(one score per person, frame and joint)"
        )
    return np.ascontiguousarray(kp[..., :2]), sc


def load_pose_file(path: Path, layout: str | None = None):
    """Parse a per-sample pose file by suffix -> ``(keypoints (M, T, V, 2), scores (M, T, V), img_shape|None)``."""
    suffix = path.suffix.lower()
    if suffix == ".skeleton":
        from deformer3d.data.formats.ntu import read_skeleton_2d

        return read_skeleton_2d(path)
    if suffix in (".json", ".npz"):
        from deformer3d.data.formats.folder import read_sidecar

        return read_sidecar(path)
    if suffix == ".pkl":
        from deformer3d.data.formats.pyskl import annotation_pose, read_pyskl

        anns = read_pyskl(path)["annotations"]
        if len(anns) != 1:
            raise DataFormatError(
                f"{path}: a pyskl pkl with {len(anns)} annotations; a per-sample pose file holds one skeleton"
            )
        kp, sc = annotation_pose(anns[0], str(path))
        shape = anns[0].get("img_shape")
        return kp, sc, (tuple(int(v) for v in shape[:2]) if shape is not None else None)
    raise DataFormatError(
        f"{path}: unknown pose file type '{suffix}' (expected one of {', '.join(POSE_SUFFIXES)})"
    )


POSE_SUFFIXES = (".pkl", ".npz", ".json", ".skeleton")  # what load_pose_file reads


LOADERS: Registry[Callable[..., SplitData]] = Registry("data.format", DataFormatError)
for _name in ("pyskl", "ntu", "pennaction", "hmdb51", "finegym", "folder"):
    LOADERS.register_lazy(_name, f"deformer3d.data.formats.{_name}:load_split")
LOADERS.register_lazy("synth", "deformer3d.data.synthetic:load_split")  # a SynthActions folder, read as pyskl
FORMATS = tuple(LOADERS.names())  # the valid values of data.format


def get_format(name: str) -> Callable[..., SplitData]:
    """The ``load_split(cfg, split, *, need_pose)`` of ``data.format`` (modules imported on first use)."""
    return LOADERS.get(name)


def stratified_split(
    items_by_class: dict[str, list[str]],
    num_classes: int = 0,
    per_class: int = 0,
    seed: int = 0,
    test_fraction: float = 0.1,
    val_fraction: float = 0.2,
) -> dict[str, list[tuple[str, str]]]:
    """Class-balanced split as in the seed study: pick ``num_classes`` classes (0 = all) and ``per_class`` items of
    each (0 = all), hold out ``test_fraction`` of every class for test, then split the rest ``1 - val_fraction`` /
    ``val_fraction`` into train / val. Each split gets the same count from every class when ``per_class`` is set.

    Returns ``{"train" | "val" | "test": [(class, item), ...]}``; deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    classes = sorted(items_by_class)
    if num_classes:
        if num_classes > len(classes):
            raise DataFormatError(f"subset of {num_classes} classes requested but only {len(classes)} exist")
        classes = sorted(rng.choice(classes, size=num_classes, replace=False).tolist())
    out: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for cls in classes:
        items = sorted(items_by_class[cls])
        if per_class:
            if per_class > len(items):
                raise DataFormatError(
                    f"class '{cls}' has {len(items)} items, fewer than the {per_class} per class requested"
                )
            items = sorted(rng.choice(items, size=per_class, replace=False).tolist())
        items = [items[i] for i in rng.permutation(len(items))]
        n_test = max(1, round(test_fraction * len(items))) if len(items) >= 3 else 0
        rest = items[n_test:]
        n_val = max(1, round(val_fraction * len(rest))) if len(rest) >= 2 else 0
        out["test"] += [(cls, x) for x in items[:n_test]]
        out["val"] += [(cls, x) for x in rest[:n_val]]
        out["train"] += [(cls, x) for x in rest[n_val:]]
    return out
