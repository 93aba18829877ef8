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


def demo_model_section() -> dict:
    """``configs/synth_demo.yaml``'s model section (read, not copied, so tests of "the demo model" follow it)."""
    from omegaconf import OmegaConf

    section = OmegaConf.to_container(OmegaConf.load(Path(__file__).parents[1] / "configs" / "synth_demo.yaml").model)
    return {**section, "max_persons": DATA_INFO["max_persons"]}


def make_exported(out: Path, kind: str = "rgb_pose", seed: int = 0) -> Path:
    from deformer3d.data.synthetic import CLASSES
    from deformer3d.engine.export import export_module
    from deformer3d.engine.module import ActionModule

    torch.manual_seed(seed)
    model_cfg = demo_model_section() if kind == "demo" else dict(MODELS[kind])
    module = ActionModule(model_cfg, len(CLASSES), list(CLASSES), data_info=dict(DATA_INFO))
    return export_module(module, out)


def write_noise_clip(path: Path, frames: int, height: int, width: int) -> Path:
    """A clip of smooth noise (each random picture held for 4 frames, no person in it), written as MP4 at 10 fps."""
    import numpy as np

    from deformer3d.data.video import write_video

    rng = np.random.default_rng(0)
    pictures = np.repeat(rng.integers(0, 255, (frames // 4, height, width, 3), dtype=np.uint8), 4, axis=0)
    write_video(path, pictures, fps=10)
    return path
