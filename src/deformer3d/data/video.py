"""Video reading with PyAV: files, in-memory bytes (uploads) and frame folders (``img_%05d.jpg``).

    reader = open_video("clip.mp4", short_side=128)   # or open_video(data_bytes) or open_video("frames_dir/")
    reader.num_frames, reader.fps, reader.height, reader.width, reader.times
    frames = reader.get_frames([0, 8, 16])            # (3, H, W, 3) uint8, frame-exact, upright, reduced

**Every playable file opens.** Frame ``i`` is the i-th picture a player shows, in presentation order:

- The index comes from demuxing the packets (cheap, no decoding): their presentation timestamps (pts), sorted,
  minus the packets an edit list cuts away (FFmpeg flags them *discard*: they are decoded as references but never
  shown). Variable frame rate needs nothing special: frames are found by their timestamps, and ``times`` gives
  each frame's time in seconds.
- Where the index cannot be trusted it is corrected by decoding: a demuxing error (truncated container), a packet
  flagged corrupt, or a stream that starts on a non-key frame (the decoder drops pictures until the first key
  frame) make the reader decode the stream once at open and count what comes out. A request that still finds the
  index wrong recounts the same way (see :class:`FrameCountError`). Packets that fail to decode are skipped, as a
  player does, and the frames the decoder still holds are flushed out at the end.
- Containers whose timestamps cannot be trusted (AVI with B-frames labels frames with decode-order timestamps;
  missing or repeated pts) are read by decoding sequentially from the start and counting.
- Rotation metadata (the display matrix of portrait phone videos) is applied: frames come out upright and
  ``height`` / ``width`` are the displayed size.

**Memory is bounded by the work.** ``short_side`` reduces every frame in the decoder's own scaler to the size the
model needs (short side = ``short_side``, never enlarged), so a 4000x3000 clip costs what a 171x128 one does after
decoding; ``scale`` converts source pixel coordinates (keypoint files) to the reduced frames. A stream whose
pictures exceed ``max_pixels`` (default :data:`MAX_PIXELS`) is refused at open, before anything is decoded.

Only genuinely broken files are refused (missing, not a video, no video stream, nothing decodable, too large),
with :class:`deformer3d.errors.VideoError` naming the file and the reason.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import math
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from PIL import Image

from deformer3d.errors import VideoError

T = TypeVar("T")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
# The largest picture decoded: 8K UHD at the widest H.264 / HEVC level-6.2 frame (8192 x 4320, 35 Mpx). One such
# frame is 53 MB as YUV; bigger ones are refused at open instead of taking the machine's memory.
MAX_PIXELS = 8192 * 4320
MAX_PIXELS_ENV = "DEFORMER3D_MAX_VIDEO_PIXELS"
# A seek costs about one GOP of decoding; when the next wanted frame is at most this many frames ahead we keep
# decoding forward instead of seeking.
_SEQUENTIAL_GAP = 24
# Formats whose demuxers hand out decode-order timestamps for B-frame streams: read them sequentially.
_UNTRUSTED_PTS_FORMATS = {"avi"}
# Decoder threads hold one picture each: cap their count so big pictures stay within this budget.
_THREAD_BUDGET_BYTES = 256 * 2**20
_MAX_THREADS = 4


class FrameCountError(VideoError):
    """The index announced frames that do not decode; the reader has recounted (``num_frames`` is now right) and
    the request asked for frames beyond the new count. Sample again from ``num_frames``."""


def again_after_recount(attempt: Callable[[], T]) -> T:
    """``attempt()``, and once more if it raises :class:`FrameCountError`: the reader has recounted, so an attempt
    that reads ``num_frames`` afresh asks for frames that decode. A second :class:`FrameCountError` propagates."""
    try:
        return attempt()
    except FrameCountError:
        return attempt()


def max_pixels_default() -> int:
    """:data:`MAX_PIXELS`, or ``$DEFORMER3D_MAX_VIDEO_PIXELS`` when set (a positive integer)."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise VideoError(f"${MAX_PIXELS_ENV}={raw!r}: must be a positive number of pixels per frame, e.g. {MAX_PIXELS}")
    return value


