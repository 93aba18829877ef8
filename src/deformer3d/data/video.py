"""Video reading with PyAV: files, in-memory bytes (uploads) and frame folders (``img_%05d.jpg``).

    reader = open_video("clip.mp4")            # or open_video(data_bytes) or open_video("frames_dir/")
    reader.num_frames, reader.fps, reader.height, reader.width
    frames = reader.get_frames([0, 8, 16])     # (3, H, W, 3) uint8, frame-exact

Frame-exact access: the frame count and the presentation timestamp (pts) of every frame come from demuxing the
packets (cheap, no decoding), so frame ``i`` is the i-th pts in presentation order. A request seeks to the key
frame before the first wanted frame (``seek(pts, backward=True, any_frame=False)``) and decodes forward until it
reaches the wanted pts; frames that are close together are decoded sequentially instead, which is cheaper than
seeking again. Containers whose decoded timestamps cannot be trusted (AVI with B-frames labels frames with decode
order timestamps) are read by decoding sequentially from the start and counting, which is always correct.

Every failure (missing, corrupt, truncated, zero-frame file) raises :class:`deformer3d.errors.VideoError` naming the
file and the reason.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image

from deformer3d.errors import VideoError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
# A seek costs about one GOP of decoding; when the next wanted frame is at most this many frames ahead we keep
# decoding forward instead of seeking.
_SEQUENTIAL_GAP = 24
# Formats whose demuxers hand out decode-order timestamps for B-frame streams: read them sequentially.
_UNTRUSTED_PTS_FORMATS = {"avi"}


class FrameCountError(VideoError):
    """Fewer frames could be decoded than the container announced (a truncated file)."""


def open_video(source: str | Path | bytes, name: str | None = None) -> VideoReader:
    """Open a video file, the bytes of one, or a folder of frames; see :class:`VideoReader`."""
    return VideoReader(source, name=name)


class VideoReader:
    """Random access to the frames of one video. ``get_frames(indices) -> (N, H, W, 3) uint8``.

    Use as a context manager or call :meth:`close`; the container is opened lazily per request for files so a
    reader can be kept in a dataset record and shipped to DataLoader workers.
    """

    def __init__(self, source: str | Path | bytes, name: str | None = None):
        self._bytes: bytes | None = None
        self._frame_files: list[Path] | None = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._bytes = bytes(source)
            self.path: Path | None = None
            self.name = name or "<uploaded video>"
        else:
            self.path = Path(source)
            self.name = name or str(self.path)
            if not self.path.exists():
                raise VideoError(
                    f"{self.name}: file not found (check the dataset root and the annotation paths)"
                )
            if self.path.is_dir():
                self._frame_files = list_frame_files(self.path)
                if not self._frame_files:
                    raise VideoError(
                        f"{self.name}: frame folder has no images ({', '.join(IMAGE_SUFFIXES)}); "
                        "expected files like img_00001.jpg"
                    )
        self._container: av.container.InputContainer | None = None
        self._pts: list[int] = []
        self.fps: float = 30.0
        self.height = 0
        self.width = 0
        self._trust_pts = True
        self._keyframes: list[int] = [0]  # frame indices of key frames (where a seek can land)
        self._probe()

    # ------------------------------------------------------------------ opening / probing
    def _open(self) -> av.container.InputContainer:
        try:
            if self._bytes is not None:
                return av.open(io.BytesIO(self._bytes), mode="r", metadata_errors="ignore")
            return av.open(str(self.path), mode="r", metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise VideoError(
                f"{self.name}: cannot open as a video ({_reason(exc)}); is the file corrupt?"
            ) from None

    def _probe(self) -> None:
        if self._frame_files is not None:
            try:
                with Image.open(self._frame_files[0]) as im:
                    self.width, self.height = im.size
            except OSError as exc:
                raise VideoError(f"{self._frame_files[0]}: unreadable image ({exc})") from None
            self.fps = 30.0  # frame folders carry no rate; 30 is the convention of the raw-frame datasets
            return
        container = self._open()
        try:
            if not container.streams.video:
                raise VideoError(f"{self.name}: no video stream (audio-only or not a video file)")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            self.width, self.height = int(ctx.width or 0), int(ctx.height or 0)
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            self.fps = float(rate) if rate else 30.0
            fmt = set((container.format.name or "").split(","))
            self._trust_pts = not (fmt & _UNTRUSTED_PTS_FORMATS)
            pts, keys = [], []
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:  # the flush packet at the end
                        continue
                    pts.append(packet.pts if packet.pts is not None else packet.dts)
                    if packet.is_keyframe:
                        keys.append(pts[-1])
            except av.FFmpegError:
                pass  # a truncated tail: keep the packets read so far; decoding will tell what is usable
            if not pts:
                raise VideoError(f"{self.name}: the video stream has zero frames")
            if any(p is None for p in pts) or len(set(pts)) != len(pts):
                self._trust_pts = False
            self._pts = sorted(pts) if self._trust_pts else list(range(len(pts)))
            if self._trust_pts:
                index = {p: i for i, p in enumerate(self._pts)}
                self._keyframes = sorted(index[p] for p in keys if p in index) or [0]
        finally:
            container.close()
        if self.width <= 0 or self.height <= 0:
            # Some containers only know the size after the first decoded frame.
            first = self.get_frames([0])
            self.height, self.width = first.shape[1:3]

    # ------------------------------------------------------------------ public API
    @property
    def num_frames(self) -> int:
        if self._frame_files is not None:
            return len(self._frame_files)
        return len(self._pts)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0

    def count_frames_by_decoding(self) -> int:
        """Decode the whole stream and count the frames (the ground truth when a header or index lies)."""
        if self._frame_files is not None:
            return len(self._frame_files)
        container = self._open()
        n = 0
        try:
            for _ in container.decode(video=0):
                n += 1
        except av.FFmpegError:
            pass  # truncated: what decoded so far is what there is
        finally:
            container.close()
        return n

    def recount(self) -> int:
        """Recount the frames by decoding after the index proved wrong (a truncated file); later reads decode
        sequentially. Returns the new frame count."""
        n = self.count_frames_by_decoding()
        if n <= 0:
            raise VideoError(f"{self.name}: no frame could be decoded; the file is corrupt or empty")
        self._pts = list(range(n))
        self._trust_pts = False
        return n

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) -> ``(N, H, W, 3)`` uint8 RGB."""
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
            got = self._decode(wanted)
        return np.stack([got[i] for i in idx])

    def read_all(self) -> np.ndarray:
        return self.get_frames(range(self.num_frames))

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

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
                return np.asarray(im.convert("RGB"))
        except OSError as exc:
            raise VideoError(f"{path}: unreadable image ({exc})") from None

    def _decode(self, wanted: list[int]) -> dict[int, np.ndarray]:
        container = self._open()
        try:
            if self._trust_pts:
                try:
                    return self._decode_seeking(container, wanted)
                except _UntrustedPts:
                    self._trust_pts = False
                    self._pts = list(range(len(self._pts)))
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
        i = -1
        try:
            for i, frame in enumerate(container.decode(video=0)):
                if i in todo:
                    out[i] = frame.to_ndarray(format="rgb24")
                if i >= last:
                    break
        except av.FFmpegError as exc:
            self._truncated(i + 1, wanted, exc)
        if len(out) < len(todo):
            self._truncated(i + 1, wanted, None)
        return out

    def _decode_seeking(self, container, wanted: list[int]) -> dict[int, np.ndarray]:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        pts_to_index = {p: k for k, p in enumerate(self._pts)}
        wanted_s = set(wanted)
        out: dict[int, np.ndarray] = {}
        frames = None
        pos = None  # index of the last decoded frame
        for target in wanted:
            if target in out:
                continue
            # seek only when it lands past where we are: a key frame lies in (pos, target] and the gap is large
            key = self._keyframes[max(0, bisect.bisect_right(self._keyframes, target) - 1)]
            ahead = pos is not None and target > pos
            if frames is None or not ahead or (key > pos and target - pos > _SEQUENTIAL_GAP):
                try:
                    container.seek(self._pts[target], stream=stream, backward=True, any_frame=False)
                except av.FFmpegError as exc:
                    raise VideoError(f"{self.name}: seek to frame {target} failed ({_reason(exc)})") from None
                frames = container.decode(stream)
                pos = None
            try:
                while True:
                    frame = next(frames, None)
                    if frame is None:
                        self._truncated(pos + 1 if pos is not None else 0, wanted, None)
                    k = pts_to_index.get(frame.pts)
                    if k is None or (pos is not None and k <= pos):
                        raise _UntrustedPts  # timestamps that are not in the index or go backwards
                    pos = k
                    if k in wanted_s:
                        out[k] = frame.to_ndarray(format="rgb24")
                    if k >= target:
                        break
            except av.FFmpegError as exc:
                self._truncated(pos + 1 if pos is not None else 0, wanted, exc)
            if target not in out:
                raise _UntrustedPts  # jumped past the target: the index does not describe the stream
        return out

    def _truncated(self, decoded: int, wanted: list[int], exc: Exception | None) -> None:
        why = f" ({_reason(exc)})" if exc is not None else ""
        if decoded <= 0 and max(wanted) == 0:
            raise VideoError(f"{self.name}: no frame could be decoded{why}; the file is corrupt or empty")
        raise FrameCountError(
            f"{self.name}: frame {max(wanted)} requested but decoding stopped after frame {decoded - 1}{why}; "
            f"the file looks truncated (its index announces {self.num_frames} frames). Re-encode or drop it."
        )


class _UntrustedPts(Exception):
    """Decoded timestamps disagree with the demuxed index: fall back to sequential decoding."""


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
