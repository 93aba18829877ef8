"""Finding the people in a frame, for the single-person pose estimators to run on one person at a time.

    detector = PoseMaskingDetector(estimator, max_people=2)
    for det in detector.detect(image, known=[track.box for track in tracks]):
        det.box, det.keypoints, det.scores      # (x0, y0, x1, y1) pixels; (V, 2), (V,) or None

Two detectors, both offline (no download):

- :class:`PoseMaskingDetector` (the default) asks the pose estimator itself: MediaPipe finds the most prominent
  person of the frame; that person (and every person already tracked) is painted out and it is asked again, until
  nobody more is found or ``max_people`` are. Finds people in any posture (lying in a push-up, sitting), because
  BlazePose's own detector does; costs one pose call per person found plus one.
- :class:`HogPeopleDetector`: OpenCV's built-in HOG + linear SVM pedestrian detector (ships with OpenCV, no
  weights to fetch). Finds upright people only (standing, walking), misses lying or sitting ones, and needs people
  at least ~100 px tall; proposals are confirmed by a pose on their crop.

Limits: people who overlap heavily are found as one; very small people (under ~60 px tall) are missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
MIN_SCORE = 0.3  # joints below this visibility do not count towards a person's box
MIN_JOINTS = 5  # a pose with fewer confident joints is not a person


@dataclass
class Detection:
    """A person: ``box`` in pixels, and their pose on the whole frame when the detector has one."""

    box: Box
    keypoints: np.ndarray | None = None  # (V, 2) pixels of the frame
    scores: np.ndarray | None = None  # (V,)


def pose_box(keypoints: np.ndarray, scores: np.ndarray, min_score: float = MIN_SCORE) -> Box | None:
    """The tight box around the confident joints of one pose ``(V, 2)``, ``(V,)``; None for too few joints."""
    ok = scores > min_score
    if ok.sum() < MIN_JOINTS:
        return None
    (x0, y0), (x1, y1) = keypoints[ok].min(0), keypoints[ok].max(0)
    return float(x0), float(y0), float(x1), float(y1)


def expand_box(box: Box, margin: float, hw: tuple[int, int], min_side: float = 32.0) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` x its larger side on every side (a joint box misses the head top, hands and
    feet, and the person moves), at least ``min_side`` wide, clipped to the frame ``hw`` -> integer pixels."""
    x0, y0, x1, y1 = box
    grow = margin * max(x1 - x0, y1 - y0, min_side)
    h, w = hw
    return (int(max(0, x0 - grow)), int(max(0, y0 - grow)), int(min(w, x1 + grow)), int(min(h, y1 + grow)))


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def paint_out(image: np.ndarray, boxes: list[Box], hw_margin: float = 0.1) -> np.ndarray:
    """A copy of ``image`` with ``boxes`` (grown by ``hw_margin``) filled black: the people there are hidden."""
    out = image.copy()
    for box in boxes:
        x0, y0, x1, y1 = expand_box(box, hw_margin, image.shape[:2])
        out[y0:y1, x0:x1] = 0
    return out


class PoseMaskingDetector:
    """People found by the single-person pose estimator on the frame with everyone found so far painted out.

    Args:
        estimator: a :class:`~deformer3d.pose.base.PoseEstimator` in still-image mode.
        max_people: stop after this many (known ones included).
        overlap: a pose whose box overlaps a known person's by more than this IoU is that person again.
    """

    def __init__(self, estimator, max_people: int = 2, overlap: float = 0.3):
        self.estimator = estimator
        self.max_people = max_people
        self.overlap = overlap

    def detect(self, image: np.ndarray, known: list[Box] = ()) -> list[Detection]:
        """New people in ``image (H, W, 3)`` beyond the ``known`` boxes, most prominent first."""
        known = list(known)
        found: list[Detection] = []
        while len(known) + len(found) < self.max_people:
            masked = paint_out(image, known + [d.box for d in found])
            kp, sc = self.estimator.estimate(masked[None])  # (1, 1, V, 2), (1, 1, V)
            box = pose_box(kp[0, 0], sc[0, 0])
            if box is None or any(iou(box, b) > self.overlap for b in known + [d.box for d in found]):
                break
            found.append(Detection(box, kp[0, 0], sc[0, 0]))
        return found


class HogPeopleDetector:
    """OpenCV's HOG pedestrian detector (upright people only; see the module docstring).

    Args:
        width: frames are shrunk to this width first (HOG's cost grows with the pixel count).
        min_weight: SVM margin below which a window is not a person.
    """

    def __init__(self, width: int = 480, min_weight: float = 0.5):
        try:
            import cv2
        except ImportError as exc:  # the pose extra installs OpenCV with MediaPipe
            from deformer3d.errors import UserError

            raise UserError(f"the HOG people detector needs OpenCV: pip install 'deformer3d[pose]' ({exc})") from exc
        self.cv2 = cv2
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.width, self.min_weight = width, min_weight

    def detect(self, image: np.ndarray, known: list[Box] = ()) -> list[Detection]:
        h, w = image.shape[:2]
        scale = min(1.0, self.width / w)
        small = self.cv2.resize(image, (int(w * scale), int(h * scale))) if scale < 1 else image
        rects, weights = self.hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        boxes = [(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale)
                 for (x, y, bw, bh), wt in zip(rects, np.ravel(weights), strict=True) if wt >= self.min_weight]
        order = np.argsort([-(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])  # biggest first
        out: list[Box] = []
        for i in order:  # non-maximum suppression, and nobody already known
            if all(iou(boxes[i], b) < 0.3 for b in out + list(known)):
                out.append(boxes[i])
        return [Detection(b) for b in out]
