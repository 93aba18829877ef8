"""A timeline of actions for a long video: sliding windows, streaming decode, segments (``predict --timeline``).

    tl = run_timeline(Predictor("models/penn"), "workout.mp4")      # window / stride default from the model
    tl.segments          # [Segment(start=0.0, end=21.5, label="squat", confidence=0.83), ...]
    tl.write("workout")  # workout.timeline.json, workout.timeline.csv, workout.timeline.png

How it stays cheap and bounded for an hour-long video:

- The model sees ``num_frames`` frames per window, so the video is looked at on a grid of ``window / num_frames``
  seconds only (:class:`~deformer3d.serve.frames.FrameSampler`: one sequential decode, grid frames converted and
  downscaled, nothing else kept).
- The stride is a whole number of grid steps, so overlapping windows share grid frames: the pose of each grid
  frame is estimated once (in chunks, MediaPipe in video mode) and reused by every window that contains it.
- Only the last ``num_frames`` grid entries (pose, and the downscaled frame for models that read RGB) are kept in a
  ring; per-window results are a few floats. Memory does not grow with the video's length.

Each window is preprocessed by :func:`deformer3d.data.dataset.build_views`, the function the test split goes through
(centre crop for RGB models, whole frame for pose models), with the window's grid frames as the clip. Works for
every model kind (pose, rgb_pose, rgb, TimeSformer / ViViT). With ``persons > 1`` people are detected and tracked
(:mod:`deformer3d.pose.tracking`) and every track gets its own windows and segments; a model trained on several
persons per clip (NTU: ``max_persons = 2``) sees the main tracks together instead.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from deformer3d.data.dataset import ClipSpec, build_views, load_clip
from deformer3d.data.skeleton import clean_keypoints, get_layout, select_persons
from deformer3d.errors import UserError
from deformer3d.serve.frames import FrameSampler
from deformer3d.serve.segments import SWITCH_PENALTY, Segment, to_segments
from deformer3d.serve.windows import person_seen

# A trimmed training clip of the datasets we ship for (Penn Action: median 56 frames ~ 1.9 s) when the model's
# sampler spreads its frames over the whole clip (equidistant) and so does not say how long a clip is.
DEFAULT_WINDOW_S = 2.0
WORK_SHORT_SIDE = 360  # frames are downscaled to this short side: enough for pose and for the models' crops
POSE_CHUNK = 16  # grid frames per pose call (one video session tracks the person across chunks)
MIN_PRESENCE = 0.5  # a tracked person gets a window's label when present in at least this share of its frames

Poses = dict[int, tuple[np.ndarray, np.ndarray]]  # track id -> (keypoints (V, 2) pixels, scores (V,))


# ---- window geometry ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowPlan:
    """Windows of ``frames`` grid frames, ``step_s`` apart, starting every ``stride`` grid frames."""

    window_s: float
    stride_s: float
    step_s: float
    frames: int
    stride: int


def plan_windows(data_cfg, window_s: float | None = None, stride_s: float | None = None,
                 fps: float = 30.0) -> WindowPlan:
    """Window and stride in seconds -> the sampling grid.

    Defaults: the model's clip (``num_frames x frame_interval / fps`` for the ``uniform`` sampler; for samplers
    that spread over a whole trimmed clip, the folder's ``data.window_seconds``, else ``DEFAULT_WINDOW_S``) and
    half of it as stride. The stride is rounded to whole grid steps (at least one).
    """
    n = int(data_cfg.num_frames)
    if window_s is None:
        if data_cfg.test_sampler == "uniform" and data_cfg.frame_interval > 0:
            window_s = n * data_cfg.frame_interval / max(fps, 1e-6)
        else:
            window_s = float(getattr(data_cfg, "window_seconds", 0.0) or DEFAULT_WINDOW_S)
    if window_s <= 0:
        raise UserError(f"--window {window_s}: the window must be > 0 seconds")
    step = window_s / n
    if stride_s is None:
        stride_s = window_s / 2
    if stride_s <= 0:
        raise UserError(f"--stride {stride_s}: the stride must be > 0 seconds")
    stride = max(1, int(round(stride_s / step)))
    return WindowPlan(float(window_s), stride * step, step, n, stride)


# ---- poses per grid frame -------------------------------------------------------------------------------------------
class PoseSource(Protocol):
    """Poses of a chunk of consecutive grid frames, per frame a dict ``track id -> (kp (V, 2), sc (V,))``."""

    layout: str

    def process(self, images: list[np.ndarray]) -> list[Poses]: ...

    def close(self) -> None: ...


class MainPersonPoses:
    """The single-person estimator (MediaPipe) on whole frames: one track, id 0. The chunks of one video or stream
    go through one video session, so the person is tracked across chunk boundaries."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.layout = getattr(estimator, "layout", "coco17")
        self.session = estimator.video_session()

    def process(self, images: list[np.ndarray]) -> list[Poses]:
        kp, sc = self.session.estimate(np.stack(images))  # (1, T, V, 2), (1, T, V)
        return [{0: (kp[0, t], sc[0, t])} if sc[0, t].max() > 0 else {} for t in range(len(images))]

    def close(self) -> None:
        self.session.close()
        self.estimator.close()


