"""FLOPs and parameter counts, measured by running the model under ``torch.utils.flop_counter.FlopCounterMode``.

Counting convention: FLOPs = 2 x multiply-accumulates of convolutions, matmuls and attention (as PyTorch's flop
counter and most papers' "GFLOPs"); element-wise ops, norms and softmax are not counted. Two ops the stock
counter misses on CPU are added: the CPU flash-attention kernel that ``F.scaled_dot_product_attention``
dispatches to, and ``grid_sample`` (8 or 4 corner multiply-adds per sampled value).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_cpu_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                             **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def _grid_sampler_flops(input_shape, grid_shape, *args, out_shape=None, **kwargs) -> int:
    # every output value is a weighted sum of 2^k corners (k = spatial dims): one multiply-add each
    corners = 2 ** (len(input_shape) - 2)
    return 2 * corners * math.prod(out_shape)


def _custom_mapping() -> dict[Any, Any]:
    mapping: dict[Any, Any] = {
        aten.grid_sampler_2d: _grid_sampler_flops,
        aten.grid_sampler_3d: _grid_sampler_flops,
    }
    cpu_sdpa = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_sdpa is not None:
        mapping[cpu_sdpa] = _sdpa_cpu_flops
    cpu_sdpa_backward = getattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
    if cpu_sdpa_backward is not None:  # training steps (the skeleton_speed suite count forward + backward)
        mapping[cpu_sdpa_backward] = _sdpa_cpu_backward_flops
    return mapping


def _run_counted(model: nn.Module, inputs: dict[str, Any]) -> FlopCounterMode:
    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model(**inputs)
    finally:
        model.train(was_training)
    return counter


def count_flops(model: nn.Module, **inputs: Any) -> int:
    """FLOPs of one forward pass ``model(**inputs)`` (eval mode, no gradients)."""
    return int(_run_counted(model, inputs).get_total_flops())


def count_flops_by_op(model: nn.Module, **inputs: Any) -> dict[str, int]:
    """FLOPs of one forward pass per aten op, e.g. ``{"convolution": ..., "mm": ...,
    "_scaled_dot_product_flash_attention_for_cpu": ...}`` (attention alone = the SDPA entries)."""
    counts = _run_counted(model, inputs).get_flop_counts().get("Global", {})
    return {str(getattr(op, "__name__", op)).split(".")[0]: int(n) for op, n in counts.items()}


def attention_core_flops(model: nn.Module, **inputs: Any) -> int:
    """FLOPs of the attention products alone (``Q K^T`` and ``A V`` inside SDPA), excluding projections/FFN."""
    return sum(n for op, n in count_flops_by_op(model, **inputs).items() if "attention" in op)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def attention_flops(num_queries: int, num_keys: int, dim: int, batch: int = 1) -> int:
    """Analytic FLOPs of the two attention matmuls (``Q K^T`` and ``A V``) for ``dim = heads x head_dim``."""
    return 2 * 2 * batch * num_queries * num_keys * dim


def _clip_size(model: nn.Module) -> tuple[int, int]:
    """(num_frames, image_size) from the model's config, or from a wrapped Hugging Face model's config."""
    configs = [getattr(model, "config", None)] + [getattr(m, "config", None) for m in model.modules()]
    for config in configs:
        t, s = getattr(config, "num_frames", None), getattr(config, "image_size", None)
        if t and s:
            return int(t), int(s if isinstance(s, int) else s[0])
    raise ValueError(
        f"{type(model).__name__}: no num_frames / image_size in its config; pass inputs explicitly"
    )


def example_inputs(model: nn.Module, batch_size: int = 1) -> dict[str, torch.Tensor]:
    """The model's own ``example_inputs`` if it has one, else a video clip ``(B, 3, T, S, S)`` of its configured
    ``num_frames`` x ``image_size``."""
    if hasattr(model, "example_inputs"):
        return model.example_inputs(batch_size)  # type: ignore[operator]
    t, s = _clip_size(model)
    return {"video": torch.randn(batch_size, 3, t, s, s)}


def model_info(model: nn.Module, batch_size: int = 1) -> dict[str, Any]:
    """Parameters, FLOPs per clip and input shapes of ``model`` at its configured clip size."""
    inputs = example_inputs(model, batch_size)
    flops = count_flops(model, **inputs)
    return {
        "params": count_params(model),
        "flops_per_clip": flops // batch_size,
        "inputs": {k: tuple(v.shape) for k, v in inputs.items()},
    }


def print_model_info(
    name: str = "deformer3d", preset: str = "paper", modality: str = "rgb_pose", num_classes: int = 60
) -> dict[str, Any]:
    """Print a rich table of a model's parameters, GFLOPs per clip and input shape (``deformer3d info``)."""
    from rich.console import Console
    from rich.table import Table

    from deformer3d.models import build_model

    cfg: dict[str, Any] = {"name": name, "preset": preset}
    if name == "deformer3d":
        cfg["modality"] = modality
    model = build_model(cfg, num_classes)
    info = model_info(model)
    table = Table(
        title=f"{name} (preset {preset}" + (f", modality {modality}" if name == "deformer3d" else "") + ")"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("parameters", f"{info['params']:,} ({info['params'] / 1e6:.2f} M)")
    table.add_row("GFLOPs per clip", f"{info['flops_per_clip'] / 1e9:.2f}")
    for key, shape in info["inputs"].items():
        table.add_row(f"input {key}", " x ".join(str(s) for s in shape))
    table.add_row("classes", str(num_classes))
    Console().print(table)
    return info