def check_picture_size(name: str, width: int, height: int, max_pixels: int | None = None) -> None:
    """Refuse pictures above ``max_pixels`` (default :func:`max_pixels_default`) with a :class:`VideoError` naming
    the video, its size and the limit: called before decoding, so a small file cannot take the machine's memory."""
    limit = max_pixels or max_pixels_default()
    if width * height > limit:
        raise VideoError(
            f"{name}: {width}x{height} pictures ({width * height / 1e6:.1f} Mpx) exceed the decoding limit of "
            f"{limit / 1e6:.1f} Mpx per frame (${MAX_PIXELS_ENV}); downscale the video first, e.g. "
            "`ffmpeg -i IN -vf scale=-2:1080 OUT.mp4`"
        )


def open_video(
    source: str | Path | bytes, name: str | None = None, *, short_side: int | None = None,
    max_pixels: int | None = None,
) -> VideoReader:
    """Open a video file, the bytes of one, or a folder of frames; see :class:`VideoReader`."""
    return VideoReader(source, name=name, short_side=short_side, max_pixels=max_pixels)


@dataclass
class _Index:
    """What probing learned about one video stream (cached per file version)."""

    pts: list[int]  # presentation timestamps in order, or 0..n-1 when they cannot be trusted
    keyframes: list[int]  # frame indices where a seek can land
    trust_pts: bool
    fps: float
    time_base: float  # seconds per pts unit (0 when pts are frame numbers)
    start: int  # pts of the stream start (for times)
    width: int  # coded size (before rotation)
    height: int
    rotation: int  # display rotation, counter-clockwise degrees, a multiple of 90
    corrected: str = ""  # why the index was corrected by decoding ("" when the demuxed index held)
    times: np.ndarray | None = field(default=None, repr=False)


_CACHE: OrderedDict[tuple, _Index] = OrderedDict()
_CACHE_SIZE = 256