def to_model_layout(kp: np.ndarray, sc: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of layout ``src`` -> the model's layout ``dst`` (``(..., V, 2)``, ``(..., V)``)."""
    if src == dst:
        return kp, sc
    from deformer3d.data.skeleton import convert_layout

    return convert_layout(kp, sc, src, dst)


# ---- one window through the model -----------------------------------------------------------------------------------
class WindowClassifier:
    """Class probabilities of one window, preprocessed like a test clip of the model's own pipeline."""

    def __init__(self, predictor):
        self.predictor = predictor
        # the window's grid frames ARE the clip: take each once, in order
        self.cfg = dataclasses.replace(predictor.data_cfg, test_sampler="equidistant", frame_interval=1)
        self.layout = get_layout(self.cfg.layout)
        self.uses_video, self.uses_pose = predictor.uses_video, predictor.uses_pose

    def probs(self, images: np.ndarray | None, keypoints: np.ndarray | None, scores: np.ndarray | None,
              hw: tuple[int, int]) -> np.ndarray:
        """``images (F, h, w, 3)`` uint8 (RGB models), ``keypoints (M, F, V, 2)`` pixels of those frames and
        ``scores (M, F, V)`` (pose models) -> ``(K,)`` softmax probabilities."""
        if not self.uses_video:  # exactly the predictor's path for a pose-only window
            out = load_clip("window", self.cfg, keypoints=keypoints, scores=scores, need_video=False, need_pose=True)
        else:
            kp = sc = None
            if keypoints is not None:  # a pose also places the person crop of an RGB-only model (tracking mode)
                kp, sc = select_persons(*clean_keypoints(keypoints, scores), self.cfg.max_persons)
            spec = ClipSpec(self.cfg.num_frames, 1, 1, False, True, self.uses_pose, False)
            out, _ = build_views(lambda ids: images[np.asarray(ids)], len(images), hw, kp, sc, self.cfg, spec,
                                 self.layout, np.random.default_rng(0))
        device = self.predictor.device
        video = out["video"][None].to(device) if self.uses_video else None
        pose = out["pose"][None].to(device) if self.uses_pose else None
        with torch.inference_mode():
            logits = self.predictor.model(video=video, pose=pose).logits
        return torch.softmax(logits.float(), dim=-1)[0].cpu().numpy()


# ---- results --------------------------------------------------------------------------------------------------------
@dataclass
class TrackWindows:
    """All windows of one subject (a tracked person, or ``None`` = the whole scene / main persons)."""

    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    centres: list[tuple[float, float] | None] = field(default_factory=list)  # (x, y) in [0, 1] of the frame
    seen: list[bool] = field(default_factory=list)  # somebody was seen in the window (pose models)

    def centre(self) -> tuple[float, float] | None:
        """Where the subject was on average (x, y in [0, 1] of the frame), None without a pose."""
        known = [c for c in self.centres if c is not None]
        return tuple(np.median(np.array(known), axis=0).tolist()) if known else None


@dataclass
class Timeline:
    """What :func:`run_timeline` returns: windows per subject, segments, and how long each stage took."""

    video: str
    model: str
    labels: list[str]
    plan: WindowPlan
    duration: float
    fps: float
    windows: dict[int | None, TrackWindows]
    segments: list[Segment]
    timings: dict[str, float]
    top_k: int = 5

    @property
    def tracks(self) -> list[int | None]:
        return list(self.windows)

    def segments_of(self, track: int | None) -> list[Segment]:
        return [s for s in self.segments if s.track == track]

    def to_dict(self) -> dict[str, Any]:
        windows = []
        for track, tw in self.windows.items():
            for s, e, p, seen in zip(tw.starts, tw.ends, tw.probs, tw.seen, strict=True):
                best = np.argsort(-p)[: self.top_k]
                windows.append({"track": track, "start": round(s, 3), "end": round(e, 3), "person_seen": seen,
                                "top_k": [{"label": self.labels[i], "probability": round(float(p[i]), 6)}
                                          for i in best]})
        return {
            "video": self.video, "model": self.model, "duration_s": round(self.duration, 3), "fps": self.fps,
            "window_s": round(self.plan.window_s, 4), "stride_s": round(self.plan.stride_s, 4),
            "frames_per_window": self.plan.frames, "tracks": self.tracks,
            "track_centres": {str(t): tw.centre() for t, tw in self.windows.items() if t is not None},
            "segments": [s.to_dict() for s in self.segments], "windows": windows,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def write(self, prefix: str | Path) -> dict[str, Path]:
        """``PREFIX.timeline.json`` (everything), ``.csv`` (segments), ``.png`` (figure) -> their paths."""
        from deformer3d.serve.timeline_figure import plot_timeline

        prefix = Path(prefix)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        paths = {ext: prefix.with_name(prefix.name + f".timeline.{ext}") for ext in ("json", "csv", "png")}
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2))
        with paths["csv"].open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["track", "start_s", "end_s", "label", "confidence"])
            for s in self.segments:
                writer.writerow(["" if s.track is None else s.track, f"{s.start:.3f}", f"{s.end:.3f}", s.label,
                                 f"{s.confidence:.4f}"])
        plot_timeline(self, paths["png"])
        return paths


