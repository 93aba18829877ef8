"""The pose-estimator interface: frames in, COCO-17 keypoints out.

Every backend turns a clip ``frames (T, H, W, 3) uint8 RGB`` into ``keypoints (M, T, 17, 2)`` float32 pixel
coordinates of those frames and ``scores (M, T, 17)`` float32 in [0, 1] (0 = not detected), i.e. the skeleton
half of the raw sample dict of ``docs/CONTRACTS.md``. A single-person backend returns M = 1; a multi-person one
returns its persons in a stable order per clip (tracked), padded with zero-score persons.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

import numpy as np

from deformer3d.errors import ModelInputError, UserError
from deformer3d.registry import Registry

NUM_JOINTS = 17  # COCO-17
# The short side frames are decoded at for pose estimation. MediaPipe looks at 224-256 px crops: a person of half
# the frame height keeps full detail at 480, and a 4K frame costs 1.2 MB instead of 25 MB.
POSE_SHORT_SIDE = 480


class PoseEstimator(ABC):
    """Estimate 2D human poses in a clip. Use as a context manager (or call :meth:`close`) to free the backend."""

    name: str = ""
    layout: str = "coco17"
    max_persons: int = 1

    @abstractmethod
    def estimate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``frames (T, H, W, 3) uint8`` -> ``keypoints (M, T, 17, 2)`` pixels, ``scores (M, T, 17)``."""

    def estimate_chunks(self, chunks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`estimate` over the concatenation of ``chunks`` (each ``(t, H, W, 3)``), so a long video is
        never held in memory whole: one fresh :meth:`video_session` per call (what a backend tracks carries across
        the chunks, never over from a previous clip)."""
        with self.video_session() as session:
            parts = [session.estimate(chunk) for chunk in chunks]
        if not parts:
            raise ModelInputError(f"{self.name} pose: no frames given")
        return np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)

    def video_session(self) -> VideoSession:
        """A session for consecutive chunks of one video or stream: what the backend tracks over time (the
        person's region, a smoothing filter) carries from one chunk to the next, and its setup is paid once.
        Close it (or use it as a context manager) at the end of the video."""
        return VideoSession(self)

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release the backend's resources."""

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoSession:
    """Consecutive chunks of one video through an estimator (:meth:`PoseEstimator.video_session`).

    ``estimate(chunk)``: ``chunk (t, H, W, 3) uint8`` -> ``keypoints (M, t, 17, 2)``, ``scores (M, t, 17)``, as
    :meth:`PoseEstimator.estimate`. This default keeps no state: each chunk is estimated on its own; backends that
    track override it."""

    def __init__(self, estimator: PoseEstimator):
        self.estimator = estimator

    def estimate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.estimator.estimate(frames)

    def close(self) -> None:  # noqa: B027 - optional for sessions without resources
        """End the video: release what the session holds (the estimator stays usable)."""

    def __enter__(self) -> VideoSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_frames(frames: np.ndarray, who: str) -> np.ndarray:
    """Validate a clip for a pose backend: ``(T, H, W, 3) uint8``, T >= 1."""
    frames = np.asarray(frames)
    if frames.ndim == 3:  # one image
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ModelInputError(f"{who}: frames must be (T, H, W, 3) RGB with T >= 1, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ModelInputError(f"{who}: frames must be uint8 RGB (0..255), got {frames.dtype}")
    return np.ascontiguousarray(frames)


BACKENDS: Registry[Callable[..., PoseEstimator]] = Registry("pose backend", UserError)
BACKENDS.register_lazy("mediapipe", "deformer3d.pose.mediapipe_backend:MediaPipePoseEstimator")


def register_backend(name: str, factory: Callable[..., PoseEstimator]) -> None:
    """Make a backend available to :func:`build_pose_estimator` (and ``extract-poses --backend``)."""
    BACKENDS.register(name, factory)


def available_backends() -> list[str]:
    return BACKENDS.names()


def build_pose_estimator(backend: str = "mediapipe", **kwargs) -> PoseEstimator:
    """The estimator called ``backend`` (``mediapipe``), built with ``kwargs``."""
    return BACKENDS.get(backend)(**kwargs)
