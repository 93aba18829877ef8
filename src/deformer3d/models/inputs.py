"""Which inputs a model reads: ``video`` ``(B, 3, T, H, W)`` and / or ``pose`` ``(B, T, R, 3)``.

Every model states it as ``uses_video`` / ``uses_pose``; one that states neither reads video only. The training
module and the predictor wrap a model and read as it does (:class:`ReadsAsItsModel`).
"""

from __future__ import annotations

from typing import Any


def uses_video(model: Any) -> bool:
    return bool(getattr(model, "uses_video", True))


def uses_pose(model: Any) -> bool:
    return bool(getattr(model, "uses_pose", False))


class ReadsAsItsModel:
    """``uses_video`` / ``uses_pose`` of a wrapper holding its model as ``self.model``."""

    model: Any

    @property
    def uses_video(self) -> bool:
        return uses_video(self.model)

    @property
    def uses_pose(self) -> bool:
        return uses_pose(self.model)