# ---- the streaming loop ---------------------------------------------------------------------------------------------
@dataclass
class Entry:
    """One grid frame in the ring: its time (s), the downscaled frame (RGB models) and the poses on it."""

    time: float
    image: np.ndarray | None
    poses: Poses


def run_timeline(
    predictor, source: str | Path | bytes, *, window_s: float | None = None, stride_s: float | None = None,
    persons: int = 1, top_k: int = 5, min_segment_s: float | None = None, smooth: int = 3,
    switch_penalty: float = SWITCH_PENALTY, progress: bool | Callable[[float, float], None] = True, name: str | None = None,
) -> Timeline:
    """Slide windows over ``source`` (path, URL or bytes) in one streaming pass; see the module docstring.

    ``persons``: 1 = the main person (single-person pose on whole frames); N > 1 = detect and track up to N people.
    ``min_segment_s``: shorter segments merge into a neighbour (default: the window). ``switch_penalty``: the cost
    of a change of class in nats (:func:`~deformer3d.serve.segments.to_segments`; 0 = each window's top class).
    ``progress``: a rich bar on
    stderr (True), none (False), or a callback ``(done_s, total_s)``.
    """
    if top_k < 1:
        raise UserError(f"top_k={top_k}: must be >= 1")
    if persons < 1:
        raise UserError(f"--persons {persons}: must be >= 1")
    video_name = name or ("<uploaded video>" if isinstance(source, (bytes, bytearray)) else str(source))
    if isinstance(source, (str, Path)) and "://" not in str(source) and not Path(source).is_file():
        raise UserError(f"{video_name}: file not found")
    probe = FrameSampler(source, 1.0, name=video_name)
    fps, duration = (probe.info.fps, probe.info.duration) if probe.info else (30.0, 0.0)
    probe.close()
    plan = plan_windows(predictor.data_cfg, window_s, stride_s, fps)
    classifier = WindowClassifier(predictor)
    short = max(WORK_SHORT_SIDE, int(predictor.data_cfg.resize_short))
    poses = pose_source(predictor, persons) if (predictor.uses_pose or persons > 1) else None
    model_layout = predictor.data_cfg.layout
    timings = {"decode": 0.0, "pose": 0.0, "model": 0.0}
    results: dict[int | None, TrackWindows] = {}
    ring: deque[Entry] = deque(maxlen=plan.frames)
    count = 0
    last_emitted = -1
    hw = (0, 0)

    def emit() -> None:
        nonlocal last_emitted
        entries = list(ring)
        # the end is clipped to where the video ends once that is known (below): the decoder's position now is
        # only the end of the chunk read so far, not of the video
        start, end = entries[0].time, entries[-1].time + plan.step_s
        t0 = time.perf_counter()
        for track, (images, kp, sc, centre) in subjects(entries, classifier, poses, model_layout, persons, hw).items():
            tw = results.setdefault(track, TrackWindows())
            tw.starts.append(start)
            tw.ends.append(end)
            tw.probs.append(classifier.probs(images, kp, sc, images.shape[1:3] if images is not None else hw))
            tw.centres.append(centre)
            # the predictor's rule: a pose model's window without a person says nothing about the action
            tw.seen.append(person_seen(sc, classifier.uses_video))
        timings["model"] += time.perf_counter() - t0
        last_emitted = count

    pending: list = []

    def flush() -> None:
        nonlocal count, hw
        if not pending:
            return
        t0 = time.perf_counter()
        frame_poses = poses.process([p.image for p in pending]) if poses is not None else [{}] * len(pending)
        timings["pose"] += time.perf_counter() - t0
        for p, fp in zip(pending, frame_poses, strict=True):
            hw = p.image.shape[:2]
            ring.append(Entry(p.time, p.image if classifier.uses_video else None, fp))
            count += 1
            if count >= plan.frames and (count - plan.frames) % plan.stride == 0:
                emit()
        pending.clear()

    bar = _progress(progress, duration, video_name)
    t_wall = time.perf_counter()
    sampler = FrameSampler(source, plan.step_s, short_side=short, name=video_name)
    try:
        with sampler:
            frames = iter(sampler)
            while True:
                t0 = time.perf_counter()
                f = next(frames, None)
                timings["decode"] += time.perf_counter() - t0
                if f is None:
                    break
                pending.append(f)
                if len(pending) >= max(POSE_CHUNK, plan.stride):
                    flush()
                    bar(f.time + plan.step_s)
            flush()
            # the end: a video shorter than one window gets one window; a tail longer than half a stride its own
            if count and (last_emitted < 0 or (count - last_emitted) * 2 >= plan.stride):
                if count >= 2 or not classifier.uses_video:
                    emit()
            bar(sampler.end_time, final=True)
    finally:
        bar.close()
        if poses is not None:
            poses.close()
    timings["wall"] = time.perf_counter() - t_wall
    seen = sampler.end_time
    for tw in results.values():
        tw.ends = [min(e, seen) for e in tw.ends]
    min_seg = plan.window_s if min_segment_s is None else min_segment_s
    segments = []
    for track, tw in results.items():
        segments += to_segments(np.array(tw.starts), np.array(tw.ends), np.stack(tw.probs), predictor.labels,
                                min_duration=min_seg, smooth=smooth, track=track, seen=np.array(tw.seen),
                                switch_penalty=switch_penalty)
    return Timeline(video_name, predictor.model_name, list(predictor.labels), plan, max(seen, 0.0), fps, results,
                    segments, timings, top_k)


