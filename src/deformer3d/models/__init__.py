"""Action recognition models and the registry that builds them from a config's ``model:`` section.

    model = build_model({"name": "deformer3d", "preset": "tiny", "modality": "pose"}, num_classes=12)
    out = model(pose=pose)            # ActionOutput(logits (B, K), explanations)

``deformer3d`` is registered here; ``timesformer`` / ``vivit`` import :mod:`deformer3d.models.hf_video` the first
time one of them is asked for (:class:`deformer3d.registry.Registry`). Other code adds models with
:func:`register_model`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from deformer3d.config import ConfigError
from deformer3d.models.deformer import PRESETS, Deformer3D, Deformer3DConfig
from deformer3d.models.hub import ModelNotFoundError
from deformer3d.models.outputs import ActionOutput
from deformer3d.registry import Registry

Builder = Callable[[dict[str, Any], int], nn.Module]
"""``builder(model_cfg, num_classes)``: ``model_cfg`` is the ``model:`` section without ``name`` (it may hold
``preset`` and ``pretrained``); the builder validates the remaining keys."""

MODELS: Registry[Builder] = Registry("model.name", ConfigError)
MODELS.register_lazy("timesformer", "deformer3d.models.hf_video:build_timesformer")
MODELS.register_lazy("vivit", "deformer3d.models.hf_video:build_vivit")


def register_model(name: str, builder: Builder) -> None:
    """Make ``build_model({"name": name, ...})`` call ``builder``. Re-registering a name replaces it."""
    MODELS.register(name, builder)


def available_models() -> list[str]:
    return MODELS.names()


def build_model(model_cfg: Mapping[str, Any], num_classes: int) -> nn.Module:
    """Build the model described by a ``model:`` config section (``name`` + that model's keys)."""
    cfg = dict(model_cfg)
    name = cfg.pop("name", "deformer3d")
    return MODELS.get(name)(cfg, int(num_classes))


def _build_deformer3d(cfg: dict[str, Any], num_classes: int) -> Deformer3D:
    preset = cfg.pop("preset", None)
    pretrained = cfg.pop("pretrained", None)
    if pretrained:
        # the saved config defines the architecture; keys given here override it (num_classes re-heads)
        return Deformer3D.from_pretrained(pretrained, num_classes=num_classes, **cfg)
    return Deformer3D(Deformer3DConfig.preset(preset, num_classes=num_classes, **cfg))


register_model("deformer3d", _build_deformer3d)

__all__ = [
    "PRESETS",
    "ActionOutput",
    "Deformer3D",
    "Deformer3DConfig",
    "MODELS",
    "ModelNotFoundError",
    "available_models",
    "build_model",
    "register_model",
]
