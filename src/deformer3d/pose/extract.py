"""Extract 2D poses for every video of a folder into one pyskl pkl (``deformer3d extract-poses``).

    summary = extract_folder("videos/", "poses.pkl", workers=2)

Class sub-folders become labels (sorted names -> 0..K-1, stored as ``class_names``); videos directly in the folder
get label -1. Each annotation holds ``frame_dir`` (the video's path under the folder without suffix), ``filename``
(the path with suffix), ``label``, ``img_shape``, ``total_frames``, ``fps``, ``keypoint (M, T, 17, 2)`` and
``keypoint_score (M, T, 17)``; the split ``all`` lists every video.

Resumable: each finished video is written at once to ``OUT.pkl.parts/`` (one ``.npz`` per video, written to a
temporary name and renamed, so an interrupted run never leaves half a file); a rerun skips the videos that already
have a part or are already in ``OUT.pkl``. The pkl itself is written (atomically) when all videos are done, and the
parts folder is then removed. Videos that cannot be decoded are listed in the summary, left out, and tried again by
the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from deformer3d.data.formats.pyskl import read_pyskl, write_pyskl
from deformer3d.data.video import VIDEO_SUFFIXES, again_after_recount, open_video
from deformer3d.errors import UserError, VideoError
from deformer3d.pose.base import POSE_SHORT_SIDE, PoseEstimator, build_pose_estimator

CHUNK_FRAMES = 64  # frames decoded at a time: a long HD video is never held in memory whole
console = Console(stderr=True)


@dataclass
class ExtractSummary:
    """What one ``extract_folder`` run did."""

    out: Path
    total: int = 0  # videos in the folder
    processed: int = 0  # estimated in this run
    skipped: int = 0  # already done by an earlier run
    failed: dict[str, str] = field(default_factory=dict)  # frame_dir -> reason


def find_videos(video_dir: Path) -> list[Path]:
    """Video files under ``video_dir`` (recursively), sorted for a deterministic order."""
    return sorted(p for p in video_dir.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def estimate_video(path: str | Path, estimator: PoseEstimator) -> dict:
    """Decode ``path`` in chunks (reduced to :data:`POSE_SHORT_SIDE` in the decoder, so memory does not grow with
    the picture size) and estimate its poses -> a pyskl annotation without ``label`` / ``frame_dir``; keypoints in
    pixels of the full-size upright video (``img_shape``)."""
    reader = open_video(path, short_side=POSE_SHORT_SIDE)
    # the index may over-announce; then the reader recounts by decoding and the estimate runs over what decodes
    keypoint, score = again_after_recount(lambda: estimator.estimate_chunks(reader.iter_frames(chunk=CHUNK_FRAMES)))
    return {
        "img_shape": (int(reader.source_height), int(reader.source_width)),
        "total_frames": int(keypoint.shape[1]),
        "fps": float(reader.fps),
        "keypoint": reader.to_source_pixels(keypoint).astype(np.float32),
        "keypoint_score": score.astype(np.float32),
    }


# ---- per-video parts (the resumable state) ----------------------------------------------------------------------
def _part_path(parts: Path, frame_dir: str) -> Path:
    return parts / (hashlib.sha1(frame_dir.encode()).hexdigest()[:16] + ".npz")


def _write_part(parts: Path, frame_dir: str, ann: dict) -> None:
    parts.mkdir(parents=True, exist_ok=True)
    final = _part_path(parts, frame_dir)
    tmp = final.with_suffix(f".tmp{os.getpid()}.npz")
    meta = {k: ann[k] for k in ("img_shape", "total_frames", "fps")} | {"frame_dir": frame_dir}
    # plain arrays + a JSON string: np.load(allow_pickle=False) can read it back without unpickling
    np.savez(tmp, keypoint=ann["keypoint"], keypoint_score=ann["keypoint_score"], meta=np.array(json.dumps(meta)))
    os.replace(tmp, final)


def _read_part(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        meta["img_shape"] = tuple(meta["img_shape"])
        return meta | {"keypoint": z["keypoint"], "keypoint_score": z["keypoint_score"]}


# ---- worker side --------------------------------------------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(backend: str, parts: str) -> None:
    _WORKER["estimator"] = build_pose_estimator(backend)
    _WORKER["parts"] = Path(parts)


def _work(path: str, frame_dir: str) -> tuple[str, str | None]:
    """Estimate one video and write its part; returns (frame_dir, error message or None)."""
    try:
        ann = estimate_video(path, _WORKER["estimator"])
    except VideoError as exc:
        return frame_dir, str(exc)
    _write_part(_WORKER["parts"], frame_dir, ann)
    return frame_dir, None


# ---- driver -------------------------------------------------------------------------------------------------------
def extract_folder(
    video_dir: str | Path, out_pkl: str | Path, workers: int = 1, backend: str = "mediapipe", progress: bool = True
) -> ExtractSummary:
    """Estimate the poses of every video under ``video_dir`` and write the pyskl pkl ``out_pkl``; resumable.

    ``workers`` > 1 runs that many processes (each with its own estimator). Returns an :class:`ExtractSummary`;
    raises :class:`UserError` when the folder has no videos or no video could be read.
    """
    video_dir, out_pkl = Path(video_dir), Path(out_pkl)
    if not video_dir.is_dir():
        raise UserError(f"{video_dir}: not a folder (extract-poses expects a folder of videos)")
    videos = find_videos(video_dir)
    if not videos:
        raise UserError(f"{video_dir}: no videos found ({', '.join(VIDEO_SUFFIXES)})")
    if workers < 1:
        raise UserError(f"--workers {workers}: must be >= 1")
    build_pose_estimator(backend).close()  # fail on a bad backend / missing MediaPipe before any work

    ids = {p: p.relative_to(video_dir).with_suffix("").as_posix() for p in videos}
    classes = sorted({p.relative_to(video_dir).parts[0] for p in videos if len(p.relative_to(video_dir).parts) > 1})
    parts = out_pkl.with_name(out_pkl.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    summary = ExtractSummary(out=out_pkl, total=len(videos))

    # what an earlier run already finished: annotations in the pkl, parts on disk
    done: dict[str, dict] = {}
    if out_pkl.is_file():
        done = {a["frame_dir"]: a for a in read_pyskl(out_pkl)["annotations"]}
    todo = [p for p in videos if ids[p] not in done and not _part_path(parts, ids[p]).is_file()]
    summary.skipped = len(videos) - len(todo)

    columns = (TextColumn("[bold]poses"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=console, disable=not progress) as bar:
        task = bar.add_task("", total=len(videos), completed=summary.skipped)
        if workers == 1:
            _init_worker(backend, str(parts))
            try:
                for p in todo:
                    _record(summary, *_work(str(p), ids[p]), bar, task)
            finally:
                _WORKER.pop("estimator").close()
        else:
            # spawn: a fresh interpreter per worker; MediaPipe's threads and forked torch state do not mix
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                     initargs=(backend, str(parts))) as pool:
                futures = [pool.submit(_work, str(p), ids[p]) for p in todo]
                for fut in as_completed(futures):
                    _record(summary, *fut.result(), bar, task)

    annotations = []
    for p in videos:
        frame_dir = ids[p]
        if frame_dir in summary.failed:
            continue
        ann = done.get(frame_dir) or _read_part(_part_path(parts, frame_dir))
        rel = p.relative_to(video_dir)
        label = classes.index(rel.parts[0]) if len(rel.parts) > 1 else -1
        annotations.append({**ann, "frame_dir": frame_dir, "filename": rel.as_posix(), "label": label})
    if not annotations:
        raise UserError(f"{video_dir}: none of the {len(videos)} videos could be read: {_failures(summary)}")
    tmp = out_pkl.with_name(out_pkl.name + f".tmp{os.getpid()}")
    write_pyskl(tmp, annotations, {"all": [a["frame_dir"] for a in annotations]}, class_names=classes)
    os.replace(tmp, out_pkl)  # readers never see a half-written pkl
    shutil.rmtree(parts, ignore_errors=True)  # everything is in the pkl now; failed videos are retried next run
    _report(summary)
    return summary


def _record(summary: ExtractSummary, frame_dir: str, error: str | None, bar: Progress, task) -> None:
    if error is None:
        summary.processed += 1
    else:
        summary.failed[frame_dir] = error
    bar.update(task, advance=1, description=frame_dir)


def _failures(summary: ExtractSummary) -> str:
    return "; ".join(summary.failed.values())


def _report(summary: ExtractSummary) -> None:
    console.print(
        f"{summary.out}: {summary.total - len(summary.failed)} videos "
        f"({summary.processed} estimated now, {summary.skipped} from an earlier run)"
    )
    for frame_dir, reason in summary.failed.items():
        console.print(f"[yellow]skipped[/] {frame_dir}: {reason}")
