"""Long videos through a model trained on short trimmed clips: several windows, probabilities averaged.

A Penn Action clip lasts about two seconds and its model spreads 16 frames over the whole clip. Spread over a
20-second phone video with five squats, the same 16 frames would be ~1.3 s apart and show no movement at all; so a
video longer than the model's clip (``data.window_seconds`` of its folder) is looked at through up to
:data:`MAX_WINDOWS` windows of that length, evenly spread over it, each sampled exactly as a test clip is, and the
class probabilities are averaged. The pose estimator then runs only on the frames the windows sample.
"""

from __future__ import annotations

import numpy as np

from deformer3d.data.sampling import sample_indices

# 12 windows of ~2 s see all of a ~24 s phone clip (6 saw half of it); 12 x 16 pose frames is ~4 s of MediaPipe on
# a 2-core CPU, so a prediction stays within a few seconds
MAX_WINDOWS = 12
MIN_WINDOW_PRESENCE = 0.5  # a window counts when a person is seen in at least half of its frames (pose models)
MIN_LONG = 1.5  # a video up to 1.5 clips long is one window (the model has seen such lengths in training)


def presence(scores) -> float:
    """The share of a window's frames with at least one present joint: ``scores (F, ...)``, frames first."""
    present = np.asarray(scores) > 0
    return float(present.reshape(len(present), -1).any(1).mean()) if len(present) else 0.0


def person_seen(scores: np.ndarray | None, uses_video: bool) -> bool:
    """Whether a window tells a model anything: an RGB model always sees its frames; a pose-only model needs a
    person in at least :data:`MIN_WINDOW_PRESENCE` of the window's frames (``scores (M, F, V)``, 0 = missing)."""
    if uses_video or scores is None:
        return True
    return presence(np.moveaxis(np.asarray(scores), 1, 0)) >= MIN_WINDOW_PRESENCE


def clip_windows(total: int, fps: float, window_seconds: float, max_windows: int = MAX_WINDOWS) -> list[tuple[int, int]]:
    """``(start, length)`` frame ranges covering a ``total``-frame video: one window over everything when the video
    is at most :data:`MIN_LONG` windows long (or the model has no window length), else up to ``max_windows``
    windows of ``window_seconds``, spaced evenly from the first frame to the last (overlapping on short videos)."""
    length = int(round(window_seconds * fps)) if window_seconds > 0 and fps > 0 else 0
    if length < 2 or total <= MIN_LONG * length:
        return [(0, total)]
    count = min(max_windows, int(np.ceil(2 * total / length)) - 1)  # stride of half a window when possible
    starts = np.linspace(0, total - length, max(count, 2)).round().astype(int)
    return [(int(s), length) for s in np.unique(starts)]


def window_frames(windows: list[tuple[int, int]], num_frames: int, sampler: str = "equidistant") -> list[np.ndarray]:
    """The frame indices the test sampler takes from each window (``(num_frames,)`` each, in video frames)."""
    return [start + sample_indices(sampler, length, num_frames)[0] for start, length in windows]
