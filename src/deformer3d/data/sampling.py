"""Frame samplers and the short-video padding chain.

A sampler turns a video length into frame indices; it never touches pixels, so the loader decodes only the frames
it needs. Samplers return ``(num_clips, n)`` int arrays.

- ``uniform``: ``n`` frames at a fixed ``interval`` (e.g. 8 frames at 1/32). Training: random start; testing: the
  clip is centred, or with several clips their starts are spread evenly. When the span does not fit, the interval
  shrinks to the largest that fits.
- ``equidistant``: ``n`` frames evenly over the whole video (segment centres; training jitters inside segments).
- ``random``: ``n`` distinct frames drawn at random and sorted (repeats only when the video is too short).
- ``dense``: ``num_clips`` uniform clips whose starts cover the video evenly (multi-clip testing); training draws
  one random start like ``uniform``.

Short videos (fewer than ``n`` frames) are padded with the chain of the TimeSformer fine-tuning study:
**interpolation** (insert the average of each pair of neighbours) -> **temporal reversal** (append the sequence
reversed) -> **brightness** (append copies at 0.6, 0.8, 1.2, 1.4 one at a time), each step only if the sequence
is still too short, repeated from the start if needed. The chain works on a :class:`FramePlan` (which source
frames, with which weights and gain, make each output frame), so keypoints follow the same plan and only the
source frames are decoded. Blending runs on decoded frames the reader has already reduced to the size the model
needs (``VideoReader(short_side=...)``), one output frame's worth of float at a time. ``augment_before_sampling``
pads the whole video first and then samples from it; otherwise the sampler takes all the frames and the padded
sequence is thinned to ``n`` evenly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLERS = ("uniform", "equidistant", "random", "dense")
BRIGHTNESS_FACTORS = (0.6, 0.8, 1.2, 1.4)


# --------------------------------------------------------------------------- plain samplers
def _fit_interval(total: int, n: int, interval: int) -> int:
    """The largest interval <= ``interval`` whose span (n-1)*interval+1 fits in ``total`` (at least 1)."""
    if n <= 1:
        return max(1, interval)
    return max(1, min(interval, (total - 1) // (n - 1)))


def _clip_starts(total: int, span: int, num_clips: int, train: bool, rng: np.random.Generator) -> np.ndarray:
    room = max(0, total - span)
    if train:
        return rng.integers(0, room + 1, size=num_clips)
    if num_clips == 1:
        return np.array([room // 2])
    # evenly spread, first at 0 and last at the end (mmaction2's test-time multi-clip convention)
    return np.round(np.linspace(0, room, num_clips)).astype(np.int64)


def sample_uniform(total, n, interval=1, num_clips=1, train=False, rng=None) -> np.ndarray:
    """``(num_clips, n)`` frames at a fixed interval; repeats the last frame when the video is shorter than n."""
    rng = rng or np.random.default_rng()
    step = _fit_interval(total, n, interval)
    span = (n - 1) * step + 1
    starts = _clip_starts(total, span, num_clips, train, rng)
    inds = starts[:, None] + step * np.arange(n)[None, :]
    return np.minimum(inds, total - 1).astype(np.int64)


def sample_equidistant(total, n, num_clips=1, train=False, rng=None) -> np.ndarray:
    """``(num_clips, n)`` frames evenly over the whole video: the centres of n equal segments (training: a random
    frame inside each segment; several test clips: offsets spread inside the segments)."""
    rng = rng or np.random.default_rng()
    seg = total / n
    base = np.arange(n) * seg
    if train:
        offsets = rng.random((num_clips, n)) * seg
    else:
        offsets = np.broadcast_to(((np.arange(num_clips) + 0.5) / num_clips * seg)[:, None], (num_clips, n))
    inds = np.floor(base[None, :] + offsets).astype(np.int64)
    return np.clip(inds, 0, total - 1)


def sample_random(total, n, num_clips=1, train=True, rng=None) -> np.ndarray:
    """``(num_clips, n)`` distinct random frames in temporal order (with repeats only when total < n)."""
    rng = rng or np.random.default_rng()
    rows = []
    for _ in range(num_clips):
        if total >= n:
            rows.append(np.sort(rng.choice(total, size=n, replace=False)))
        else:
            rows.append(np.sort(rng.integers(0, total, size=n)))
    return np.stack(rows).astype(np.int64)


def sample_dense(total, n, interval=1, num_clips=1, train=False, rng=None) -> np.ndarray:
    """Multi-clip testing: ``num_clips`` uniform clips covering the video evenly (training: one random start)."""
    return sample_uniform(total, n, interval=interval, num_clips=num_clips, train=train, rng=rng)


def sample_indices(
    sampler: str,
    total: int,
    n: int,
    *,
    interval: int = 1,
    num_clips: int = 1,
    train: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Dispatch to a sampler by name -> ``(num_clips, n)`` int64 indices in ``[0, total)``."""
    if total <= 0:
        raise ValueError("cannot sample frames from a video with zero frames")
    if n <= 0:
        raise ValueError(f"num_frames must be >= 1, got {n}")
    if sampler == "uniform":
        return sample_uniform(total, n, interval, num_clips, train, rng)
    if sampler == "equidistant":
        return sample_equidistant(total, n, num_clips, train, rng)
    if sampler == "random":
        return sample_random(total, n, num_clips, train, rng)
    if sampler == "dense":
        return sample_dense(total, n, interval, num_clips, train, rng)
    raise ValueError(f"unknown sampler '{sampler}' (valid: {', '.join(SAMPLERS)})")


