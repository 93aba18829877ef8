"""The window attention as it was before the speed work (commit 37a1317), kept as the "before" of the
``skeleton_speed`` suite and as the reference the optimised model must equal (tests/models/test_model_speed_paths.py).

The index-tensor window helpers of that code (:func:`window_index`, :func:`window_layout`, :func:`average_windows`)
live here too: the model slices windows instead (``deformer3d.models.attention``).

``reference_attention(model)`` runs every :class:`WindowedAttention` of ``model`` through :func:`windowed_forward`
(windows gathered with an index tensor, outputs scattered back with ``index_add``) and every
:class:`MultiHeadAttention` through :func:`attend` (always ``F.scaled_dot_product_attention``), the original code
paths; leaving the context restores the model's own. Parameters are shared, so the state dict is the same.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

from deformer3d.models.attention import MultiHeadAttention, WindowedAttention, window_starts

# ------------------------------------------------------------------ the original index-tensor window helpers


def window_index(length: int, window: int, stride: int | None = None, device=None) -> Tensor:
    """``(num_windows, min(window, length))`` long tensor of the items of each window."""
    window = min(window, length)
    starts = torch.tensor(window_starts(length, window, stride), device=device)
    return starts[:, None] + torch.arange(window, device=device)[None, :]


def window_layout(length: int, window: int, stride: int | None, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(index, counts)``: :func:`window_index` and the ``(length,)`` number of windows holding each item
    (float32), cached so a forward pass builds no index tensors. Callers must not modify them in place.

    Both are computed in Python from the static sizes, so traced graphs (torch.export, ONNX) hold them as
    constants; while exporting they are built fresh (a tensor made under the tracer must not enter the cache)."""
    if torch.compiler.is_exporting() or torch.jit.is_tracing():
        return _window_layout(length, window, stride, device)
    return _cached_window_layout(length, window, stride, device)


def _window_layout(length: int, window: int, stride: int | None, device: torch.device) -> tuple[Tensor, Tensor]:
    window = min(window, length)
    starts = window_starts(length, window, stride)
    counts = [sum(s <= i < s + window for s in starts) for i in range(length)]
    if min(counts) == 0:
        raise RuntimeError("window layout leaves items uncovered")  # impossible with window_starts
    index = torch.tensor([[s + j for j in range(window)] for s in starts], dtype=torch.long, device=device)
    return index, torch.tensor(counts, dtype=torch.float32, device=device)


@functools.lru_cache(maxsize=64)
def _cached_window_layout(length: int, window: int, stride: int | None, device: torch.device) -> tuple[Tensor, Tensor]:
    # never cache inference tensors: a layout first built under inference_mode (e.g. a sanity-check validation
    # step) must still be usable when training
    with torch.inference_mode(False):
        return _window_layout(length, window, stride, device)


def average_windows(values: Tensor, index: Tensor, length: int, counts: Tensor | None = None) -> Tensor:
    """Scatter window outputs back to their items, averaging items that fall in several windows.

    Args:
        values: ``(B, num_windows, window, ...)`` one output per window item.
        index: ``(num_windows, window)`` item of each window position (from :func:`window_index`).
        length: number of items.
        counts: ``(length,)`` windows per item (from :func:`window_layout`); computed from ``index`` if None.

    Returns:
        ``(B, length, ...)``.
    """
    flat_index = index.reshape(-1)
    flat = values.flatten(1, 2)  # (B, num_windows * window, ...)
    out = values.new_zeros((values.shape[0], length) + tuple(values.shape[3:]))
    out.index_add_(1, flat_index, flat)
    if counts is None:
        counts = torch.bincount(flat_index, minlength=length)
        if bool((counts == 0).any()):
            raise RuntimeError("window layout leaves items uncovered")  # impossible with window_starts
    counts = counts.to(values.dtype)
    return out / counts.reshape((1, length) + (1,) * (values.ndim - 3))


def attend(
    self: MultiHeadAttention, q: Tensor, k: Tensor, v: Tensor, need_weights: bool = False
) -> tuple[Tensor, Tensor | None]:
    """The original ``MultiHeadAttention.attend``: SDPA for the output, explicit softmax chunks for the weights."""
    q, k, v = (rearrange(t, "b n (h e) -> b h n e", h=self.heads) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout if self.training else 0.0)
    weights = None
    if need_weights:
        weights = q.new_zeros(q.shape[0], k.shape[2])
        for chunk in q.split(1024, dim=2):
            attn = torch.softmax(chunk @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)
            weights += attn.sum(dim=(1, 2))
        weights /= q.shape[1] * q.shape[2]
    return rearrange(out, "b h n e -> b n (h e)"), weights


def windowed_forward(
    self: WindowedAttention, units: Tensor, shared: Tensor | None = None, need_weights: bool = False
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The original ``WindowedAttention.forward``: ``units (B, L, K, d)``, ``shared (B, S, d)``."""
    b, length, k, _ = units.shape
    index, counts = window_layout(length, self.window or length, self.stride, units.device)  # (n, w), (L,)
    n, w = index.shape
    attn = self.attn
    qkv = attn.qkv(attn.norm(units))  # (B, L, K, 3d)
    seq = rearrange(qkv[:, index], "b n w k c -> (b n) (w k) c")
    if shared is not None:
        shared_qkv = attn.qkv(attn.norm(shared))  # (B, S, 3d)
        seq = torch.cat([seq, repeat(shared_qkv, "b s c -> (b n) s c", n=n)], dim=1)
    out, weights = attn.attend(*seq.chunk(3, dim=-1), need_weights=need_weights)
    unit_out = rearrange(out[:, : w * k], "(b n) (w k) d -> b n w k d", b=b, w=w)
    units = units + self.drop_path(attn.to_out(average_windows(unit_out, index, length, counts)))
    units = units + self.drop_path(self.ff(units))
    if shared is not None:
        shared_out = rearrange(out[:, w * k :], "(b n) s d -> b n s d", b=b).mean(dim=1)
        shared = shared + self.drop_path(attn.to_out(shared_out))
        shared = shared + self.drop_path(self.ff(shared))
    unit_weights = None
    if weights is not None:
        unit_weights = rearrange(weights[:, : w * k], "(b n) (w k) -> b n w k", b=b, w=w)
        unit_weights = average_windows(unit_weights, index, length, counts)
    return units, shared, unit_weights


@contextmanager
def reference_attention(model: nn.Module) -> Iterator[nn.Module]:
    """Within the context, ``model`` computes its attention with the original code paths (same parameters)."""
    patched: list[tuple[nn.Module, str]] = []
    try:
        for module in model.modules():
            if isinstance(module, WindowedAttention):
                module.forward = types.MethodType(windowed_forward, module)  # type: ignore[method-assign]
                patched.append((module, "forward"))
            elif isinstance(module, MultiHeadAttention):
                module.attend = types.MethodType(attend, module)  # type: ignore[method-assign]
                patched.append((module, "attend"))
        yield model
    finally:
        for module, name in patched:
            delattr(module, name)  # the class's method shows through again