class VideoReader:
    """Random access to the frames of one video. ``get_frames(indices) -> (N, H, W, 3)`` uint8.

    Args:
        source: a video file, its bytes, or a folder of frames.
        name: how messages call the video (default: the path, or ``<uploaded video>``).
        short_side: reduce frames while decoding so their short side is at most this many pixels (None = keep).
        max_pixels: refuse pictures larger than this (default :func:`max_pixels_default`).

    Attributes: ``num_frames``, ``fps``, ``times (num_frames,)`` seconds, ``height`` / ``width`` (of the frames
    ``get_frames`` returns: upright and reduced), ``source_height`` / ``source_width`` (upright, full size),
    ``scale`` (reduced / full), ``rotation`` (degrees applied, counter-clockwise), ``corrected`` (why the frame
    count came from decoding instead of the container's index, or "").

    Use as a context manager or call :meth:`close`; the container is opened per request so a reader can be kept in
    a dataset record and shipped to DataLoader workers.
    """

    def __init__(
        self, source: str | Path | bytes, name: str | None = None, *, short_side: int | None = None,
        max_pixels: int | None = None,
    ):
        self._bytes: bytes | None = None
        self._frame_files: list[Path] | None = None
        self.short_side = int(short_side) if short_side else None
        self.max_pixels = int(max_pixels) if max_pixels else max_pixels_default()
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._bytes = bytes(source)
            self.path: Path | None = None
            self.name = name or "<uploaded video>"
        else:
            self.path = Path(source)
            self.name = name or str(self.path)
            if not self.path.exists():
                raise VideoError(f"{self.name}: file not found (check the dataset root and the annotation paths)")
            if self.path.is_dir():
                self._frame_files = list_frame_files(self.path)
                if not self._frame_files:
                    raise VideoError(
                        f"{self.name}: frame folder has no images ({', '.join(IMAGE_SUFFIXES)}); "
                        "expected files like img_00001.jpg"
                    )
        self._index: _Index | None = None
        self.fps: float = 30.0
        self.rotation = 0
        self.source_height = self.source_width = 0
        self._probe()
        self._set_output_size()

    # ------------------------------------------------------------------ opening / probing
    def _open(self) -> av.container.InputContainer:
        try:
            if self._bytes is not None:
                return av.open(io.BytesIO(self._bytes), mode="r", metadata_errors="ignore")
            return av.open(str(self.path), mode="r", metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise VideoError(f"{self.name}: cannot open as a video ({_reason(exc)}); is the file corrupt?") from None

    def _cache_key(self) -> tuple | None:
        if self._bytes is not None:
            return ("bytes", len(self._bytes), hashlib.blake2b(self._bytes, digest_size=16).digest())
        try:
            st = self.path.stat()
        except OSError:
            return None
        return ("file", str(self.path.resolve()), st.st_size, st.st_mtime_ns)

    def _probe(self) -> None:
        if self._frame_files is not None:
            try:
                with Image.open(self._frame_files[0]) as im:
                    self.source_width, self.source_height = im.size
            except OSError as exc:
                raise VideoError(f"{self._frame_files[0]}: unreadable image ({exc})") from None
            self._check_size(self.source_width, self.source_height)
            self.fps = 30.0  # frame folders carry no rate; 30 is the convention of the raw-frame datasets
            return
        key = self._cache_key()
        index = _CACHE.get(key) if key is not None else None
        if index is None:
            index = self._build_index()
            if key is not None:
                _CACHE[key] = index
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
        self._adopt(index)

    def _adopt(self, index: _Index) -> None:
        self._check_size(index.width, index.height)
        self._index = index
        self.fps = index.fps
        self.rotation = index.rotation
        w, h = index.width, index.height
        self.source_width, self.source_height = (h, w) if index.rotation % 180 else (w, h)

    def _check_size(self, width: int, height: int) -> None:
        check_picture_size(self.name, width, height, self.max_pixels)

    def _build_index(self) -> _Index:
        container = self._open()
        try:
            if not container.streams.video:
                raise VideoError(f"{self.name}: no video stream (audio-only or not a video file)")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            width, height = int(ctx.width or 0), int(ctx.height or 0)
            self._check_size(width, height)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 30.0
            time_base = float(stream.time_base) if stream.time_base else 0.0
            fmt = set((container.format.name or "").split(","))
            trust = not (fmt & _UNTRUSTED_PTS_FORMATS)
            pts, keys, why = [], [], ""
            first_is_key = None
            demuxed = 0
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:  # the flush packet at the end
                        continue
                    demuxed += 1
                    if first_is_key is None:
                        first_is_key = bool(packet.is_keyframe)
                    if packet.is_corrupt and not why:
                        why = "a packet is flagged corrupt"
                    if packet.is_discard:  # cut by an edit list: decoded as a reference, never shown
                        continue
                    p = packet.pts if packet.pts is not None else packet.dts
                    pts.append(p)
                    if packet.is_keyframe:
                        keys.append(p)
            except av.FFmpegError as exc:
                why = f"the container stops early ({_reason(exc)})"
            if first_is_key is False and not why:
                why = "the stream starts on a non-key frame"
            # a cut file whose sample table survived (faststart mp4) demuxes fewer packets than it announces, and
            # the demuxer does not always flag the partial last one as corrupt
            announced = int(stream.frames or 0)
            if announced > demuxed and not why:
                why = f"the index announces {announced} frames but the file holds {demuxed}"
        finally:
            container.close()
        if not pts and not why:
            raise VideoError(f"{self.name}: the video stream has zero frames")
        if any(p is None for p in pts) or len(set(pts)) != len(pts):
            trust = False
        start = min(pts) if trust and pts else 0
        index = _Index([], [0], trust, fps, time_base if trust else 0.0, start, width, height, 0)
        if trust:
            index.pts = sorted(pts)
            position = {p: i for i, p in enumerate(index.pts)}
            index.keyframes = sorted(position[p] for p in keys if p in position) or [0]
        else:
            index.pts = list(range(len(pts)))
        if why:
            self._index_by_decoding(index, why)
        else:
            self._first_frame_facts(index)
        if index.width <= 0 or index.height <= 0:
            raise VideoError(f"{self.name}: the video stream has no picture size; the file is corrupt")
        self._check_size(index.width, index.height)
        return index

    def _first_frame_facts(self, index: _Index) -> None:
        """Rotation (and, for containers that only know it then, the size) from the first decoded picture."""
        container = self._open()
        try:
            for frame in _decoded(container):
                index.rotation = _rotation_of(frame)
                index.width, index.height = frame.width, frame.height
                return
        finally:
            container.close()
        raise VideoError(f"{self.name}: no frame could be decoded; the file is corrupt or empty")

    def _index_by_decoding(self, index: _Index, why: str) -> None:
        """Decode the whole stream once and make the index what came out (the ground truth a player shows)."""
        container = self._open()
        pts, keys = [], []
        try:
            for i, frame in enumerate(_decoded(container)):
                if i == 0:
                    index.rotation = _rotation_of(frame)
                    index.width, index.height = frame.width, frame.height
                pts.append(frame.pts)
                if frame.key_frame:
                    keys.append(i)
        finally:
            container.close()
        if not pts:
            raise VideoError(f"{self.name}: no frame could be decoded ({why}); the file is corrupt or empty")
        monotonic = all(p is not None for p in pts) and all(a < b for a, b in zip(pts, pts[1:], strict=False))
        if index.trust_pts and monotonic:
            index.pts, index.keyframes = pts, keys or [0]
            index.start = pts[0]
        else:
            index.trust_pts, index.pts, index.keyframes, index.time_base, index.start = False, list(range(len(pts))), [0], 0.0, 0
        index.corrected = f"{why}: {len(pts)} frames decode"
        index.times = None

    def _set_output_size(self) -> None:
        w, h = self.source_width, self.source_height
        if self.short_side and min(w, h) > self.short_side:
            self.scale = self.short_side / min(w, h)
            self.width, self.height = max(1, round(w * self.scale)), max(1, round(h * self.scale))
        else:
            self.scale = 1.0
            self.width, self.height = w, h

    # ------------------------------------------------------------------ public API
    @property
    def num_frames(self) -> int:
        if self._frame_files is not None:
            return len(self._frame_files)
        return len(self._index.pts)

    @property
    def corrected(self) -> str:
        """Why the frame count came from decoding instead of the container's index ("" when the index held)."""
        return self._index.corrected if self._index is not None else ""

    @property
    def keyframes(self) -> list[int]:
        """Indices of the frames a seek can land on (key frames); ``[0]`` when the video is read sequentially."""
        if self._frame_files is not None or not self._index.trust_pts:
            return [0]
        return list(self._index.keyframes)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0

    @property
    def times(self) -> np.ndarray:
        """``(num_frames,)`` presentation time of each frame in seconds from the first (variable frame rate kept)."""
        if self._frame_files is not None or not self._index.time_base:
            return np.arange(self.num_frames) / self.fps
        index = self._index
        if index.times is None or len(index.times) != len(index.pts):
            index.times = (np.asarray(index.pts, np.float64) - index.start) * index.time_base
        return index.times

    def to_source_pixels(self, keypoints: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_output_pixels`: pixels of the returned frames -> upright full-size pixels."""
        return _rescale(keypoints, 1.0 / self.scale)

    def to_output_pixels(self, keypoints: np.ndarray) -> np.ndarray:
        """``keypoints (..., 2)`` in pixels of the upright full-size video -> pixels of the (reduced) frames
        ``get_frames`` returns (pixel i covers [i, i+1): the centres scale, not the corners). Missing joints,
        stored as (0, 0), stay (0, 0)."""
        return _rescale(keypoints, self.scale)

    def count_frames_by_decoding(self) -> int:
        """Decode the whole stream and count the frames (the ground truth when a header or index lies)."""
        if self._frame_files is not None:
            return len(self._frame_files)
        container = self._open()
        try:
            return sum(1 for _ in _decoded(container))
        finally:
            container.close()

    def recount(self) -> int:
        """Make the index what decodes (after it proved wrong); returns the new frame count."""
        if self._frame_files is not None:
            return len(self._frame_files)
        # in place: every reader of this file in the process shares the index (the cache), so all see the count
        self._index_by_decoding(self._index, "frames announced by the index do not decode")
        return self.num_frames

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) -> ``(N, height, width, 3)`` uint8 RGB, upright."""
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        n = self.num_frames
        bad = [i for i in idx if i < 0 or i >= n]
        if bad:
            raise VideoError(f"{self.name}: frame index {bad[0]} out of range (the video has {n} frames)")
        wanted = sorted(set(idx))
        if self._frame_files is not None:
            got = {i: self._read_image(self._frame_files[i]) for i in wanted}
        else:
            got = self._decode_checked(wanted)
        return np.stack([got[i] for i in idx])

    def iter_frames(self, start: int = 0, stop: int | None = None, chunk: int = 64) -> Iterator[np.ndarray]:
        """Frames ``start..stop-1`` in chunks of ``(<= chunk, height, width, 3)``: a long video is never held whole."""
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        for s in range(start, stop, chunk):
            yield self.get_frames(range(s, min(s + chunk, stop)))

    def read_all(self) -> np.ndarray:
        return self.get_frames(range(self.num_frames))

    def close(self) -> None:
        """Nothing stays open between requests; kept for the context-manager protocol."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({self.name!r}, frames={self.num_frames}, fps={self.fps:.3g}, {self.width}x{self.height})"

    # ------------------------------------------------------------------ decoding
    def _read_image(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as im:
                self._check_size(*im.size)
                im = im.convert("RGB")
                if self.scale != 1.0 or im.size != (self.width, self.height):
                    im = im.resize((self.width, self.height), Image.Resampling.BOX)
                return np.asarray(im)
        except OSError as exc:
            raise VideoError(f"{path}: unreadable image ({exc})") from None

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        """A decoded picture -> upright ``(height, width, 3)`` uint8 RGB, scaled by the decoder's own scaler."""
        quarter = (self.rotation // 90) % 4
        w, h = (self.height, self.width) if quarter % 2 else (self.width, self.height)
        if (frame.width, frame.height) != (w, h):
            if frame.width * frame.height > self.max_pixels:  # the stream changed size mid-way
                self._check_size(frame.width, frame.height)
            rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
        else:
            rgb = frame.to_ndarray(format="rgb24")
        return np.ascontiguousarray(np.rot90(rgb, k=quarter)) if quarter else rgb

    def _decode_checked(self, wanted: list[int]) -> dict[int, np.ndarray]:
        try:
            return self._decode(wanted)
        except _IndexWrong as exc:
            n = self.recount()
            if max(wanted) >= n:
                raise FrameCountError(
                    f"{self.name}: frame {max(wanted)} requested but only {n} frames decode ({exc.why}); the "
                    "frame count has been corrected, sample again"
                ) from None
            return self._decode(wanted)

    def _decode(self, wanted: list[int]) -> dict[int, np.ndarray]:
        container = self._open()
        try:
            if self._index.trust_pts:
                try:
                    return self._decode_seeking(container, wanted)
                except _UntrustedPts:
                    self._index.trust_pts = False
                    self._index.pts = list(range(len(self._index.pts)))
                    self._index.keyframes, self._index.time_base = [0], 0.0
                    container.close()
                    container = self._open()
            return self._decode_sequential(container, wanted)
        finally:
            container.close()

    def _decode_sequential(self, container, wanted: list[int]) -> dict[int, np.ndarray]:
        """Decode from the start, counting frames in presentation order (always correct)."""
        out: dict[int, np.ndarray] = {}
        todo = set(wanted)
        last = max(wanted)
        for i, frame in enumerate(_decoded(container, self._threads())):
            if i in todo:
                out[i] = self._convert(frame)
            if i >= last:
                break
        if len(out) < len(todo):
            raise _IndexWrong(f"decoding ended after {len(out)} of the wanted frames")
        return out

    def _threads(self) -> int:
        if self._index.corrected:
            # frame threads lose the pictures in flight at a decode error: a damaged file decodes on one thread,
            # so every pass yields the frames its corrected index counted
            return 1
        frame_bytes = max(1, self._index.width * self._index.height * 3 // 2)
        return max(1, min(os.cpu_count() or 1, _MAX_THREADS, _THREAD_BUDGET_BYTES // frame_bytes))

    def _decode_seeking(self, container, wanted: list[int]) -> dict[int, np.ndarray]:
        index = self._index
        stream = container.streams.video[0]
        pts_to_index = {p: k for k, p in enumerate(index.pts)}
        wanted_s = set(wanted)
        out: dict[int, np.ndarray] = {}
        frames = None
        pos = None  # index of the last decoded frame
        for target in wanted:
            if target in out:
                continue
            # seek only when it lands past where we are: a key frame lies in (pos, target] and the gap is large
            key = index.keyframes[max(0, bisect.bisect_right(index.keyframes, target) - 1)]
            ahead = pos is not None and target > pos
            if frames is None or not ahead or (key > pos and target - pos > _SEQUENTIAL_GAP):
                try:
                    container.seek(index.pts[target], stream=stream, backward=True, any_frame=False)
                except av.FFmpegError as exc:
                    raise VideoError(f"{self.name}: seek to frame {target} failed ({_reason(exc)})") from None
                frames = _decoded(container, self._threads())
                pos = None
            while True:
                frame = next(frames, None)
                if frame is None:
                    raise _IndexWrong(f"decoding ended before frame {target}")
                k = pts_to_index.get(frame.pts)
                if k is None or (pos is not None and k <= pos):
                    raise _UntrustedPts  # timestamps that are not in the index or go backwards
                pos = k
                if k in wanted_s:
                    out[k] = self._convert(frame)
                if k >= target:
                    break
            if target not in out:
                raise _UntrustedPts  # jumped past the target: the index does not describe the stream
        return out


def _rescale(keypoints: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return keypoints
    kp = np.asarray(keypoints, np.float32)
    out = ((kp + 0.5) * factor - 0.5).astype(np.float32)
    out[(kp == 0).all(-1)] = 0.0  # the missing-joint marker
    return out


def _set_threads(stream, threads: int) -> None:
    ctx = stream.codec_context
    if not ctx.is_open:
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads


def _decoded(container, threads: int = 1) -> Iterator[av.VideoFrame]:
    """Every picture of the first video stream, as a player gets them: packets that fail to decode are skipped,
    a container that stops early ends the stream, and the decoder's buffered pictures are flushed at the end."""
    stream = container.streams.video[0]
    _set_threads(stream, threads)
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets, None)
        except av.FFmpegError:
            packet = None  # truncated or damaged container: what was read is what there is
        if packet is None:
            break
        try:
            yield from stream.decode(packet)
        except av.FFmpegError:
            continue  # a damaged packet: skip it, as players do
    try:
        yield from stream.decode(None)
    except av.FFmpegError:
        return


def _rotation_of(frame: av.VideoFrame) -> int:
    """The display rotation of a decoded picture, counter-clockwise degrees rounded to a quarter turn."""
    try:
        angle = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError):
        return 0
    if not math.isfinite(angle):
        return 0
    return int(round(angle / 90.0)) % 4 * 90


class _UntrustedPts(Exception):
    """Decoded timestamps disagree with the demuxed index: fall back to sequential decoding."""


class _IndexWrong(Exception):
    """The index announced a frame that did not decode."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


_FRAME_NUM = re.compile(r"(\d+)(?=\.[^.]+$)")


def list_frame_files(folder: Path) -> list[Path]:
    """Images of a frame folder in frame order (``img_00001.jpg`` ...; numeric order, not string order)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]

    def key(p: Path):
        m = _FRAME_NUM.search(p.name)
        return (int(m.group(1)) if m else -1, p.name)

    return sorted(files, key=key)


def is_video_source(path: Path) -> bool:
    """A video file, or a folder that holds frames."""
    if path.is_dir():
        return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
    return path.suffix.lower() in VIDEO_SUFFIXES


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float = 30.0,
    codec: str = "libx264",
    crf: int = 18,
    gop: int = 0,
) -> None:
    """Encode ``frames (T, H, W, 3)`` uint8 to ``path``. H.264 needs even sizes: odd ones are padded by one pixel
    on the right / bottom (edge replicated) so the keypoints stay valid."""
    frames = np.asarray(frames, dtype=np.uint8)
    t, h, w, _ = frames.shape
    if codec in ("libx264", "mpeg4") and (h % 2 or w % 2):
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        h, w = frames.shape[1:3]
    from fractions import Fraction

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "ultrafast", "tune": "zerolatency"}
            if gop:
                stream.options = {**stream.options, "g": str(gop)}  # key frame every `gop` frames
            stream.codec_context.thread_count = (
                1  # deterministic bytes and no oversubscription in worker pools
            )
        else:
            stream.bit_rate = max(
                200_000, 8 * w * h * int(fps)
            )  # generous: test videos carry exact grey levels
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
