"""The optimised attention (windows unfolded or sliced, overlaps averaged by splitting) computes the same function
as the original code kept in ``benchmarks/reference_attention.py``: same outputs, explanations and gradients, for
the shipped skeleton recipe and for RGB + pose and RGB models, with regular and shifted-last windows."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from benchmarks.reference_attention import average_windows, reference_attention, window_index
from deformer3d.config import load_config
from deformer3d.models import build_model
from deformer3d.models.attention import average_window_slices, window_slices, window_starts

SMALL_RGB = {"num_frames": 4, "image_size": 32, "depth": 2, "drop_path": 0.0}


def _penn_model_cfg() -> dict:
    return copy.deepcopy(dict(load_config("configs/pennaction_pose.yaml").model))  # drop path 0.1 as shipped


MODELS = {
    "penn_pose": _penn_model_cfg,
    # 17 joints, window 8 -> windows 0, 4, 8, 9 (the last one shifted); 6 frames, window 4 -> 0, 2
    "pose_shifted_windows": lambda: {"name": "deformer3d", "preset": "tiny", "modality": "pose", "num_frames": 6,
                                     "joint_window": 8, "temporal_window": 4, "drop_path": 0.0},
    "rgb_pose": lambda: {"name": "deformer3d", "preset": "tiny", "modality": "rgb_pose", **SMALL_RGB},
    "rgb": lambda: {"name": "deformer3d", "preset": "tiny", "modality": "rgb", **SMALL_RGB},
}  # fmt: skip


def _inputs(model, batch: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    c = model.config
    out = {}
    if model.uses_video:
        out["video"] = torch.randn(batch, 3, c.num_frames, c.image_size, c.image_size, generator=g)
    if model.uses_pose:
        pose = torch.rand(batch, c.num_frames, c.num_joints * c.max_persons, 3, generator=g)
        pose[..., 2] = (pose[..., 2] > 0.2).float() * pose[..., 2]  # some joints missing
        out["pose"] = pose
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_optimised_model_equals_reference_at_eval(name):
    torch.manual_seed(0)
    model = build_model(MODELS[name](), num_classes=7).eval()
    x = _inputs(model)
    with torch.no_grad():
        fast = model(**x, return_explanations=True)
        with reference_attention(model):
            ref = model(**x, return_explanations=True)
        again = model(**x)  # leaving the context restores the optimised paths
    assert torch.allclose(fast.logits, ref.logits, atol=1e-5, rtol=0)
    assert torch.equal(again.logits, fast.logits)
    if model.uses_pose:
        a, b = fast.explanations["joint_attention"], ref.explanations["joint_attention"]
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    for a, b in zip(fast.explanations["deformable"], ref.explanations["deformable"], strict=True):
        assert torch.allclose(a["weight"], b["weight"], atol=1e-5, rtol=0)
        assert torch.allclose(a["points"], b["points"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["penn_pose", "pose_shifted_windows", "rgb_pose"])
def test_optimised_model_has_the_reference_gradients(name):
    torch.manual_seed(0)
    model = build_model(MODELS[name](), num_classes=7).train()
    x = _inputs(model)
    labels = torch.tensor([0, 3, 6])

    def grads() -> dict[str, torch.Tensor]:
        torch.manual_seed(1)  # the same drop-path masks in both runs (drawn in the same order)
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(**x).logits, labels).backward()
        return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    fast = grads()
    with reference_attention(model):
        ref = grads()
    assert fast.keys() == ref.keys() and len(fast) > 10
    for key in ref:
        scale = ref[key].abs().max().item() + 1e-8
        assert torch.allclose(fast[key], ref[key], atol=1e-5 * max(scale, 1.0), rtol=1e-4), key


@pytest.mark.parametrize(
    ("length", "window", "stride"),
    [(13, 7, None), (16, 8, None), (17, 8, None), (10, 3, None), (5, 9, None), (12, 4, 1), (12, 4, 3), (12, 4, 4)],
)
def test_window_slices_match_the_index_gather_and_its_average(length, window, stride):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, length, 3, 4, generator=g, dtype=torch.float64)
    w = min(window, length)
    starts = window_starts(length, w, stride)
    index = window_index(length, w, stride)
    windows = window_slices(x, starts, w)
    assert torch.equal(windows, x[:, index])
    values = torch.randn(windows.shape, generator=g, dtype=torch.float64)
    assert torch.allclose(average_window_slices(values, starts, length), average_windows(values, index, length))
    # averaging the windows of x itself gives x back (every window holds the same copy of an item)
    assert torch.allclose(average_window_slices(windows, starts, length), x)