# --------------------------------------------------------------------------- the padding chain
@dataclass
class FramePlan:
    """How each output frame is made from source frames: ``out[i] = gain[i] * sum_k weights[i,k] * src[sources[i,k]]``.

    ``sources (N, K)`` int, ``weights (N, K)`` float (rows sum to 1), ``gain (N,)`` float. K = 1 for plain indices.
    """

    sources: np.ndarray
    weights: np.ndarray
    gain: np.ndarray

    @classmethod
    def from_indices(cls, inds) -> FramePlan:
        inds = np.asarray(inds, dtype=np.int64).reshape(-1, 1)
        return cls(inds, np.ones(inds.shape, np.float64), np.ones(len(inds)))

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def is_plain(self) -> bool:
        """Every output frame is exactly one source frame at gain 1 (no blending needed)."""
        return bool(np.all(self.weights[:, 0] == 1.0) and np.all(self.gain == 1.0))

    @property
    def primary(self) -> np.ndarray:
        """``(N,)`` the source frame with the largest weight for each output frame (for meta / display)."""
        return self.sources[np.arange(len(self)), np.argmax(self.weights, axis=1)]

    def needed(self) -> np.ndarray:
        """Sorted unique source indices to decode."""
        return np.unique(self.sources)

    def take(self, rows) -> FramePlan:
        rows = np.asarray(rows, dtype=np.int64)
        return FramePlan(self.sources[rows], self.weights[rows], self.gain[rows])

    def concat(self, other: FramePlan) -> FramePlan:
        k = max(self.sources.shape[1], other.sources.shape[1])
        a, b = _widen(self, k), _widen(other, k)
        return FramePlan(
            np.concatenate([a.sources, b.sources]),
            np.concatenate([a.weights, b.weights]),
            np.concatenate([a.gain, b.gain]),
        )

    def apply(self, frames: np.ndarray, source_ids: np.ndarray | None = None) -> np.ndarray:
        """Build the output frames ``(N, H, W, C)`` uint8 from decoded ``frames`` (rows = ``source_ids``, default
        all source frames 0..). Blending is done in float and rounded; brightness is clipped to [0, 255]."""
        pos = _positions(self.sources, source_ids)
        if self.is_plain:
            return frames[pos[:, 0]]
        # one output-sized float buffer, filled a source column at a time: the blend never holds (N, K, H, W, C)
        out = np.zeros((len(self),) + frames.shape[1:], np.float32)
        for k in range(pos.shape[1]):
            weight = (self.weights[:, k] * self.gain).astype(np.float32)
            for i in np.flatnonzero(weight):
                out[i] += weight[i] * frames[pos[i, k]]
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def apply_keypoints(self, keypoints: np.ndarray, scores: np.ndarray, source_ids=None):
        """The same plan on ``keypoints (M, T, V, 2)`` / ``scores (M, T, V)`` (brightness leaves them unchanged;
        an interpolated joint is the average of its neighbours, its score the smaller of the two)."""
        pos = _positions(self.sources, source_ids)
        kp = np.einsum("nk,mnk...->mn...", self.weights, keypoints[:, pos].astype(np.float32))
        sc_src = scores[:, pos]  # (M, N, K, V)
        used = (self.weights > 0)[None, :, :, None]
        sc = np.where(used, sc_src, np.inf).min(axis=2)
        return kp.astype(np.float32), sc.astype(np.float32)


def _widen(plan: FramePlan, k: int) -> FramePlan:
    pad = k - plan.sources.shape[1]
    if pad == 0:
        return plan
    return FramePlan(
        np.pad(plan.sources, ((0, 0), (0, pad)), mode="edge"),
        np.pad(plan.weights, ((0, 0), (0, pad))),
        plan.gain,
    )