def pose_source(predictor, persons: int) -> PoseSource:
    from deformer3d.pose import build_pose_estimator

    if persons > 1:
        from deformer3d.pose.tracking import TrackedPoses

        return TrackedPoses(max_people=persons, backend=predictor.pose_backend)
    return MainPersonPoses(build_pose_estimator(predictor.pose_backend, static_image_mode=False))


def subjects(entries: list[Entry], classifier: WindowClassifier, poses: PoseSource | None, model_layout: str,
             persons: int, hw: tuple[int, int]) -> dict[int | None, tuple]:
    """Who gets a label in this window -> ``(images | None, keypoints (M, F, V, 2) | None, scores | None,
    centre (x, y) in [0, 1] of the frame ``hw`` | None)``.

    Single-person mode: one subject (``None``), the main person's pose (zeros where none was found, like
    ``predict``). Tracking mode: every track present in ``MIN_PRESENCE`` of the window (an RGB model crops around
    it when its ``data.person_crop`` says so); a model trained on ``max_persons > 1`` persons gets the tracks
    together.
    """
    images = np.stack([e.image for e in entries]) if classifier.uses_video else None
    if poses is None:
        return {None: (images, None, None, None)}
    n = len(entries)
    tracks = sorted({t for e in entries for t in e.poses})
    present = {t: sum(t in e.poses for e in entries) for t in tracks}
    v_src = next((kp.shape[0] for e in entries for kp, _ in e.poses.values()), None)

    def stack(track: int) -> tuple[np.ndarray, np.ndarray]:
        kp = np.zeros((n, v_src or 17, 2), np.float32)
        sc = np.zeros((n, v_src or 17), np.float32)
        for i, e in enumerate(entries):
            if track in e.poses:
                kp[i], sc[i] = e.poses[track]
        return to_model_layout(kp, sc, poses.layout, model_layout)

    if persons == 1:
        kp, sc = stack(0)
        return {None: (images, kp[None], sc[None], None) if classifier.uses_pose else (images, None, None, None)}
    main = [t for t in tracks if present[t] >= MIN_PRESENCE * n]
    if classifier.cfg.max_persons > 1:
        if not main:
            return {}
        stacked = [stack(t) for t in main]
        kp = np.stack([k for k, _ in stacked])
        sc = np.stack([s for _, s in stacked])
        return {None: (images, kp, sc, None)}
    out = {}
    for t in main:
        kp, sc = stack(t)
        # an RGB model follows the person through the model's own person crop (data.person_crop)
        out[t] = (images, kp[None], sc[None], _centre(kp, sc, hw))
    return out


