"""How much skeleton a prediction stands on: no confident answer from no evidence.

A pose model given an empty skeleton (the estimator found nobody, every joint NaN / inf / far outside the frame)
still prints a class with a probability; that number says nothing about the video. So every prediction that
reads a skeleton reports where it came from and the fraction of its joints that are usable, warns when that
fraction is low, and a pose-only model refuses when nothing is usable.

    evidence = pose_evidence(keypoints, scores, (height, width), source="estimated")
    evidence.to_dict()     # {"source": "estimated", "joints_found": 0.0}
    require_evidence(evidence, pose_only=True, video_name="clip.mp4")   # UserError: no person ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deformer3d.data.pose_checks import joints_found
from deformer3d.errors import UserError

LOW_EVIDENCE = 0.5  # below this fraction of usable joints a prediction carries a warning


@dataclass(frozen=True)
class PoseEvidence:
    """``source``: "estimated" (the pose backend) or "given" (a skeleton file / arrays); ``joints_found``: the
    fraction of (frame, joint) slots where at least one person has a usable joint, in [0, 1]."""

    source: str
    joints_found: float

    @property
    def warning(self) -> str | None:
        if self.joints_found >= LOW_EVIDENCE:
            return None
        if self.joints_found == 0:
            what = "no person was found" if self.source == "estimated" else "the skeleton has no usable joint"
            return f"{what}: the prediction does not rest on any pose"
        return (
            f"only {100 * self.joints_found:.0f}% of the joints were found ({self.source} pose): "
            "the prediction rests on little evidence"
        )

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "joints_found": round(float(self.joints_found), 3)}


def pose_evidence(
    keypoints: np.ndarray, scores: np.ndarray, hw: tuple[int, int] | None, source: str
) -> PoseEvidence:
    """The :class:`PoseEvidence` of a skeleton ``keypoints (M, T, V, 2)`` pixels, ``scores (M, T, V)`` of frames
    ``hw = (height, width)``."""
    return PoseEvidence(source=source, joints_found=joints_found(keypoints, scores, hw))


def require_evidence(evidence: PoseEvidence, *, pose_only: bool, video_name: str) -> None:
    """Refuse a pose-only prediction that has no usable joint (its answer would be noise)."""
    if pose_only and evidence.joints_found == 0:
        if evidence.source == "estimated":
            raise UserError(
                f"{video_name}: the pose estimator found no person, and this model reads only the skeleton; "
                "give a video where a person is visible, or a skeleton file (--skeleton)"
            )
        raise UserError(
            f"{video_name}: the skeleton has no usable joint (all missing, NaN / inf or far outside the frame), "
            "and this model reads only the skeleton; give a skeleton with the person's joints"
        )