def _positions(sources: np.ndarray, source_ids: np.ndarray | None) -> np.ndarray:
    if source_ids is None:
        return sources
    lookup = {int(s): i for i, s in enumerate(np.asarray(source_ids).reshape(-1))}
    return np.vectorize(lookup.__getitem__, otypes=[np.int64])(sources)


def interpolate(plan: FramePlan) -> FramePlan:
    """Insert the average of every pair of neighbours: length L -> 2L - 1."""
    n = len(plan)
    if n < 2:
        return plan
    k = plan.sources.shape[1]
    a, b = plan.take(np.arange(n - 1)), plan.take(np.arange(1, n))
    mids = FramePlan(
        np.concatenate([a.sources, b.sources], axis=1),
        np.concatenate([a.weights, b.weights], axis=1) * 0.5,
        (a.gain + b.gain) * 0.5,
    )
    wide = _widen(plan, 2 * k)
    order_src = np.empty((2 * n - 1, 2 * k), np.int64)
    order_w = np.empty((2 * n - 1, 2 * k), np.float64)
    order_g = np.empty(2 * n - 1)
    order_src[0::2], order_w[0::2], order_g[0::2] = wide.sources, wide.weights, wide.gain
    order_src[1::2], order_w[1::2], order_g[1::2] = mids.sources, mids.weights, mids.gain
    return FramePlan(order_src, order_w, order_g)


def reverse_append(plan: FramePlan) -> FramePlan:
    """Append the sequence played backwards: length L -> 2L."""
    return plan.concat(plan.take(np.arange(len(plan))[::-1]))


def pad_chain(plan: FramePlan, need: int) -> FramePlan:
    """Lengthen ``plan`` with interpolation -> reversal -> brightness until it has >= ``need`` frames."""
    if len(plan) == 0:
        raise ValueError("cannot pad an empty frame sequence")
    while len(plan) < need:
        plan = interpolate(plan)
        if len(plan) >= need:
            break
        plan = reverse_append(plan)
        if len(plan) >= need:
            break
        base = plan
        for factor in BRIGHTNESS_FACTORS:
            bright = FramePlan(base.sources, base.weights, base.gain * factor)
            plan = plan.concat(bright)
            if len(plan) >= need:
                break
    return plan


def back_and_forth(total: int, phase: float) -> np.ndarray:
    """``(total,)`` source frame per frame of the video played forwards and back in a loop (0, 1, ..., T-1, T-2,
    ..., 1, 0, 1, ...) from ``phase`` (a fraction in [0, 1)) of the way round that loop: the same length, without
    jumps, starting elsewhere in the motion (0 = as it is, 0.5 = backwards). For a repetition (down and up again) it
    is a window of a set of them that starts mid-repetition."""
    if total <= 2:
        return np.arange(total, dtype=np.int64)
    loop = np.r_[np.arange(total), np.arange(total - 2, 0, -1)]
    offset = int(round(phase * len(loop))) % len(loop)
    return np.take(loop, np.arange(offset, offset + total), mode="wrap").astype(np.int64)


def thin_evenly(length: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``length`` (first and last included; distinct when length >= n)."""
    if n == 1:
        return np.array([0])
    return np.round(np.linspace(0, length - 1, n)).astype(np.int64)


def make_plans(
    total: int,
    n: int,
    *,
    sampler: str = "uniform",
    interval: int = 1,
    num_clips: int = 1,
    train: bool = False,
    pad_short: bool = True,
    augment_before_sampling: bool = False,
    rng: np.random.Generator | None = None,
) -> list[FramePlan]:
    """One :class:`FramePlan` of exactly ``n`` frames per clip for a video of ``total`` frames."""
    rng = rng or np.random.default_rng()
    if not pad_short or total >= n:
        inds = sample_indices(sampler, total, n, interval=interval, num_clips=num_clips, train=train, rng=rng)
        return [FramePlan.from_indices(row) for row in inds]
    full = FramePlan.from_indices(np.arange(total))
    if augment_before_sampling:
        padded = pad_chain(full, n)
        inds = sample_indices(sampler, len(padded), n, interval=1, num_clips=num_clips, train=train, rng=rng)
        return [padded.take(row) for row in inds]
    # sample first (a short video contributes all its frames), then pad the sampled clip
    padded = pad_chain(full, n)
    return [padded.take(thin_evenly(len(padded), n)) for _ in range(num_clips)]
