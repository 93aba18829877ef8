"""Build real exported model folders for the predict / web-page tests: a tiny randomly initialised model, written
by the engine's own export code (config.json + model.safetensors + labels.json), labels = SynthActions classes."""

from __future__ import annotations

from pathlib import Path

import torch

DATA_INFO = {"num_frames": 8, "image_size": 112, "resize_short": 128, "layout": "coco17", "max_persons": 1,
             "test_sampler": "equidistant", "frame_interval": 1}

MODELS = {
    "rgb_pose": {"name": "deformer3d", "preset": "tiny", "modality": "rgb_pose", "max_persons": 1},
    "pose": {"name": "deformer3d", "preset": "tiny", "modality": "pose", "max_persons": 1},
    "timesformer": {"name": "timesformer", "preset": "tiny", "num_hidden_layers": 1},
    "vivit": {"name": "vivit", "preset": "tiny", "num_hidden_layers": 1},
}


def make_exported(out: Path, kind: str = "rgb_pose", seed: int = 0) -> Path:
    from deformer3d.data.synthetic import CLASSES
    from deformer3d.engine.export import export_module
    from deformer3d.engine.module import ActionModule

    torch.manual_seed(seed)
    module = ActionModule(dict(MODELS[kind]), len(CLASSES), list(CLASSES), data_info=dict(DATA_INFO))
    return export_module(module, out)
