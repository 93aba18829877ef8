"""Attention modules of the Deformer3D block.

- :class:`MultiHeadAttention` (pre-LN, ``F.scaled_dot_product_attention``) and :class:`FeedForward`;
- :class:`DeformableAttention3D` -- step (a): the 3D token search over RGB tokens;
- :class:`WindowedAttention` -- self-attention in overlapping windows along one axis, averaged where windows
  overlap; :class:`JointStrideAttention` (step b) and :class:`TemporalStrideAttention` (step d) are its two uses;
- the window helpers :func:`window_starts`, :func:`window_slices` and :func:`average_window_slices`.

Shapes: ``B`` batch, ``T`` frames, ``h x w`` RGB token grid, ``R`` pose tokens per frame, ``d`` width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole sample with probability ``p`` (training only)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        # the (B, 1, ...) mask is scaled, not the activations: one pass over x instead of two
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep.div_(1 - self.p)


class FeedForward(nn.Module):
    """Pre-LN MLP ``(..., d) -> (..., d)``: LN, Linear(d -> r d), GELU, Dropout, Linear(r d -> d), Dropout."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MultiHeadAttention(nn.Module):
    """Pre-LN multi-head attention; returns the residual branch (the caller adds it).

    ``x (B, N, d)`` gives queries, ``context (B, M, d)`` (default ``x``) keys and values. With
    ``need_weights=True`` it also returns ``(B, M)``: the attention mass each key receives, averaged over heads
    and queries (computed explicitly; the output itself always comes from SDPA).
    """

    def __init__(self, dim: int, heads: int, attn_dropout: float = 0.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.attn_dropout = attn_dropout
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(
        self, x: Tensor, context: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        x = self.norm(x)
        context = x if context is None else self.norm(context)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        out, weights = self.attend(self.to_q(x), k, v, need_weights)
        return self.to_out(out), weights

    def qkv(self, x: Tensor) -> Tensor:
        """``(..., d)`` -> ``(..., 3d)`` = ``[q || k || v]`` of already-normalised tokens, in one matmul (the
        same products as ``to_q`` and ``to_kv``)."""
        weight = torch.cat([self.to_q.weight, self.to_kv.weight])
        bias = torch.cat([self.to_q.bias, self.to_kv.bias])
        return F.linear(x, weight, bias)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """Projected ``q (B, N, d)``, ``k, v (B, M, d)`` -> attention output ``(B, N, d)`` *before* ``to_out``
        and, with ``need_weights``, the ``(B, M)`` attention mass per key."""
        q, k, v = (rearrange(t, "b n (h e) -> b h n e", h=self.heads) for t in (q, k, v))
        dropout = self.attn_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        weights = None
        if need_weights:
            # in chunks of queries: the full (B, heads, N, M) matrix can be gigabytes for long clips
            weights = q.new_zeros(q.shape[0], k.shape[2])
            for chunk in q.split(1024, dim=2):
                attn = torch.softmax(
                    chunk @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1
                )  # (B, heads, n, M)
                weights += attn.sum(dim=(1, 2))
            weights /= q.shape[1] * q.shape[2]
        return rearrange(out, "b h n e -> b n (h e)"), weights


# ----------------------------------------------------------------------------------------------- windows


def window_starts(length: int, window: int, stride: int | None = None) -> list[int]:
    """Start positions of windows of ``window`` items over ``length`` with ``stride`` (default
    ``max(1, window // 2)``). The last window is shifted to end exactly at ``length`` so the last items are
    always covered; a window at least as long as ``length`` gives one window over everything."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if window >= length:
        return [0]
    stride = max(1, window // 2) if stride is None else stride
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def window_slices(x: Tensor, starts: list[int], window: int) -> Tensor:
    """``x (B, L, ...)`` -> ``(B, n, window, ...)``: the windows starting at ``starts``, by unfolding or slicing
    (their backward adds slices; an index gather's backward is a serial ``index_put`` with accumulation on CPU)."""
    if len(starts) == 1 and window == x.shape[1]:
        return x.unsqueeze(1)
    step = starts[1] - starts[0] if len(starts) > 1 else 1
    if step > 0 and starts == list(range(0, x.shape[1] - window + 1, step)):
        # evenly spaced windows are a strided view: no copy here, and the backward is one unfold_backward
        return x.unfold(1, window, step).movedim(-1, 2)
    return torch.stack([x[:, s : s + window] for s in starts], dim=1)


def average_window_slices(values: Tensor, starts: list[int], length: int) -> Tensor:
    """The inverse of :func:`window_slices`, averaging items that fall in several windows: ``values (B, n, w,
    ...)`` -> ``(B, length, ...)``.

    ``[0, length)`` is cut at every window edge, so each piece lies in the same windows throughout: its mean is
    the sum of those windows' chunks divided by their number, and the pieces are concatenated. Only overlaps are
    added (zero-padding each window to ``length`` and summing moved ``n`` full-length tensors), the windows are
    split rather than indexed (the backward is a cat and a stack, not a zero-filled tensor per slice), and
    traced graphs (torch.export, ONNX) hold only splits, adds and one concat.
    """
    n, w = values.shape[1:3]
    if n == 1 and w == length:
        return values[:, 0]
    edges = sorted({0, length, *starts, *(s + w for s in starts)})
    chunks = {}  # (window, piece start) -> that window's part of the piece
    for i, window in enumerate(values.unbind(1)):
        cuts = [e for e in edges if starts[i] <= e <= starts[i] + w]
        parts = window.split([hi - lo for lo, hi in zip(cuts[:-1], cuts[1:], strict=False)], dim=1)
        chunks.update({(i, lo): part for lo, part in zip(cuts[:-1], parts, strict=True)})
    pieces = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        covering = [chunks[i, lo] for i, s in enumerate(starts) if s <= lo and hi <= s + w]
        total = covering[0]
        for part in covering[1:]:
            total = total + part
        pieces.append(total / len(covering) if len(covering) > 1 else total)
    return torch.cat(pieces, dim=1)


class WindowedAttention(nn.Module):
    """Self-attention in overlapping windows along one axis, then a FFN on every token.

    ``units (B, L, K, d)``: L items (joints or frames) of K tokens each; windows of ``window`` items (stride
    ``stride``, default ``window // 2``; ``window=None`` = one window over all L, i.e. full attention). ``shared (B, S, d)`` tokens
    join every window; every token's output is the average of its outputs over the windows holding it (the
    attention output is averaged before the output projection, which is affine, so this is the same as averaging
    projected outputs; its dropout then acts once per token).
    Returns ``units``, ``shared`` and, with ``need_weights``, ``(B, L, K)`` attention mass per unit token.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int | None,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        drop_path: float = 0.0,
        stride: int | None = None,
    ):
        super().__init__()
        if stride is not None and window is not None and not 1 <= stride <= window:
            raise ValueError(f"window stride {stride} must be in 1..window ({window}) so every item is covered")
        self.window = window
        self.stride = stride
        self.attn = MultiHeadAttention(dim, heads, attn_dropout, dropout)
        self.ff = FeedForward(dim, mlp_ratio, dropout)
        self.drop_path = DropPath(drop_path)

    def forward(
        self, units: Tensor, shared: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        b, length, k, _ = units.shape
        w = min(self.window or length, length)
        starts = window_starts(length, w, self.stride)
        n = len(starts)
        attn = self.attn
        # LN and the q/k/v projections act per token: run them once per token, then slice out the windows (a token
        # in several windows would otherwise be normalised and projected once per window)
        qkv = attn.qkv(attn.norm(units))  # (B, L, K, 3d)
        seq = rearrange(window_slices(qkv, starts, w), "b n w k c -> b n (w k) c")  # (B, n, w K, 3d)
        if shared is not None:
            shared_qkv = attn.qkv(attn.norm(shared))  # (B, S, 3d)
            seq = torch.cat([seq, repeat(shared_qkv, "b s c -> b n s c", n=n)], dim=2)  # (B, n, w K + S, 3d)
        seq = rearrange(seq, "b n m c -> (b n) m c")
        out, weights = attn.attend(*seq.chunk(3, dim=-1), need_weights=need_weights)  # (B * n, w K [+ S], d)
        # tokens in several windows get the mean of their window outputs (all windows saw the same input); to_out
        # is affine, so projecting the mean once equals averaging the projected window outputs
        unit_out = rearrange(out[:, : w * k], "(b n) (w k) d -> b n w k d", b=b, w=w)
        units = units + self.drop_path(attn.to_out(average_window_slices(unit_out, starts, length)))
        units = units + self.drop_path(self.ff(units))
        if shared is not None:
            shared_out = rearrange(out[:, w * k :], "(b n) s d -> b n s d", b=b).mean(dim=1)
            shared = shared + self.drop_path(attn.to_out(shared_out))
            shared = shared + self.drop_path(self.ff(shared))
        unit_weights = None
        if weights is not None:
            unit_weights = rearrange(weights[:, : w * k], "(b n) (w k) -> b n w k", b=b, w=w)
            unit_weights = average_window_slices(unit_weights, starts, length)
        return units, shared, unit_weights


class JointStrideAttention(nn.Module):
    """Step (b): windows of ``window`` joints (stride ``window // 2``) over R, each with all T frames of its joints
    plus the side tokens (M_pose, M'_CLS); ``window=None`` = full attention over all joints.

    ``pose (B, T, R, d)``, ``side (B, T, S, d)`` -> same shapes, and with ``need_weights`` the joint attention
    ``(B, T, R)`` (attention mass each joint token received, normalised to sum 1 over R per frame).
    """

    def __init__(self, dim: int, heads: int, window: int | None, **kwargs):
        super().__init__()
        self.inner = WindowedAttention(dim, heads, window, **kwargs)

    def forward(
        self, pose: Tensor, side: Tensor | None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        t = pose.shape[1]
        units = rearrange(pose, "b t r d -> b r t d")
        shared = rearrange(side, "b t s d -> b (s t) d") if side is not None else None
        units, shared, weights = self.inner(units, shared, need_weights)
        pose = rearrange(units, "b r t d -> b t r d")
        if shared is not None:
            side = rearrange(shared, "b (s t) d -> b t s d", t=t)
        if weights is not None:
            weights = rearrange(weights, "b r t -> b t r")
            weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return pose, side, weights


class TemporalStrideAttention(nn.Module):
    """Step (d): windows of ``window`` frames (stride ``window // 2``) over T, self-attention among all tokens of
    those frames; ``window=None`` = full attention over all frames. ``tokens (B, T, D_n, d)`` -> same shape."""

    def __init__(self, dim: int, heads: int, window: int | None, **kwargs):
        super().__init__()
        self.inner = WindowedAttention(dim, heads, window, **kwargs)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.inner(tokens)[0]


# ----------------------------------------------------------------------------------------------- deformable


def reference_points(
    sizes: tuple[int, int, int], kernel: tuple[int, int, int], stride: tuple[int, int, int], device=None
) -> Tensor:
    """Centres of the output cells of a valid (unpadded) conv with ``kernel`` / ``stride`` over a ``(T, h, w)``
    grid, in ``grid_sample`` coordinates (``[-1, 1]``, ``align_corners=False``).

    Returns ``(T~, h~, w~, 3)`` ordered ``(x, y, t)`` (the order ``F.grid_sample`` expects).
    """
    axes = []
    for n, k, s in zip(sizes, kernel, stride, strict=True):
        out = torch.arange((n - k) // s + 1, device=device, dtype=torch.float32)
        centre = out * s + (k - 1) / 2  # input index at the centre of each receptive field
        axes.append((2 * centre + 1) / n - 1)
    t, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, t], dim=-1)


class DeformableAttention3D(nn.Module):
    """Step (a): attention of ``[Z || side]`` over ``[Z~ || side]`` where ``Z~`` are RGB tokens sampled at
    learned 3D positions (the 3D token search), then a FFN.

    Offset net: depthwise ``Conv3d(d, d, kernel, stride, no padding)`` -> LN -> GELU -> ``Conv3d(d, 3, 1)``;
    ``dp = tanh(.) * offset_range / (w~, h~, T~)``; reference points ``p`` = centres of the conv output grid in
    ``[-1, 1]``; ``Z~ = grid_sample(Z, p + dp)`` (trilinear, border padding). When the clip (or the token grid) is
    smaller than the kernel, the kernel is clamped to it by cropping the centre of the learned weights.

    ``mode="full"`` skips the search: keys/values are all RGB tokens (full spatio-temporal attention).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mode: str = "deformable",
        kernel: tuple[int, int, int] = (3, 7, 7),
        stride: tuple[int, int, int] = (1, 3, 3),
        offset_range: tuple[float, float, float] = (2.0, 2.0, 2.0),
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        if mode not in ("deformable", "full"):
            raise ValueError(f"DeformableAttention3D mode must be 'deformable' or 'full', got {mode!r}")
        self.mode = mode
        self.attn = MultiHeadAttention(dim, heads, attn_dropout, dropout)
        self.ff = FeedForward(dim, mlp_ratio, dropout)
        self.drop_path = DropPath(drop_path)
        if mode == "deformable":
            self.kernel = tuple(int(k) for k in kernel)
            self.stride = tuple(int(s) for s in stride)
            self.offset_range = tuple(float(r) for r in offset_range)  # (t, y, x)
            self.offset_conv = nn.Conv3d(dim, dim, self.kernel, self.stride, groups=dim)
            self.offset_norm = nn.LayerNorm(dim)
            self.offset_proj = nn.Conv3d(dim, 3, 1)  # channels ordered (x, y, t) like the grid

    def effective_kernel(self, sizes: tuple[int, int, int]) -> tuple[int, int, int]:
        """The kernel clamped to the token grid ``(T, h, w)`` (e.g. temporal 3 -> 1 for a single frame)."""
        return tuple(min(k, n) for k, n in zip(self.kernel, sizes, strict=True))  # type: ignore[return-value]

    def sampling_grid(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z (B, T, h, w, d)`` -> ``(grid, reference)``: ``(B, T~, h~, w~, 3)`` sampling positions ``p + dp`` and
        ``(T~, h~, w~, 3)`` reference points ``p``, ordered ``(x, y, t)`` in ``[-1, 1]``."""
        sizes = tuple(z.shape[1:4])
        kernel = self.effective_kernel(sizes)  # type: ignore[arg-type]
        # crop the centre of the learned kernel when the grid is smaller than it
        w = self.offset_conv.weight
        starts = [(full - k) // 2 for full, k in zip(self.kernel, kernel, strict=True)]
        w = w[
            :,
            :,
            starts[0] : starts[0] + kernel[0],
            starts[1] : starts[1] + kernel[1],
            starts[2] : starts[2] + kernel[2],
        ]
        x = F.conv3d(
            rearrange(z, "b t h w d -> b d t h w"), w, self.offset_conv.bias, self.stride, groups=z.shape[-1]
        )
        x = F.gelu(self.offset_norm(rearrange(x, "b d t h w -> b t h w d")))
        offsets = rearrange(
            self.offset_proj(rearrange(x, "b t h w d -> b d t h w")).tanh(), "b c t h w -> b t h w c"
        )
        out_t, out_h, out_w = offsets.shape[1:4]
        r_t, r_y, r_x = self.offset_range
        scale = offsets.new_tensor([r_x / out_w, r_y / out_h, r_t / out_t])
        reference = reference_points(sizes, kernel, self.stride, device=z.device).to(z.dtype)  # type: ignore[arg-type]
        return reference + offsets * scale, reference

    @staticmethod
    def sample(z: Tensor, grid: Tensor) -> Tensor:
        """Trilinear sampling of ``z (B, T, h, w, d)`` at ``grid (B, T~, h~, w~, 3)`` -> ``(B, T~ h~ w~, d)``."""
        out = F.grid_sample(
            rearrange(z, "b t h w d -> b d t h w"),
            grid,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        return rearrange(out, "b d t h w -> b (t h w) d")

    def forward(
        self, z: Tensor, side: Tensor | None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None, dict[str, Tensor] | None]:
        """``z (B, T, h, w, d)``, ``side (B, T, S, d)`` (M_RGB, M_CLS) -> updated ``z``, ``side`` and, with
        ``need_weights``, ``{"points": (B, N, 3) as (t, y, x) in [0, 1], "weight": (B, N)}``."""
        b, t, h, w, _ = z.shape
        queries = rearrange(z, "b t h w d -> b (t h w) d")
        side_flat = rearrange(side, "b t s d -> b (t s) d") if side is not None else None
        if side_flat is not None:
            queries = torch.cat([queries, side_flat], dim=1)
        if self.mode == "deformable":
            grid, _ = self.sampling_grid(z)
            keys = self.sample(z, grid)
            context = keys if side_flat is None else torch.cat([keys, side_flat], dim=1)
            positions = rearrange(grid, "b t h w c -> b (t h w) c")
        else:
            context = None  # full self-attention over all RGB tokens
            positions = repeat(
                reference_points((t, h, w), (1, 1, 1), (1, 1, 1), z.device), "t h w c -> b (t h w) c", b=b
            )
            keys = queries[:, : t * h * w]
        delta, weights = self.attn(queries, context, need_weights)
        x = queries + self.drop_path(delta)
        x = x + self.drop_path(self.ff(x))
        z = rearrange(x[:, : t * h * w], "b (t h w) d -> b t h w d", t=t, h=h, w=w)
        if side is not None:
            side = rearrange(x[:, t * h * w :], "b (t s) d -> b t s d", t=t)
        explanation = None
        if weights is not None:
            # grid (x, y, t) in [-1, 1] -> (t, y, x) in [0, 1] of the clip (border padding clamps like this)
            points = (positions.clamp(-1, 1).flip(-1) + 1) / 2
            explanation = {"points": points.detach(), "weight": weights[:, : keys.shape[1]].detach()}
        return z, side, explanation
