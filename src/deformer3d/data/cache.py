"""Pre-decoded videos, so RGB training is not decode-bound: ``deformer3d cache CONFIG`` decodes every video of
a dataset once, at the short side the dataset decodes it at (:func:`deformer3d.data.dataset.decode_short_side`),
into an uncompressed ``(N, H, W, 3)`` uint8 array; with ``data.cache_dir`` set, the dataset reads frames from
there (memory-mapped: a clip reads only its frames) instead of decoding the video.

The cache is lossless: a clip read through it is the same tensor as one decoded from the video. One entry per
(video file version, short side): ``<cache_dir>/<key>.npy`` + ``<key>.json`` (frame count, fps, sizes, scale),
where the key hashes the resolved path, size, modification time and short side, so an edited video or another
decode size never reads a stale entry. An entry is written under a temporary name and renamed when complete: an
interrupted ``cache`` run resumes by skipping the finished entries.

Size: N x H x W x 3 bytes per video (a 103-frame NTU video at short side 128: ~9 MiB).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deformer3d.data.video import FrameCountError, VideoError, VideoReader, open_video

CACHE_VERSION = 1


def cache_key(video: str | Path, short_side: int | None) -> str:
    """The entry name of ``video`` decoded at ``short_side``: changes with the file's size and mtime."""
    path = Path(video).resolve()
    stat = path.stat()
    text = f"{CACHE_VERSION}|{path}|{stat.st_size}|{stat.st_mtime_ns}|{short_side or 0}"
    return hashlib.sha1(text.encode()).hexdigest()[:24]


def entry_paths(cache_dir: str | Path, video: str | Path, short_side: int | None) -> tuple[Path, Path]:
    """``(frames .npy, metadata .json)`` of the entry (which may not exist yet)."""
    key = cache_key(video, short_side)
    return Path(cache_dir) / f"{key}.npy", Path(cache_dir) / f"{key}.json"


class CachedVideo:
    """Frames of a cached video with the :class:`VideoReader` interface the dataset uses: ``get_frames``,
    ``num_frames``, ``height`` / ``width``, ``fps``, ``scale``, ``to_output_pixels``, ``recount``."""

    def __init__(self, frames_path: Path, meta_path: Path):
        meta = json.loads(meta_path.read_text())
        self.name = meta["name"]
        self.fps = float(meta["fps"])
        self.scale = float(meta["scale"])
        self.source_height, self.source_width = int(meta["source_height"]), int(meta["source_width"])
        self._frames = np.load(frames_path, mmap_mode="r")  # (N, H, W, 3) uint8
        self.height, self.width = int(self._frames.shape[1]), int(self._frames.shape[2])

    @property
    def num_frames(self) -> int:
        return int(self._frames.shape[0])

    def get_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) -> ``(N, height, width, 3)`` uint8 RGB."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = idx[(idx < 0) | (idx >= self.num_frames)]
        if bad.size:
            raise VideoError(f"{self.name}: frame index {int(bad[0])} out of range (the video has {self.num_frames} "
                             "frames)")  # fmt: skip
        return np.ascontiguousarray(self._frames[idx])

    def to_output_pixels(self, keypoints: np.ndarray) -> np.ndarray:
        """Full-size upright pixels -> pixels of the cached frames (as :meth:`VideoReader.to_output_pixels`)."""
        if self.scale == 1.0:
            return keypoints
        kp = np.asarray(keypoints, np.float32)
        out = ((kp + 0.5) * self.scale - 0.5).astype(np.float32)
        out[(kp == 0).all(-1)] = 0.0  # the missing-joint marker
        return out

    def recount(self) -> int:
        """The cache holds what decoded: its count is already the true one."""
        return self.num_frames


def write_entry(video: str | Path, short_side: int | None, cache_dir: str | Path) -> tuple[Path, int]:
    """Decode ``video`` at ``short_side`` into the cache (skipped when the entry exists); returns the entry's
    frames path and its size in bytes."""
    frames_path, meta_path = entry_paths(cache_dir, video, short_side)
    if frames_path.is_file() and meta_path.is_file():
        return frames_path, frames_path.stat().st_size
    frames_path.parent.mkdir(parents=True, exist_ok=True)
    reader = open_video(video, short_side=short_side)
    tmp = frames_path.with_name(f".{frames_path.stem}.{os.getpid()}.tmp.npy")
    try:
        try:
            _decode_into(reader, tmp)
        except FrameCountError:  # the index announced frames that do not decode: cache what does
            reader.recount()
            _decode_into(reader, tmp)
        meta = {"name": reader.name, "fps": reader.fps, "scale": reader.scale, "source_height": reader.source_height,
                "source_width": reader.source_width, "short_side": short_side, "video": str(Path(video).resolve()),
                "version": CACHE_VERSION}  # fmt: skip
        meta_path.write_text(json.dumps(meta))
        os.replace(tmp, frames_path)  # complete entries only: the frames file appears last
    finally:
        tmp.unlink(missing_ok=True)
    return frames_path, frames_path.stat().st_size


def _decode_into(reader: VideoReader, path: Path) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                    shape=(reader.num_frames, reader.height, reader.width, 3))  # fmt: skip
    start = 0
    for chunk in reader.iter_frames():
        out[start : start + len(chunk)] = chunk
        start += len(chunk)
    out.flush()
    del out


def open_frames(video: str | Path, short_side: int | None, cache_dir: str | None) -> VideoReader | CachedVideo:
    """The cached frames of ``video`` when ``cache_dir`` holds them, else the video itself (decoded on demand)."""
    if cache_dir and not isinstance(video, bytes):
        frames_path, meta_path = entry_paths(cache_dir, video, short_side)
        if frames_path.is_file() and meta_path.is_file():
            return CachedVideo(frames_path, meta_path)
    return open_video(video, short_side=short_side)
