"""Live recognition on a camera, a stream or a file played at its own frame rate (``deformer3d watch``).

    reports = watch(Predictor("models/penn"), "rtsp://camera/stream", on_report=print)

Two threads and a bounded ring between them:

- the **reader** decodes the source (:class:`~deformer3d.serve.frames.FrameSampler`: only the frames on the
  model's sampling grid are converted and downscaled) and puts each into the ring with its arrival time; a file
  is played at its own rate (each frame waits for its presentation time), a camera or stream paces itself;
- the **worker** takes the newest ``stride`` frames whenever they are there, estimates their poses (one chunk),
  runs the model on the window of the last ``window`` seconds and reports a rolling label (the probabilities of
  the last ``smooth`` windows averaged), the latency of each stage, the frames per second it keeps up with and
  the lag (now minus the time the newest frame it has used was due).

When the worker falls behind, the ring keeps only the newest frames and the worker skips to them: the frames in
between are dropped and counted in the report, so the lag stays bounded instead of growing. A window whose frames
were thinned by drops is filled with the nearest frames in time, so the model still sees ``window`` seconds.
``out=`` writes the frames the worker used, with the skeletons and the current label drawn, as an MP4.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from deformer3d.errors import UserError
from deformer3d.serve.frames import FrameSampler, SampledFrame
from deformer3d.serve.segments import NO_PERSON
from deformer3d.serve.timeline import (
    WORK_SHORT_SIDE,
    Entry,
    WindowClassifier,
    plan_windows,
    pose_source,
    subjects,
)
from deformer3d.serve.windows import person_seen

RING_WINDOWS = 2  # the ring holds two windows of grid frames: beyond that the oldest are dropped
SMOOTH = 3  # windows averaged into the rolling label


# ---- the source ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveSource:
    """How to open what the user named: ``target`` for PyAV, its input ``format`` and ``options``, and whether
    frames must be paced to their timestamps (files) or arrive in real time already (cameras, streams)."""

    name: str
    target: str
    format: str | None
    options: dict[str, str]
    paced: bool


def parse_source(spec: str) -> LiveSource:
    """``0`` (webcam index: ``/dev/video0``), ``rtsp://`` / ``http(s)://`` URL, or a video file."""
    spec = str(spec)
    if spec.isdigit():
        return LiveSource(f"camera {spec}", f"/dev/video{spec}", "v4l2", {}, paced=False)
    if "://" in spec:
        options = {"rtsp_transport": "tcp"} if spec.lower().startswith("rtsp") else {}
        return LiveSource(spec, spec, None, options, paced=False)
    if not Path(spec).is_file():
        raise UserError(f"{spec}: file not found (watch takes a video file, a webcam index such as 0, or an "
                        "rtsp:// / http:// URL)")
    return LiveSource(spec, spec, None, {}, paced=True)


# ---- the ring between the threads -----------------------------------------------------------------------------------
@dataclass
class Arrival:
    frame: SampledFrame
    due: float  # time.perf_counter() when it should be seen: its presentation time (files), its arrival (live)
    decode_s: float  # reader time spent to produce it (decoding the frames since the previous grid frame)


