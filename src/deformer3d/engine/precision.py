"""Numeric precision of a run: the Lightning precision string for training, the autocast dtype for evaluation."""

from __future__ import annotations

import warnings

import torch

from deformer3d.config import ExperimentConfig


def resolve_precision(cfg: ExperimentConfig) -> str:
    """``auto``: bf16 (or fp16) mixed precision on a GPU, fp32 on CPU. fp16 AMP is GPU-only."""
    on_gpu = cfg.trainer.accelerator in ("gpu", "cuda") or (
        cfg.trainer.accelerator == "auto" and torch.cuda.is_available()
    )
    precision = cfg.trainer.precision
    if precision == "auto":
        if not on_gpu:
            return "32-true"
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if precision == "16-mixed" and not on_gpu:
        warnings.warn("trainer.precision=16-mixed needs a GPU; training in 32-true on CPU", stacklevel=2)
        return "32-true"
    return precision


def autocast_dtype(cfg: ExperimentConfig, device: torch.device) -> torch.dtype | None:
    """The dtype evaluation autocasts to on ``device`` (None: full precision; CPU always runs fp32)."""
    if device.type != "cuda":
        return None
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(resolve_precision(cfg))
