"""Data layer: video decoding, frame sampling, skeleton formats, keypoint-aware transforms, datasets, SynthActions.

Public entry points (imported lazily so ``import deformer3d.data`` stays light):
``build_dataset``, ``load_clip``, ``ActionDataset`` (dataset.py); ``open_video``, ``VideoReader`` (video.py);
``write_synthactions`` (synthetic.py); ``read_pyskl``, ``write_pyskl`` (formats/pyskl.py);
``get_layout``, ``LAYOUTS``, ``MEDIAPIPE33_TO_COCO17`` (skeleton.py).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ActionDataset": "dataset",
    "build_dataset": "dataset",
    "load_clip": "dataset",
    "VideoReader": "video",
    "open_video": "video",
    "write_video": "video",
    "write_synthactions": "synthetic",
    "read_pyskl": "formats.pyskl",
    "write_pyskl": "formats.pyskl",
    "get_layout": "skeleton",
    "LAYOUTS": "skeleton",
    "MEDIAPIPE33_TO_COCO17": "skeleton",
    "make_plans": "sampling",
    "sample_indices": "sampling",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"deformer3d.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'deformer3d.data' has no attribute '{name}'")
