"""``deformer3d validate CONFIG``: scan a dataset and report every problem, not just the first.

Checks per split: annotation readable; labels inside the class list; every class present; each video opens and its
first and last frames decode (corrupt / truncated / zero-frame files), frame folders have no gaps in their numbering;
each sample has a skeleton when the model uses pose, the skeleton parses and has at least one usable joint;
skeleton and video frame counts agree (within one frame); the same sample in two splits. Prints a rich table and a summary; returns True when nothing is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from deformer3d.config import load_config
from deformer3d.data.dataset import STAGES
from deformer3d.data.formats import SampleRecord, get_format, load_pose_file
from deformer3d.data.pose_checks import FRAME_TOLERANCE, joints_found
from deformer3d.data.video import list_frame_files, open_video
from deformer3d.errors import UserError

MAX_ROWS = 200


def _needs(model_cfg: dict) -> tuple[bool, bool]:
    """(need_video, need_pose) of the config's model."""
    name = model_cfg.get("name", "deformer3d")
    if name in ("timesformer", "vivit"):
        return True, False
    modality = model_cfg.get("modality", "rgb_pose")
    return modality in ("rgb", "rgb_pose"), modality in ("pose", "rgb_pose")


def check_record(
    rec: SampleRecord, num_classes: int, need_video: bool, need_pose: bool
) -> list[tuple[str, str]]:
    """Problems of one sample as ``(kind, detail)`` pairs."""
    problems = []
    if not 0 <= rec.label < num_classes:
        problems.append(("label", f"label {rec.label} outside 0..{num_classes - 1}"))
    n_video = None
    if need_video:
        if rec.video is None:
            problems.append(("missing video", "no video file or frame folder found under the root"))
        else:
            try:
                reader = open_video(rec.video)
                n_video = reader.num_frames
                reader.get_frames([0, n_video - 1])
            except UserError as exc:
                problems.append(("unreadable video", str(exc)))
                n_video = None
            if rec.video.is_dir():
                problems += [("frame numbering gap", gap) for gap in frame_numbering_gaps(rec.video)]
    if need_pose:
        n_pose = kp = None
        if not rec.has_pose:
            problems.append(("missing skeleton", "no keypoints in the annotation and no skeleton file"))
        elif rec.keypoints is not None:
            kp, sc, shape = rec.keypoints, rec.scores, rec.img_shape
        else:
            try:
                kp, sc, shape = load_pose_file(rec.pose_file)
            except UserError as exc:
                problems.append(("bad skeleton", str(exc)))
        if kp is not None:
            n_pose = kp.shape[1]
            if joints_found(kp, sc, rec.img_shape or shape) == 0:
                problems.append(("no usable joint", "every joint is missing, NaN / inf or far outside the frame: "
                                 "a pose model learns nothing from this sample"))
        if n_pose is not None and n_video is not None and abs(n_pose - n_video) > FRAME_TOLERANCE:
            problems.append(("frame count mismatch", f"skeleton has {n_pose} frames, video {n_video}"))
    if rec.total_frames is not None and n_video is not None and abs(rec.total_frames - n_video) > FRAME_TOLERANCE:
        problems.append(
            ("frame count mismatch", f"annotation says {rec.total_frames} frames, video has {n_video}")
        )
    return problems


def frame_numbering_gaps(folder: Path) -> list[str]:
    """Holes in a frame folder's numbering (``img_00005.jpg`` then ``img_00009.jpg``): each a missing run of
    frames, which would shift every later frame against its skeleton and its time."""
    numbers = []
    for f in list_frame_files(folder):
        m = re.search(r"(\d+)(?=\.[^.]+$)", f.name)
        if m:
            numbers.append((int(m.group(1)), f.name))
    gaps = []
    for (a, name_a), (b, name_b) in zip(numbers, numbers[1:], strict=False):
        if b - a > 1:
            gaps.append(f"{folder}: {b - a - 1} frame(s) missing between {name_a} and {name_b}")
    return gaps


def validate_from_config(config_path: str | Path, overrides: list[str]) -> bool:
    """Scan the ``data`` section of an experiment config; print a table of problems; True when clean."""
    cfg = load_config(config_path, overrides, check_hardware=False)  # scanning data needs no GPU
    need_video, need_pose = _needs(cfg.model)
    console = Console()
    rows: list[tuple[str, str, str, str]] = []
    seen: dict[str, str] = {}
    totals = Counter()
    fmt = get_format(cfg.data.format)
    for stage in STAGES:
        split = cfg.data.splits.get(stage, stage)
        try:
            data = fmt(cfg.data, split, need_pose=False)
        except UserError as exc:
            rows.append((stage, "-", "annotation", str(exc)))
            continue
        k = len(data.class_names)
        totals[stage] = len(data.records)
        present = Counter(r.label for r in data.records)
        for c, name in enumerate(data.class_names):
            if present[c] == 0:
                rows.append((stage, "-", "label", f"class {c} '{name}' has no sample in this split"))
        for rec in track(
            data.records, description=f"checking {stage} ({len(data.records)})", console=console
        ):
            for kind, detail in check_record(rec, k, need_video, need_pose):
                rows.append((stage, rec.id, kind, detail))
            if rec.id in seen and seen[rec.id] != split:
                rows.append((stage, rec.id, "split leak", f"also in '{seen[rec.id]}'"))
            seen.setdefault(rec.id, split)
    summary = ", ".join(f"{s}: {n} samples" for s, n in totals.items()) or "no samples"
    if not rows:
        console.print(f"[green]dataset OK[/] ({cfg.data.format} at '{cfg.data.root}'; {summary})")
        return True
    table = Table(title=f"{len(rows)} problems in {cfg.data.format} dataset at '{cfg.data.root}'")
    for col in ("split", "sample", "problem", "detail"):
        table.add_column(col, overflow="fold")
    for row in rows[:MAX_ROWS]:
        table.add_row(*row)
    console.print(table)
    if len(rows) > MAX_ROWS:
        console.print(f"... and {len(rows) - MAX_ROWS} more")
    kinds = Counter(r[2] for r in rows)
    console.print(
        "[red]problems:[/] " + ", ".join(f"{k}: {n}" for k, n in kinds.most_common()) + f" ({summary})"
    )
    return False
