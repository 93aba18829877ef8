"""Dataset formats. Each parser turns its annotation into :class:`SampleRecord` lists, one per split.

Every format module exposes ``load_split(cfg: DataConfig, split: str) -> SplitData``; ``FORMATS`` maps the
``data.format`` config value to it. Paths inside annotations are resolved under the dataset root with
:func:`resolve_under`, which refuses paths that escape it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deformer3d.errors import DataFormatError


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


def load_pose_file(path: Path, layout: str | None = None):
    """Parse a per-sample pose file by suffix -> ``(keypoints (M, T, V, 2), scores (M, T, V), img_shape|None)``."""
    suffix = path.suffix.lower()
    if suffix == ".skeleton":
        from deformer3d.data.formats.ntu import read_skeleton_2d

        return read_skeleton_2d(path)
    if suffix in (".json", ".npz"):
        from deformer3d.data.formats.folder import read_sidecar

        return read_sidecar(path)
    raise DataFormatError(f"{path}: unknown pose file type '{suffix}' (expected .skeleton, .json or .npz)")


_FORMATS = {
    "pyskl": ("pyskl", "load_split"),
    "synth": ("pyskl", "load_synth_split"),
    "ntu": ("ntu", "load_split"),
    "pennaction": ("pennaction", "load_split"),
    "hmdb51": ("hmdb51", "load_split"),
    "finegym": ("finegym", "load_split"),
    "folder": ("folder", "load_split"),
}


def get_format(name: str) -> Callable[..., SplitData]:
    """The ``load_split(cfg, split, *, need_pose)`` of ``data.format`` (modules imported on first use)."""
    import importlib

    try:
        module, func = _FORMATS[name]
    except KeyError:
        raise DataFormatError(f"unknown data.format '{name}' (valid: {', '.join(_FORMATS)})") from None
    return getattr(importlib.import_module(f"deformer3d.data.formats.{module}"), func)