def _centre(kp: np.ndarray, sc: np.ndarray, hw: tuple[int, int]) -> tuple[float, float] | None:
    """The median of the joints ``(M, F, V, 2)`` with a score, as (x, y) in [0, 1] of the frame ``hw``."""
    pts = kp[sc > 0]
    if len(pts) == 0:
        return None
    x, y = np.median(pts, axis=0)
    return float(x) / hw[1], float(y) / hw[0]


class _Bar:
    """A rich progress bar over video seconds with ETA and speed (x real time), or a callback, or nothing."""

    def __init__(self, progress, total: float, name: str):
        self.callback = progress if callable(progress) else None
        self.total = total
        self.rich = None
        if progress is True:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.rich = Progress(
                TextColumn("[bold]timeline"), BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} s of video"), TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
            )
            self.rich.start()
            self.task = self.rich.add_task(Path(name).name, total=total or None, speed="")
        self.t0 = time.perf_counter()

    def __call__(self, done: float, final: bool = False) -> None:
        if final and not self.total:
            self.total = done
        if self.callback is not None:
            self.callback(min(done, self.total) if self.total else done, self.total)
        if self.rich is not None:
            speed = done / max(time.perf_counter() - self.t0, 1e-6)
            self.rich.update(self.task, completed=min(done, self.total) if self.total else done,
                             total=self.total or None, speed=f"{speed:.1f}x real time")

    def close(self) -> None:
        if self.rich is not None:
            self.rich.stop()


