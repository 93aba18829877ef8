"""HMDB51: class folders of videos (or of frame folders) and the official three train/test splits.

Split files (``testTrainMulti_7030_splits``): ``<class>_test_split<k>.txt`` with lines ``<video>.avi <tag>``,
tag 1 = train, 2 = test, 0 = unused; 3,570 / 1,530 videos per split. A stratified subset (``subset_classes`` N x
``subset_per_class`` K, 10% test, the rest 80/20 train/val, class-balanced; the seed study's protocol) is used
when ``subset_classes`` > 0.

Dataset config: ``root`` = videos (``root/<class>/<video>.avi`` or frame folders ``root/<class>/<video>/``),
``ann_file`` = split folder, ``fold`` = 1..3.
"""

from __future__ import annotations

import re
from pathlib import Path

from deformer3d.data.formats import SampleRecord, SplitData, class_names_from, read_lines, stratified_split
from deformer3d.errors import DataFormatError

_SPLIT_FILE = re.compile(r"^(.+)_test_split(\d)\.txt$")


def official_split(
    split_dir: str | Path, fold: int = 1
) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """``({"train": [(class, video)], "test": [...]}, classes)`` for official split ``fold`` (1..3)."""
    split_dir = Path(split_dir)
    if fold not in (1, 2, 3):
        raise DataFormatError(f"HMDB51 data.fold must be 1, 2 or 3, got {fold}")
    files = {}
    for f in split_dir.glob("*_test_split*.txt"):
        m = _SPLIT_FILE.match(f.name)
        if m and int(m.group(2)) == fold:
            files[m.group(1)] = f
    if not files:
        raise DataFormatError(
            f"{split_dir}: no '<class>_test_split{fold}.txt' files (HMDB51 testTrainMulti_7030_splits)"
        )
    classes = sorted(files)
    out: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for cls in classes:
        for line in read_lines(files[cls]):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataFormatError(f"{files[cls]}: bad line '{line}' (expected '<video>.avi 0|1|2')")
            if parts[1] == "1":
                out["train"].append((cls, parts[0]))
            elif parts[1] == "2":
                out["test"].append((cls, parts[0]))
    return out, classes


def scan_videos(root: Path) -> dict[str, list[str]]:
    """``{class: [video names]}`` from ``root/<class>/`` (video files or frame folders)."""
    from deformer3d.data.video import is_video_source

    out: dict[str, list[str]] = {}
    for cls_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        vids = [p.name for p in sorted(cls_dir.iterdir()) if is_video_source(p)]
        if vids:
            out[cls_dir.name] = vids
    return out


def find_video(root: Path, cls: str, video: str) -> Path | None:
    stem = Path(video).stem
    for cand in (root / cls / video, root / cls / stem, root / video, root / stem):
        if cand.exists():
            return cand
    return None


def load_split(cfg, split: str, *, need_pose: bool = True) -> SplitData:
    root = Path(cfg.root or ".")
    split_dir = Path(cfg.ann_file) if cfg.ann_file else None
    if split_dir is not None and not split_dir.is_absolute():
        split_dir = root / split_dir
    if cfg.subset_classes:
        if split_dir is not None and split_dir.is_dir():
            official, classes = official_split(split_dir, cfg.fold)
            by_class: dict[str, list[str]] = {}
            for cls, vid in official["train"] + official["test"]:
                by_class.setdefault(cls, []).append(vid)
        else:
            by_class = scan_videos(root)
            classes = sorted(by_class)
        parts = stratified_split(by_class, cfg.subset_classes, cfg.subset_per_class, cfg.split_seed)
        classes = sorted({c for c, _ in parts["train"] + parts["val"] + parts["test"]})
    else:
        if split_dir is None:
            raise DataFormatError(
                "HMDB51: set data.ann_file to the split folder (testTrainMulti_7030_splits)"
            )
        parts, classes = official_split(split_dir, cfg.fold)
    if split not in parts:
        raise DataFormatError(f"HMDB51 has splits {', '.join(parts)}, not '{split}' (see data.splits)")
    records = [
        SampleRecord(id=f"{cls}/{vid}", label=classes.index(cls), video=find_video(root, cls, vid))
        for cls, vid in parts[split]
    ]
    return SplitData(records, class_names_from(cfg, classes))