class FrameRing:
    """The newest ``capacity`` frames; putting into a full ring drops the oldest (counted in ``dropped``)."""

    def __init__(self, capacity: int):
        self.items: deque[Arrival] = deque()
        self.capacity = capacity
        self.cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, item: Arrival) -> None:
        with self.cond:
            if len(self.items) >= self.capacity:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.cond.notify()

    def take(self, n: int, timeout: float | None = None) -> list[Arrival]:
        """Wait for ``n`` frames (or the end, or ``timeout`` s), return the newest ``n``; older waiting ones are
        dropped."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.items) >= n or self.closed, timeout)
            items = list(self.items)
            self.items.clear()
            self.dropped += max(0, len(items) - n)
            return items[-n:] if items else []

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class Reader(threading.Thread):
    """Decode ``source`` into ``ring`` (paced to presentation times for files) until the end or :meth:`stop`."""

    def __init__(self, source: LiveSource, ring: FrameRing, step_s: float, short_side: int):
        super().__init__(daemon=True, name="deformer3d-reader")
        self.source, self.ring = source, ring
        self.sampler = FrameSampler(source.target, step_s, short_side=short_side, name=source.name,
                                    options=source.options, format=source.format)
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.started_at = 0.0

    def run(self) -> None:
        try:
            frames = iter(self.sampler)
            self.started_at = time.perf_counter()
            while not self.stopping.is_set():
                t0 = time.perf_counter()
                f = next(frames, None)
                spent = time.perf_counter() - t0
                if f is None:
                    break
                if self.source.paced:  # a file plays at its own rate: wait for the frame's presentation time
                    delay = self.started_at + f.time - time.perf_counter()
                    if delay > 0 and self.stopping.wait(delay):
                        break
                due = self.started_at + f.time if self.source.paced else time.perf_counter()
                self.ring.put(Arrival(f, due, spent))
        except BaseException as exc:  # noqa: BLE001 - handed to the worker thread, which raises it
            self.error = exc
        finally:
            self.sampler.close()
            self.ring.close()

    def stop(self) -> None:
        self.stopping.set()


# ---- reports -------------------------------------------------------------------------------------------------------
@dataclass
class Report:
    """One update of the rolling label.

    ``time``: video time (s) of the newest frame used; ``labels``: subject -> ``(label, confidence)`` (subject
    ``"all"`` in single-person mode, else the track id); ``lag_s``: now minus the time that frame was due (its
    presentation time for a file played in real time, its arrival for a camera or stream); ``wall_s``: seconds
    since the watch started; ``fps``: grid
    frames per second the worker used since the previous report (the source offers ``source_fps``); ``dropped``:
    frames skipped so far (``dropped_new`` since the previous report); ``latency_ms``: decode and pose per frame,
    model per window.
    """

    time: float
    labels: dict[str, tuple[str, float]]
    lag_s: float
    wall_s: float
    fps: float
    source_fps: float
    dropped: int
    dropped_new: int
    latency_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = {k: {"label": v[0], "confidence": round(v[1], 4)} for k, v in self.labels.items()}
        d["time"], d["lag_s"], d["fps"] = round(self.time, 3), round(self.lag_s, 4), round(self.fps, 2)
        d["wall_s"] = round(self.wall_s, 3)
        d["latency_ms"] = {k: round(v, 2) for k, v in self.latency_ms.items()}
        return d

    def line(self) -> str:
        who = "  ".join(f"{'' if k == 'all' else f'person {k}: '}{lab} {p:.2f}" for k, (lab, p) in self.labels.items())
        lat = ", ".join(f"{k} {v:.0f} ms" for k, v in self.latency_ms.items())
        behind = f"  [yellow]behind: dropped {self.dropped_new} frames to keep up[/]" if self.dropped_new else ""
        return (f"{self.time:7.1f} s  [bold]{who or 'nobody in view'}[/]  lag {self.lag_s:.2f} s  "
                f"{self.fps:.1f}/{self.source_fps:.1f} fps  ({lat}){behind}")


# ---- the worker ----------------------------------------------------------------------------------------------------
def window_entries(history: deque[Entry], frames: int, step_s: float) -> list[Entry]:
    """The ``frames`` grid times ending at the newest entry -> the nearest entry in time for each (entries thinned
    by drops are repeated, so the window still spans ``frames x step_s`` seconds)."""
    times = np.array([e.time for e in history])
    grid = times[-1] - step_s * np.arange(frames - 1, -1, -1)
    grid = grid[grid >= times[0] - step_s / 2]  # at the start, only the part of the window already seen
    pick = np.abs(times[None, :] - grid[:, None]).argmin(1)
    return [history[i] for i in pick]


def watch(
    predictor, source: str, *, window_s: float | None = None, stride_s: float | None = None, persons: int = 1,
    seconds: float | None = None, out: str | Path | None = None, on_report: Callable[[Report], None] | None = None,
) -> list[Report]:
    """Run live recognition on ``source`` (see :func:`parse_source`) until it ends, ``seconds`` pass, or Ctrl-C.
    Returns every report (also handed to ``on_report`` as it happens)."""
    src = parse_source(source)
    if persons < 1:
        raise UserError(f"--persons {persons}: must be >= 1")
    plan = plan_windows(predictor.data_cfg, window_s, stride_s, 30.0)
    if predictor.data_cfg.test_sampler == "uniform" and window_s is None:
        # the uniform sampler's window depends on the source's rate: ask the container first
        with FrameSampler(src.target, 1.0, name=src.name, options=src.options, format=src.format) as probe:
            fps = probe.info.fps if probe.info else 30.0
        plan = plan_windows(predictor.data_cfg, None, stride_s, fps)
    classifier = WindowClassifier(predictor)
    poses = pose_source(predictor, persons) if (predictor.uses_pose or persons > 1) else None
    ring = FrameRing(RING_WINDOWS * plan.frames)
    reader = Reader(src, ring, plan.step_s, max(WORK_SHORT_SIDE, int(predictor.data_cfg.resize_short)))
    history: deque[Entry] = deque(maxlen=plan.frames)
    recent: dict[str, deque] = {}
    writer = None
    reports: list[Report] = []
    last_wall, last_dropped = time.perf_counter(), 0
    t_start = time.perf_counter()
    t_end = None if seconds is None else t_start + seconds
    reader.start()
    try:
        while t_end is None or time.perf_counter() < t_end:
            items = ring.take(plan.stride, None if t_end is None else max(0.0, t_end - time.perf_counter()))
            if not items:
                break
            t0 = time.perf_counter()
            frame_poses = poses.process([a.frame.image for a in items]) if poses is not None else [{}] * len(items)
            pose_ms = 1000 * (time.perf_counter() - t0) / len(items)
            for a, fp in zip(items, frame_poses, strict=True):
                history.append(Entry(a.frame.time, a.frame.image if classifier.uses_video else None, fp))
            entries = window_entries(history, plan.frames, plan.step_s)
            hw = items[-1].frame.image.shape[:2]
            t0 = time.perf_counter()
            labels = {}
            chosen = subjects(entries, classifier, poses, predictor.data_cfg.layout, persons, hw)
            for track, (images, kp, sc, _) in chosen.items():
                key = "all" if track is None else str(track)
                if not person_seen(sc, classifier.uses_video):  # nobody in view: no action to name
                    recent.pop(key, None)
                    labels[key] = (NO_PERSON, 1.0)
                    continue
                probs = classifier.probs(images, kp, sc, images.shape[1:3] if images is not None else hw)
                recent.setdefault(key, deque(maxlen=SMOOTH)).append(probs)
                mean = np.mean(recent[key], axis=0)
                labels[key] = (predictor.labels[int(mean.argmax())], float(mean.max()))
            model_ms = 1000 * (time.perf_counter() - t0) / max(1, len(chosen))
            now = time.perf_counter()
            report = Report(
                time=items[-1].frame.time, labels=labels, lag_s=now - items[-1].due, wall_s=now - t_start,
                fps=len(items) / max(now - last_wall, 1e-6), source_fps=1 / plan.step_s, dropped=ring.dropped,
                dropped_new=ring.dropped - last_dropped,
                latency_ms={"decode": 1000 * float(np.mean([a.decode_s for a in items])), "pose": pose_ms,
                            "model": model_ms},
            )
            last_wall, last_dropped = now, ring.dropped
            reports.append(report)
            if on_report is not None:
                on_report(report)
            if out is not None:
                writer = writer or AnnotatedWriter(out, 1 / plan.step_s, items[-1].frame.image.shape[:2])
                for a, fp in zip(items, frame_poses, strict=True):
                    writer.write(a.frame, fp, labels, poses.layout if poses is not None else None)
    except KeyboardInterrupt:
        pass  # Ctrl-C ends the watch cleanly: the annotated video is finalised below
    finally:
        reader.stop()
        ring.close()
        reader.join(timeout=5)
        if writer is not None:
            writer.close()
        if poses is not None:
            poses.close()
    if reader.error is not None:
        raise reader.error
    return reports


# ---- the annotated video ----------------------------------------------------------------------------------------------
class AnnotatedWriter:
    """Frames with skeletons and labels drawn, as H.264 MP4 (timestamps = the frames' own, in ms)."""

    def __init__(self, path: str | Path, fps: float, hw: tuple[int, int]):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), "w")
        self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        self.stream.height, self.stream.width = hw
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = self.stream.codec_context.time_base = Fraction(1, 1000)
        self.stream.options = {"preset": "veryfast", "crf": "23"}
        self.last_pts = -1

    def write(self, frame: SampledFrame, poses: dict, labels: dict[str, tuple[str, float]],
              layout: str | None) -> None:
        import av

        image = draw_annotations(frame.image, poses, labels, layout)
        h, w = self.stream.height, self.stream.width
        if image.shape[:2] != (h, w):  # a stream that changed size mid-way keeps the first size
            image = np.asarray(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(w, h).to_ndarray())
        vf = av.VideoFrame.from_ndarray(image, format="rgb24")
        self.last_pts = max(int(round(frame.time * 1000)), self.last_pts + 1)
        vf.pts, vf.time_base = self.last_pts, Fraction(1, 1000)
        for packet in self.stream.encode(vf):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def draw_annotations(image: np.ndarray, poses: dict, labels: dict[str, tuple[str, float]],
                     layout: str | None) -> np.ndarray:
    """``image (h, w, 3)`` with each person's skeleton (bones of ``layout``) and label drawn -> a new array."""
    from PIL import Image, ImageDraw

    from deformer3d.data.skeleton import get_layout

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    bones = get_layout(layout).bones if layout else ()
    palette = [(0, 255, 0), (255, 128, 0), (0, 160, 255), (255, 0, 160)]
    for n, (track, (kp, sc)) in enumerate(sorted(poses.items())):
        colour = palette[n % len(palette)]
        for a, b in bones:
            if sc[a] > 0.3 and sc[b] > 0.3:
                draw.line([tuple(kp[a]), tuple(kp[b])], fill=colour, width=2)
        for (x, y), s in zip(kp, sc, strict=True):
            if s > 0.3:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        key = str(track)
        if key in labels and (sc > 0.3).any():
            x0, y0 = kp[sc > 0.3].min(0)
            draw.text((float(x0), max(0.0, float(y0) - 12)), f"{labels[key][0]} {labels[key][1]:.2f}", fill=colour)
    if "all" in labels:
        label, p = labels["all"]
        draw.rectangle([0, 0, 8 + 7 * (len(label) + 6), 16], fill=(0, 0, 0))
        draw.text((4, 2), f"{label} {p:.2f}", fill=(255, 255, 255))
    return np.asarray(canvas)


