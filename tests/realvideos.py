"""Test videos built from the real clips of ``realdata/wild`` with PyAV: one after the other, or side by side.
Written frame by frame (never a whole clip in memory), timestamps from the sources (their own frame rates)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TIME_BASE = Fraction(1, 1000)


def _fit(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """Scale ``frame`` to fit ``width x height`` keeping its aspect ratio, centred on black."""
    scale = min(width / frame.width, height / frame.height)
    w, h = max(2, int(frame.width * scale) // 2 * 2), max(2, int(frame.height * scale) // 2 * 2)
    canvas = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - w) // 2, (height - h) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = frame.to_ndarray(format="rgb24", width=w, height=h)
    return canvas


class _Writer:
    def __init__(self, path: Path, width: int, height: int):
        self.out = av.open(str(path), "w")
        self.stream = self.out.add_stream("libx264", rate=30)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.time_base = self.stream.codec_context.time_base = TIME_BASE
        self.stream.options = {"preset": "ultrafast", "crf": "23"}
        self.last = -1

    def write(self, image: np.ndarray, t: float) -> None:
        pts = max(int(round(t * 1000)), self.last + 1)
        self.last = pts
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, TIME_BASE
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.out.mux(packet)
        self.out.close()


def _frames(path: Path):
    """``(time from the clip's start, frame)`` in presentation order."""
    with av.open(str(path)) as src:
        t0 = None
        for k, frame in enumerate(src.decode(video=0)):
            t = float(frame.time) if frame.time is not None else k / 30
            t0 = t if t0 is None else t0
            yield t - t0, frame


def title_card_seconds(path: Path, dark: float = 16.0) -> float:
    """How long ``path`` opens on a dark title card: the time of its first frame whose median grey level is
    ``dark`` or more (nobody can be seen before it, so no action starts before it)."""
    for t, frame in _frames(path):
        if float(np.median(frame.to_ndarray(format="gray"))) >= dark:
            return t
    return 0.0


def concatenate(paths: list[Path], out: Path, width: int = 640, height: int = 360) -> list[float]:
    """``paths`` one after the other into ``out``; returns the times (s) where each clip starts."""
    writer = _Writer(out, width, height)
    offset, starts = 0.0, []
    for path in paths:
        starts.append(offset)
        last = -1.0
        for t, frame in _frames(path):
            t = t if t > last else last + 1 / 30  # a timestamp-order glitch in a source: keep time monotonic
            writer.write(_fit(frame, width, height), offset + t)
            last = t
        offset += last + 1 / 30
    writer.close()
    return starts


def side_by_side(left: Path, right: Path, out: Path, seconds: float, height: int = 360) -> None:
    """``left`` and ``right`` scaled to ``height`` (each in a half of a 2 x 16:9 frame), for ``seconds``,
    at 30 fps (each source's latest frame at each output time)."""
    half = height * 16 // 9 // 2 * 2
    writer = _Writer(out, 2 * half, height)
    streams = [_frames(left), _frames(right)]
    current = [next(s) for s in streams]
    upcoming = [next(s, None) for s in streams]
    for k in range(int(seconds * 30)):
        t = k / 30
        for i in range(2):
            while upcoming[i] is not None and upcoming[i][0] <= t:
                current[i], upcoming[i] = upcoming[i], next(streams[i], None)
        image = np.concatenate([_fit(current[i][1], half, height) for i in range(2)], axis=1)
        writer.write(image, t)
    writer.close()
