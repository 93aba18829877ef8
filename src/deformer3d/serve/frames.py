"""Frames at a fixed sampling rate from a video decoded once, front to back, in bounded memory.

    for f in sample_frames("long.mp4", step_s=0.125, short_side=360):
        f.index, f.time, f.image       # grid index g (time ~ g * step_s), seconds, (h, w, 3) uint8 RGB

The timeline and the live stream look at a video only at the model's temporal resolution (``num_frames`` frames
per window), so every frame is decoded (that is how codecs work) but only the frames on the sampling grid are
converted to RGB, downscaled by FFmpeg's scaler while converting. Nothing is kept: memory does not grow with the
video's length. Times come from the presentation timestamps (variable frame rate is handled), rotation metadata
(portrait phone videos) is applied, and a frame that covers several grid points (a video slower than the grid) is
repeated for each.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from deformer3d.data.video import _decoded, _rotation_of, check_picture_size
from deformer3d.errors import VideoError

# timestamps are rounded to the stream's time base: a frame 1 ms before a grid time is the grid frame
TIME_SLACK_S = 1e-3


@dataclass
class SampledFrame:
    """One frame of the sampling grid: grid ``index``, presentation ``time`` (s), ``image (h, w, 3)`` uint8."""

    index: int
    time: float
    image: np.ndarray


@dataclass
class StreamInfo:
    """What the container says before decoding: ``fps``, ``duration`` (s, 0 when unknown, e.g. a live stream),
    the source size ``width`` x ``height`` (after rotation) and the size frames come out at."""

    fps: float
    duration: float
    width: int
    height: int
    out_width: int
    out_height: int


def work_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(w, h)`` with the short side at most ``short_side`` (never upscaled), both even (the scaler's chroma
    subsampling wants even sizes)."""
    scale = min(1.0, short_side / max(1, min(width, height)))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def open_container(source: str | Path | bytes, name: str, options: dict[str, str] | None = None,
                   format: str | None = None):
    """PyAV input container for a file, URL, device (``format="v4l2"``) or bytes; VideoError when it fails."""
    try:
        if isinstance(source, (bytes, bytearray)):
            return av.open(io.BytesIO(bytes(source)), mode="r", metadata_errors="ignore")
        return av.open(str(source), mode="r", format=format, metadata_errors="ignore", options=options or {})
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise VideoError(f"{name}: cannot open as a video ({str(exc).splitlines()[0][:200]}); is the file corrupt, "
                         "or the URL / camera unreachable?") from None


class FrameSampler:
    """Decode ``source`` once and yield the frames nearest after each grid time ``g * step_s``.

    Args:
        source: video path, URL (``rtsp://``, ``http://``), or the bytes of a file.
        step_s: grid spacing in seconds (``window / num_frames``).
        short_side: downscale so the short side is at most this (never upscaled).
        name: how messages name the source.
        options, format: FFmpeg demuxer options (``{"rtsp_transport": "tcp"}``) and input format (``v4l2``).
    """

    def __init__(self, source: str | Path | bytes, step_s: float, short_side: int = 360, name: str | None = None,
                 options: dict[str, str] | None = None, format: str | None = None):
        if step_s <= 0:
            raise VideoError(f"sampling step {step_s} s: must be > 0")
        self.name = name or ("<uploaded video>" if isinstance(source, (bytes, bytearray)) else str(source))
        self.step_s = float(step_s)
        self._container = open_container(source, self.name, options, format)
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.name}: no video stream (audio-only or not a video file)")
        self._stream = self._container.streams.video[0]
        ctx = self._stream.codec_context
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        fps = float(rate) if rate else 30.0
        duration = 0.0
        if self._stream.duration and self._stream.time_base:
            duration = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1e6
        w, h = int(ctx.width or 0), int(ctx.height or 0)
        try:
            check_picture_size(self.name, w, h)  # before any decoding, like the random-access reader
        except VideoError:
            self._container.close()
            raise
        self._short_side = short_side
        self._geometry: tuple[int, int, int] | None = None
        self.end_time = 0.0  # where the frames decoded so far end (s): the last one's time + one frame
        self.info = StreamInfo(fps, duration, w, h, *work_size(w, h, short_side)) if w and h else None

    def _out_size(self, frame) -> tuple[int, int, int]:
        """Scaled size ``(w, h)`` before rotation and the rotation, fixed by the first frame (the container's
        size can be missing or, for rotated phone videos, transposed)."""
        if self._geometry is None:
            rot = _rotation_of(frame)
            ow, oh = work_size(frame.width, frame.height, self._short_side)
            upright = rot in (90, 270)
            fps = self.info.fps if self.info else 30.0
            dur = self.info.duration if self.info else 0.0
            sw, sh = (frame.height, frame.width) if upright else (frame.width, frame.height)
            self.info = StreamInfo(fps, dur, sw, sh, *((oh, ow) if upright else (ow, oh)))
            self._geometry = (ow, oh, rot)
        return self._geometry

    def __iter__(self) -> Iterator[SampledFrame]:
        g = 0
        t0 = None
        index = -1
        # the reader's own decode loop: damaged packets skipped, buffered pictures flushed at the end
        for frame in _decoded(self._container, threads=2):
            index += 1
            fps = self.info.fps if self.info else 30.0
            t = float(frame.time) if frame.time is not None else index / fps
            if t0 is None:
                t0 = t  # streams and edited files need not start at 0
            t -= t0
            self.end_time = max(self.end_time, t + 1 / fps)
            if t + TIME_SLACK_S < g * self.step_s:
                continue
            ow, oh, rot = self._out_size(frame)
            image = frame.reformat(width=ow, height=oh, format="rgb24", interpolation="AREA").to_ndarray()
            if rot:
                image = np.ascontiguousarray(np.rot90(image, k=rot // 90))
            while t + TIME_SLACK_S >= g * self.step_s:
                yield SampledFrame(g, g * self.step_s, image)
                g += 1
        if g == 0:
            raise VideoError(f"{self.name}: no frame could be decoded; the file is corrupt, empty or not a video")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FrameSampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
