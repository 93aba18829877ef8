"""FLOP counting (not timing): the counter sees attention on CPU, and the stride attentions scale linearly where
full attention scales quadratically."""

from __future__ import annotations

import math

import pytest
import torch

from deformer3d.models import Deformer3D, Deformer3DConfig
from deformer3d.models.attention import (
    DeformableAttention3D,
    JointStrideAttention,
    MultiHeadAttention,
    TemporalStrideAttention,
)
from deformer3d.models.flops import attention_core_flops, attention_flops, count_flops, count_params

DIM, HEADS = 32, 4


def _exponent(xs: list[int], ys: list[int]) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def test_counter_sees_sdpa_on_cpu_and_grid_sample():
    attn = MultiHeadAttention(DIM, HEADS)
    x = torch.randn(2, 50, DIM)
    projections = 2 * 2 * 50 * 4 * DIM * DIM  # q, k, v, out Linear layers
    assert count_flops(attn, x=x) == projections + attention_flops(50, 50, DIM, batch=2)
    assert attention_core_flops(attn, x=x) == attention_flops(50, 50, DIM, batch=2)
    # the deformable module counts its grid_sample (8 corners x 2 FLOPs per sampled value)
    module = DeformableAttention3D(DIM, HEADS, kernel=(3, 3, 3), stride=(1, 1, 1))
    z = torch.randn(1, 4, 6, 6, DIM)
    from deformer3d.models.flops import count_flops_by_op

    by_op = count_flops_by_op(module, z=z, side=None)
    assert by_op["grid_sampler_3d"] == 2 * 8 * DIM * 2 * 4 * 4


T_VALUES = [8, 16, 32, 64]


@pytest.mark.parametrize(("window", "low", "high"), [(4, 0.9, 1.15), (None, 1.9, 2.1)])
def test_temporal_attention_flops_scale_with_frames(window, low, high):
    module = TemporalStrideAttention(DIM, HEADS, window)
    tokens_per_frame = 20
    core = [attention_core_flops(module, tokens=torch.randn(1, t, tokens_per_frame, DIM)) for t in T_VALUES]
    exponent = _exponent(T_VALUES, core)
    assert low <= exponent <= high, f"window={window}: attention FLOPs ~ T^{exponent:.2f}"
    if window is not None:
        # T / stride - 1 windows of fixed size: every extra frame costs the same (affine in T)
        steps = [
            (b - a) / (tb - ta) for a, b, ta, tb in zip(core, core[1:], T_VALUES, T_VALUES[1:], strict=False)
        ]
        assert steps[0] == steps[1] == steps[2]
    else:
        assert core[-1] / core[-2] == pytest.approx(4.0)  # doubling T quadruples full attention


def test_temporal_stride_is_linear_in_whole_module_flops_too():
    stride = TemporalStrideAttention(DIM, HEADS, 4)
    full = TemporalStrideAttention(DIM, HEADS, None)
    total_stride = [count_flops(stride, tokens=torch.randn(1, t, 20, DIM)) for t in T_VALUES]
    total_full = [count_flops(full, tokens=torch.randn(1, t, 20, DIM)) for t in T_VALUES]
    assert _exponent(T_VALUES, total_stride) < 1.1
    assert _exponent(T_VALUES, total_full) > _exponent(T_VALUES, total_stride) + 0.4


PERSONS = [1, 2, 4, 8]


@pytest.mark.parametrize(("window", "low", "high"), [(8, 0.9, 1.1), (None, 1.8, 2.1)])
def test_joint_attention_flops_scale_with_persons(window, low, high):
    module = JointStrideAttention(DIM, HEADS, window)
    frames, joints = 4, 17
    core = []
    for persons in PERSONS:
        pose = torch.randn(1, frames, persons * joints, DIM)
        side = torch.randn(1, frames, 2, DIM)
        core.append(attention_core_flops(module, pose=pose, side=side))
    exponent = _exponent(PERSONS, core)
    assert low <= exponent <= high, f"window={window}: joint attention FLOPs ~ persons^{exponent:.2f}"


def test_model_flops_and_params_follow_the_config():
    small = Deformer3D(Deformer3DConfig.preset("tiny", num_frames=4, image_size=32, depth=1))
    deeper = Deformer3D(Deformer3DConfig.preset("tiny", num_frames=4, image_size=32, depth=2))
    inputs = small.example_inputs()
    assert count_params(deeper) > count_params(small)
    assert count_flops(deeper, **inputs) > count_flops(small, **inputs) > 0
    # more frames cost more
    assert count_flops(small, **small.example_inputs(num_frames=8)) > count_flops(small, **inputs)