def _progress(progress, total: float, name: str) -> _Bar:
    return _Bar(progress, total, name)


# ---- per-person summary (predict --persons N) and the CLI -----------------------------------------------------------
def track_top_k(timeline: Timeline, top_k: int = 5) -> dict[int | None, list[tuple[str, float]]]:
    """Each subject's labels over the whole video: its window probabilities averaged, best ``top_k`` first."""
    out = {}
    for track, tw in timeline.windows.items():
        mean = np.stack(tw.probs).mean(0)
        best = np.argsort(-mean)[:top_k]
        out[track] = [(timeline.labels[i], float(mean[i])) for i in best]
    return out


def timeline_cli(
    video: Path, model_dir: Path | None, *, window_s: float | None = None, stride_s: float | None = None,
    persons: int = 1,
    top_k: int = 5, out: Path | None = None, as_json: bool = False, timeline: bool = True,
) -> Timeline:
    """``deformer3d predict VIDEO --timeline`` (segments table + JSON / CSV / PNG) and ``--persons N`` without
    ``--timeline`` (one top-k per tracked person)."""
    from rich.console import Console
    from rich.table import Table

    from deformer3d.pretrained import resolve_model
    from deformer3d.serve.predictor import Predictor

    predictor = Predictor(resolve_model(model_dir))
    try:
        tl = run_timeline(predictor, video, window_s=window_s, stride_s=stride_s, persons=persons, top_k=top_k,
                          progress=not as_json)
    finally:
        predictor.close()
    console = Console()
    per_person = track_top_k(tl, top_k)
    if not per_person:
        raise UserError(f"{video}: no person was tracked for at least {MIN_PRESENCE:.0%} of any window; "
                        "is anyone visible? (try --persons 1 for the main person only)")
    if not timeline:
        payload = {"video": tl.video, "model": tl.model, "persons": [
            {"track": t, "centre": tl.windows[t].centre(),
             "top_k": [{"label": n, "probability": round(p, 6)} for n, p in best]}
            for t, best in per_person.items()]}
        if as_json:
            print(json.dumps(payload, indent=2))
            return tl
        for t, best in per_person.items():
            c = tl.windows[t].centre()
            where = f" (at x={c[0]:.2f}, y={c[1]:.2f} of the frame)" if c else ""
            table = Table(title=f"{Path(video).name}: person {t}{where}", caption=predictor.describe())
            table.add_column("#", justify="right")
            table.add_column("action")
            table.add_column("probability", justify="right")
            for rank, (n, p) in enumerate(best, 1):
                table.add_row(str(rank), n, f"{p:.3f}")
            console.print(table)
        return tl
    paths = tl.write(out if out is not None else Path(Path(video).stem))
    if as_json:
        print(json.dumps(tl.to_dict() | {"files": {k: str(v) for k, v in paths.items()}}, indent=2))
        return tl
    table = Table(title=f"{Path(video).name}: {len(tl.segments)} segments", caption=predictor.describe())
    for col in (["person"] if persons > 1 else []) + ["start", "end", "action", "confidence"]:
        table.add_column(col, justify="left" if col == "action" else "right")
    for s in tl.segments:
        row = [f"{s.start:.1f} s", f"{s.end:.1f} s", s.label, f"{s.confidence:.2f}"]
        table.add_row(*(([str(s.track)] if persons > 1 else []) + row))
    console.print(table)
    t = tl.timings
    speed = tl.duration / max(t["wall"], 1e-6)
    console.print(f"{tl.duration:.1f} s of video in {t['wall']:.1f} s ({speed:.2f}x real time; decode "
                  f"{t['decode']:.1f} s, pose {t['pose']:.1f} s, model {t['model']:.1f} s); window "
                  f"{tl.plan.window_s:.2g} s, stride {tl.plan.stride_s:.2g} s")
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))
    return tl
