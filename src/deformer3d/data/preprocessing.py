"""The data settings a trained model is served with: the ``preprocessing`` its folder stores, written from the
experiment's ``data:`` section at export and read back by the predictor as a :class:`DataConfig`."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from deformer3d.config import DataConfig

# what the test-time input path (load_clip) reads: the clip geometry, the joint layout, the test sampler
PREPROCESSING_KEYS = ("num_frames", "image_size", "resize_short", "layout", "max_persons", "test_sampler",
                      "frame_interval", "pose_norm", "joint_scores", "side_names", "person_crop", "person_crop_margin",
                      "window_seconds")


def preprocessing_of(data: DataConfig) -> dict[str, Any]:
    """The serving settings of an experiment's ``data:`` section."""
    d = asdict(data)
    return {k: d[k] for k in PREPROCESSING_KEYS}


def data_config_from(preprocessing: dict[str, Any]) -> DataConfig:
    """A :class:`DataConfig` with a model folder's settings (other keys of ``preprocessing``, e.g. its
    normalisation, are the model's business; missing ones keep the data defaults)."""
    known = {f.name for f in fields(DataConfig)}
    return DataConfig(**{k: v for k, v in preprocessing.items() if k in known})
