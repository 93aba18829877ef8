"""Tiny real datasets for the engine and CLI tests, written with the project's own pyskl writer.

``write_motion_pkl`` makes a skeleton-only pyskl file whose classes differ by how the wrists move (up, down,
sideways, still), so a tiny pose-only model learns it in a few CPU steps. ``write_config`` writes an experiment
YAML that trains such a model quickly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deformer3d.data.formats.pyskl import write_pyskl

CLASSES = ["raise", "lower", "sweep", "still"]
MOTIONS = {"raise": (0.0, -1.0), "lower": (0.0, 1.0), "sweep": (1.0, 0.0), "still": (0.0, 0.0)}


def write_motion_pkl(path: Path, *, per_class: dict[str, int] | None = None, frames: int = 16, seed: int = 0,
                     size: int = 64, bad_label: bool = False) -> Path:
    """pyskl pkl with splits train/val/test of ``per_class`` samples per class (default 8/3/3).

    Each class also holds its wrists at its own offset, so even a couple of steps separate the classes a bit.
    """
    per_class = per_class or {"train": 8, "val": 3, "test": 3}
    rng = np.random.default_rng(seed)
    anns, split = [], {s: [] for s in per_class}
    for s, n in per_class.items():
        for c, name in enumerate(CLASSES):
            for i in range(n):
                base = rng.uniform(0.3, 0.7, size=(1, 1, 17, 2)) * size
                dx, dy = MOTIONS[name]
                t = np.linspace(0, 1, frames)[None, :, None]
                kp = np.repeat(base, frames, axis=1)
                for wrist in (9, 10):  # COCO-17 wrists
                    kp[0, :, wrist, 0] += (dx * t[0, :, 0] + 0.5 * dx) * size * 0.25
                    kp[0, :, wrist, 1] += (dy * t[0, :, 0] + 0.5 * dy) * size * 0.25
                kp += rng.normal(0, 0.5, size=kp.shape)
                sid = f"{s}_{name}_{i}"
                label = len(CLASSES) + 3 if (bad_label and s == "train" and i == 0 and c == 0) else c
                anns.append(
                    {
                        "frame_dir": sid,
                        "label": label,
                        "img_shape": (size, size),
                        "total_frames": frames,
                        "keypoint": kp.astype(np.float32),
                        "keypoint_score": np.ones((1, frames, 17), np.float32),
                    }
                )
                split[s].append(sid)
    write_pyskl(path, anns, split, class_names=CLASSES, hflip=False)
    return path


def write_config(path: Path, data_root: Path, out_dir: Path, *, epochs: int = 3, workers: int = 0,
                 extra: str = "") -> Path:
    """A fast pose-only experiment on ``data_root/motion.pkl``."""
    path.write_text(
        f"""name: tiny_pose
model: {{name: deformer3d, preset: tiny, modality: pose, dim: 32, heads: 2, depth: 1}}
data:
  format: pyskl
  root: {data_root}
  ann_file: motion.pkl
  num_frames: 8
  sampler: random
  test_sampler: equidistant
  image_size: 64
  resize_short: 64
  flip: false
  batch_size: 8
  num_workers: {workers}
optim: {{name: adamw, lr: 0.003, weight_decay: 0.01, warmup_epochs: 1, label_smoothing: 0.1}}
trainer:
  max_epochs: {epochs}
  accelerator: cpu
  devices: 1
  out_dir: {out_dir}
  log_every_n_steps: 1
  progress: false
  seed: 0
  num_threads: 1   # the same in every process: matmul reductions differ between thread counts, bit-exact checks too
eval: {{frame_sweep: [4, 8]}}
{extra}"""
    )
    return path


@pytest.fixture()
def tiny(tmp_path):
    """``(tmp_path, data_dir)`` with a small 4-class skeleton pkl at ``data_dir / "motion.pkl"``."""
    data = tmp_path / "data"
    write_motion_pkl(data / "motion.pkl")
    return tmp_path, data
