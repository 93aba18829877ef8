"""ONNX export of a model folder's model: ``model.onnx`` beside ``config.json`` (``deformer3d export --onnx``).

The 3D deformable transformer (every modality) and TimeSformer export with ``torch.onnx``'s dynamo exporter
(``torch.export``) at opset 20, the first opset with N-D ``GridSample`` (the deformable attention samples the 5-D
token volume trilinearly). The batch axis is dynamic; the clip (frames, size, joints) is fixed to the one traced,
which ``config.json``'s ``onnx`` entry records (the predictor samples exactly that clip). The TorchScript exporter is
not used: it exports ``index_add`` with repeated indices (the window averaging) wrongly.

Input validation that depends on the data (finite joints) is skipped while tracing and done by the runner
(:mod:`deformer3d.serve.onnx_runtime`) instead; the window layouts are Python constants (models/attention.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from deformer3d.models.hub import CARD_NAME, CONFIG_NAME, ONNX_NAME, ExportError, folder_config, update_config
from deformer3d.models.inputs import uses_pose, uses_video

OPSET = 20
ONNX_KINDS = ("deformer3d", "timesformer")


class _PoseLogits(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pose: Tensor) -> Tensor:
        return self.model(pose=pose).logits


class _VideoLogits(_PoseLogits):
    def forward(self, video: Tensor) -> Tensor:  # type: ignore[override]
        return self.model(video=video).logits


class _VideoPoseLogits(_PoseLogits):
    def forward(self, video: Tensor, pose: Tensor) -> Tensor:  # type: ignore[override]
        return self.model(video=video, pose=pose).logits


def input_names(model: nn.Module) -> list[str]:
    """The graph's inputs, in order: ``video`` and / or ``pose`` (what the model reads)."""
    return (["video"] if uses_video(model) else []) + (["pose"] if uses_pose(model) else [])


def clip_shape(model: nn.Module, preprocessing: dict[str, Any]) -> dict[str, int]:
    """The clip the graph is traced for: the predictor's (preprocessing), else the model's own geometry."""
    cfg = model.config  # type: ignore[union-attr]
    hf = getattr(cfg, "hf_config", None) or {}
    frames = preprocessing.get("num_frames") or getattr(cfg, "num_frames", None) or hf.get("num_frames")
    size = preprocessing.get("image_size") or getattr(cfg, "image_size", None) or hf.get("image_size")
    shape = {"num_frames": int(frames), "image_size": int(size)}
    if uses_pose(model):
        from deformer3d.data.skeleton import LAYOUTS

        layout = LAYOUTS.get(str(preprocessing.get("layout", "")))
        joints = layout.num_joints if layout else int(cfg.num_joints)
        shape["num_tokens"] = int(preprocessing.get("max_persons", 1)) * joints  # R = persons x joints
    return shape


def example_inputs(model: nn.Module, shape: dict[str, int], batch_size: int = 2, seed: int = 0) -> dict[str, Tensor]:
    """Random inputs of the traced clip shape: ``video (B, 3, T, S, S)``, ``pose (B, T, R, 3)``."""
    gen = torch.Generator().manual_seed(seed)
    t, s = shape["num_frames"], shape["image_size"]
    inputs: dict[str, Tensor] = {}
    if "video" in input_names(model):
        inputs["video"] = torch.randn(batch_size, 3, t, s, s, generator=gen)
    if "pose" in input_names(model):
        inputs["pose"] = torch.rand(batch_size, t, shape["num_tokens"], 3, generator=gen)
    return inputs


def export_onnx(model: nn.Module, folder: str | os.PathLike, batch_size: int = 2) -> Path:
    """Write ``folder/model.onnx`` for ``model`` (the folder's model) and record it in ``config.json``."""
    from deformer3d.models.card import render_card

    folder = Path(folder)
    model_type, _ = folder_config(model)
    if model_type not in ONNX_KINDS:
        raise ExportError(f"--onnx: {model_type} models are not exported to ONNX; ONNX export covers "
                          f"{', '.join(ONNX_KINDS)}")
    config = json.loads((folder / CONFIG_NAME).read_text())
    shape = clip_shape(model, config.get("preprocessing") or {})
    names = input_names(model)
    wrapper = {("pose",): _PoseLogits, ("video",): _VideoLogits, ("video", "pose"): _VideoPoseLogits}[tuple(names)]
    graph = wrapper(model).eval()
    inputs = example_inputs(model, shape, batch_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    path = folder / ONNX_NAME
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            torch.onnx.export(
                graph,
                tuple(inputs.values()),
                str(path),
                dynamo=True,
                opset_version=OPSET,
                input_names=names,
                output_names=["logits"],
                dynamic_shapes={name: {0: batch} for name in names},
                external_data=False,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types; the user gets one line with the cause
        path.unlink(missing_ok=True)
        raise ExportError(f"{folder}: ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") from exc
    finally:
        model.train(was_training)
    t, s = shape["num_frames"], shape["image_size"]
    shapes = {"video": ["batch", 3, t, s, s], "pose": ["batch", t, shape.get("num_tokens"), 3]}
    entry = {
        "file": ONNX_NAME,
        "opset": OPSET,
        **shape,
        "inputs": {name: shapes[name] for name in names},
        "outputs": {"logits": ["batch", int(model.config.num_classes)]},  # type: ignore[union-attr]
        "dynamic_axes": ["batch"],
        "exporter": f"torch.onnx dynamo (torch {torch.__version__})",
    }
    update_config(folder, onnx=entry)
    config["onnx"] = entry
    (folder / CARD_NAME).write_text(render_card(model, config, {}) if not (folder / CARD_NAME).is_file()
                                    else _card_with_onnx((folder / CARD_NAME).read_text(), entry))
    return path


def _card_with_onnx(card: str, entry: dict[str, Any]) -> str:
    """The card's file row names ``model.onnx`` (the rest of the card, written by the folder's writer, stays)."""
    row = "| files | `config.json` (config, labels, preprocessing), `model.safetensors`"
    if row not in card or ONNX_NAME in card.split(row, 1)[1].split("\n", 1)[0]:
        return card
    return card.replace(row, row + f", `{ONNX_NAME}` (opset {entry['opset']}, {entry['num_frames']} frames)", 1)
