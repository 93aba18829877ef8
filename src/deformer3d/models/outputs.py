"""Named model outputs shared by every model of :mod:`deformer3d.models` (Hugging Face style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass
class ActionOutput:
    """What every action model returns.

    Attributes:
        logits: ``(B, K)`` unnormalised class scores.
        explanations: ``None`` unless ``forward(..., return_explanations=True)`` was asked for a model that can
            explain itself (Deformer3D): ``{"deformable": [{"points": (B, N, 3), "weight": (B, N)}, ...] per block,
            "joint_attention": (B, T, R)}`` (see ``docs/CONTRACTS.md``).
    """

    logits: Tensor
    explanations: dict[str, Any] | None = None