# ---- the CLI -----------------------------------------------------------------------------------------------------------
def watch_cli(
    source: str, model_dir: Path | None, *, window_s: float | None = None, stride_s: float | None = None, persons: int = 1,
    seconds: float | None = None, out: Path | None = None, as_json: bool = False,
) -> list[Report]:
    """``deformer3d watch SOURCE``: one line per update (or a JSON object per line with ``--json``)."""
    from rich.console import Console

    from deformer3d.pretrained import resolve_model
    from deformer3d.serve.predictor import Predictor

    console = Console(highlight=False)
    predictor = Predictor(resolve_model(model_dir))
    if not as_json:
        console.print(f"watching {source} with {predictor.describe()}; Ctrl-C to stop")

    def show(report: Report) -> None:
        if as_json:
            print(json.dumps(report.to_dict()), flush=True)
        else:
            console.print(report.line())

    try:
        reports = watch(predictor, source, window_s=window_s, stride_s=stride_s, persons=persons, seconds=seconds,
                        out=out, on_report=show)
    finally:
        predictor.close()
    if not as_json and reports:
        lags = [r.lag_s for r in reports]
        console.print(f"{len(reports)} updates; lag {np.median(lags):.2f} s median, {max(lags):.2f} s max; "
                      f"{reports[-1].dropped} frames dropped" + (f"; annotated video: {out}" if out else ""))
    return reports
