"""Several people: detect, track, and estimate each one's pose with the single-person estimator on their crop.

    with TrackedPoses(max_people=2) as people:
        for chunk in chunks:                          # consecutive frames, e.g. 16 at a time
            per_frame = people.process(list(chunk))   # [{track id: (keypoints (V, 2), scores (V,))}, ...]

Per chunk of consecutive frames:

1. **Detect** newcomers on the chunk's first frame while fewer than ``max_people`` are tracked
   (:mod:`deformer3d.pose.detect`: the pose estimator with the tracked people painted out, or OpenCV's HOG).
   A detection that overlaps a tracked person (IoU > ``overlap``) is that person, not a new one.
2. **Follow** each track: its box, grown by ``margin`` to allow for motion, is cut from every frame of the chunk
   and the single-person estimator runs on those crops in video mode (one graph per track and chunk, MediaPipe's
   own tracking inside it); the keypoints go back to frame pixels and the track's box moves to the last pose.
   Identity is kept by construction: a track only ever looks at its own neighbourhood.
3. **Forget** tracks whose crop showed nobody for ``max_misses`` chunks, and the younger of two tracks that have
   converged on the same person.

Limits (documented in the README): people must be apart (a crop holding two people may follow either); a person
who moves further than ``margin`` x their size within one chunk (~2 s) is lost and found again as a new track;
MediaPipe finds people of at least ~60 px; cost grows with the number of people (one pose call per person per frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deformer3d.pose.base import build_pose_estimator
from deformer3d.pose.detect import Box, HogPeopleDetector, PoseMaskingDetector, expand_box, iou, pose_box

Poses = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass
class Track:
    """One person followed over time: a stable ``id``, their latest ``box``, chunks ``seen`` / ``misses``."""

    id: int
    box: Box
    seen: int = 0
    misses: int = 0


class TrackedPoses:
    """Up to ``max_people`` tracked people with a pose each (a pose source for the timeline and ``watch``).

    Args:
        max_people: how many people to follow at once.
        backend: the single-person pose backend (``mediapipe``).
        detector: ``pose`` (the estimator with known people painted out; any posture) or ``hog`` (OpenCV's
            pedestrian detector; upright people only).
        margin: a track's crop = its last pose box grown by this x its larger side on every side.
        max_misses: chunks without a pose before a track is forgotten.
        overlap: IoU above which a detection (or another track) is the same person.
    """

    layout = "coco17"

    def __init__(self, max_people: int = 2, backend: str = "mediapipe", detector: str = "pose",
                 margin: float = 0.35, max_misses: int = 2, overlap: float = 0.3):
        self.video_estimator = build_pose_estimator(backend, static_image_mode=False)
        self.image_estimator = build_pose_estimator(backend, static_image_mode=True)
        self.layout = getattr(self.video_estimator, "layout", "coco17")
        if detector == "pose":
            self.detector = PoseMaskingDetector(self.image_estimator, max_people, overlap)
        elif detector == "hog":
            self.detector = HogPeopleDetector()
        else:
            from deformer3d.errors import UserError

            raise UserError(f"person detector '{detector}' is unknown; use 'pose' or 'hog'")
        self.max_people, self.margin, self.max_misses, self.overlap = max_people, margin, max_misses, overlap
        self.tracks: list[Track] = []
        self._next_id = 0

    def process(self, images: list[np.ndarray]) -> list[Poses]:
        """Consecutive frames ``[(H, W, 3) uint8, ...]`` -> per frame ``{track id: (kp (V, 2), sc (V,))}``."""
        frames = np.stack(images)
        hw = frames.shape[1:3]
        if len(self.tracks) < self.max_people:
            for det in self.detector.detect(frames[0], known=[t.box for t in self.tracks]):
                if len(self.tracks) >= self.max_people:
                    break
                self.tracks.append(Track(self._next_id, det.box))
                self._next_id += 1
        out: list[Poses] = [{} for _ in images]
        for track in self.tracks:
            x0, y0, x1, y1 = expand_box(track.box, self.margin, hw)
            kp, sc = self.video_estimator.estimate(np.ascontiguousarray(frames[:, y0:y1, x0:x1]))
            kp = kp[0] + np.array([x0, y0], np.float32)  # crop pixels -> frame pixels, (T, V, 2)
            sc = sc[0]
            last = None
            for t in range(len(images)):
                box = pose_box(kp[t], sc[t])
                if box is not None:
                    out[t][track.id] = (kp[t], sc[t])
                    last = box
            if last is None:
                track.misses += 1
            else:
                track.box, track.misses, track.seen = last, 0, track.seen + 1
        self._forget(out)
        return out

    def _forget(self, out: list[Poses]) -> None:
        gone = {t.id for t in self.tracks if t.misses >= self.max_misses}
        for i, a in enumerate(self.tracks):  # two tracks on one person: the younger one goes
            for b in self.tracks[i + 1 :]:
                if a.id not in gone and b.id not in gone and iou(a.box, b.box) > self.overlap:
                    gone.add(max(a.id, b.id))
                    for poses in out:
                        poses.pop(max(a.id, b.id), None)
        self.tracks = [t for t in self.tracks if t.id not in gone]

    def close(self) -> None:
        self.video_estimator.close()
        self.image_estimator.close()

    def __enter__(self) -> TrackedPoses:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
