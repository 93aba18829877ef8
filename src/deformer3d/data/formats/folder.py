"""A generic folder per class: ``root/<class>/<video>.mp4`` (or frame folders), optional skeleton sidecars.

Sidecar next to a video, same name: ``<video>.npz`` with ``keypoints (M, T, V, 2)`` pixels, optional
``scores (M, T, V)`` and ``img_shape (H, W)``; or ``<video>.json`` with the same keys as nested lists.
Splits: if ``root/train``, ``root/val``, ``root/test`` exist they are used as is (each a folder per class);
otherwise a stratified split of every class (10% test, the rest 80/20 train/val; ``split_seed``; optionally a
subset of ``subset_classes`` x ``subset_per_class``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deformer3d.data.formats import SampleRecord, SplitData, class_names_from, pose_arrays, stratified_split
from deformer3d.errors import DataFormatError

SIDECAR_SUFFIXES = (".npz", ".json")


def read_sidecar(path: str | Path):
    """``(keypoints (M, T, V, 2), scores (M, T, V), img_shape | None)`` from a ``.npz`` / ``.json`` sidecar."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        else:
            data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path}: unreadable skeleton sidecar ({exc})") from None
    if not isinstance(data, dict):
        raise DataFormatError(
            f"{path}: holds a {type(data).__name__}, expected an object with keypoints (M, T, V, 2), scores (M, T, V)"
        )
    if "keypoints" not in data:
        raise DataFormatError(
            f"{path}: no 'keypoints' array (expected keypoints (M, T, V, 2), scores (M, T, V))"
        )
    kp, sc = pose_arrays(data["keypoints"], data.get("scores"), str(path))
    shape = None
    if data.get("img_shape") is not None:
        try:
            shape = tuple(int(v) for v in np.asarray(data["img_shape"], np.float64).reshape(-1)[:2])
        except (TypeError, ValueError):
            shape = ()
        if len(shape) != 2 or min(shape) < 1:
            raise DataFormatError(f"{path}: img_shape {data['img_shape']!r} is not (height, width) in pixels")
    return kp, sc, shape


def write_sidecar(path: str | Path, keypoints, scores, img_shape=None) -> None:
    """Write a ``.npz`` sidecar (the format :func:`read_sidecar` reads)."""
    extra = {} if img_shape is None else {"img_shape": np.asarray(img_shape, np.int64)}
    np.savez(
        path, keypoints=np.asarray(keypoints, np.float32), scores=np.asarray(scores, np.float32), **extra
    )


def _sidecar(video: Path) -> Path | None:
    for suffix in SIDECAR_SUFFIXES:
        for cand in (video.with_suffix(suffix), video.with_name(video.name + suffix)):
            if cand.is_file() and cand != video:
                return cand
    return None


def _scan(root: Path) -> dict[str, list[Path]]:
    from deformer3d.data.video import is_video_source

    if not root.is_dir():
        raise DataFormatError(f"data.root '{root}' is not a folder (expected one sub-folder per class)")
    out: dict[str, list[Path]] = {}
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        vids = [p for p in sorted(cls_dir.iterdir()) if is_video_source(p)]
        if vids:
            out[cls_dir.name] = vids
    return out


def load_split(cfg, split: str, *, need_pose: bool = True) -> SplitData:
    root = Path(cfg.root or ".")
    if all((root / s).is_dir() for s in ("train", "test")):
        classes = sorted(
            set().union(*(_scan(root / s).keys() for s in ("train", "val", "test") if (root / s).is_dir()))
        )
        if not (root / split).is_dir():
            raise DataFormatError(
                f"{root}: no '{split}' folder (found train/test sub-folders; see data.splits)"
            )
        items = [(cls, p) for cls, vids in _scan(root / split).items() for p in vids]
    else:
        found = _scan(root)
        if not found:
            raise DataFormatError(f"{root}: no class folders with videos (expected root/<class>/<video>.mp4)")
        by_name = {cls: [p.name for p in vids] for cls, vids in found.items()}
        parts = stratified_split(by_name, cfg.subset_classes, cfg.subset_per_class, cfg.split_seed)
        classes = sorted({c for c, _ in parts["train"] + parts["val"] + parts["test"]})
        if split not in parts:
            raise DataFormatError(f"folder dataset has splits train / val / test, not '{split}'")
        items = [(cls, root / cls / name) for cls, name in parts[split]]
    records = [
        SampleRecord(id=f"{cls}/{p.name}", label=classes.index(cls), video=p, pose_file=_sidecar(p))
        for cls, p in items
    ]
    return SplitData(records, class_names_from(cfg, classes))
