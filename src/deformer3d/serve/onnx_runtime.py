"""Run a model folder's ``model.onnx`` with ONNX Runtime behind the same call as the torch model.

    model = OnnxModel.from_folder("runs/demo/model")
    out = model(video=video, pose=pose)          # ActionOutput(logits (B, K)); no explanations

The graph was traced for one clip shape (``config.json`` ``onnx``: frames, size, joints); the batch is free. Inputs
are validated here, before the session runs (the graph has no data-dependent checks): shapes against the traced
ones, finite values, with :class:`~deformer3d.errors.ModelInputError` naming the tensor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deformer3d.errors import ModelInputError, UserError
from deformer3d.models.hub import ONNX_NAME, ExportError, read_model_folder
from deformer3d.models.outputs import ActionOutput


class OnnxRuntimeMissing(UserError):
    """onnxruntime is not installed."""


class OnnxModel:
    """``model.onnx`` of a folder as a callable with the model contract (``uses_video``, ``uses_pose``,
    ``__call__(video=None, pose=None) -> ActionOutput``)."""

    def __init__(self, path: str | os.PathLike, entry: dict[str, Any], threads: int = 0):
        try:
            import onnxruntime as ort
        except ModuleNotFoundError:
            raise OnnxRuntimeMissing(
                "--runtime onnx needs onnxruntime: pip install 'deformer3d[deploy]' (or `make test` / `make demo`)"
            ) from None
        self.path = Path(path)
        if not self.path.is_file():
            raise ExportError(f"{self.path}: no ONNX model; write one with `deformer3d export CKPT DIR --onnx`")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.entry = dict(entry)
        self.input_shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self.uses_video = "video" in self.input_shapes
        self.uses_pose = "pose" in self.input_shapes

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, threads: int = 0) -> OnnxModel:
        spec = read_model_folder(folder)
        if not spec.onnx:
            raise ExportError(f"{spec.config_path}: no onnx entry; export the model with `deformer3d export CKPT "
                              f"{spec.directory} --onnx` first")
        return cls(spec.directory / str(spec.onnx.get("file", ONNX_NAME)), spec.onnx, threads)

    def _check(self, name: str, value: torch.Tensor | np.ndarray | None) -> np.ndarray:
        expected = self.input_shapes[name]
        if value is None:
            raise ModelInputError(f"{name} is required by this ONNX model ({self.path.name} inputs: "
                                  f"{', '.join(self.input_shapes)})")
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        fixed = list(expected[1:])
        if array.ndim != len(expected) or list(array.shape[1:]) != fixed:
            raise ModelInputError(
                f"{name} has shape {tuple(array.shape)}; {self.path} was traced for (B, {', '.join(map(str, fixed))}) "
                f"(config.json onnx: {self.entry.get('num_frames')} frames, {self.entry.get('image_size')} px); "
                "sample clips of that shape or re-export"
            )
        if not np.isfinite(array).all():
            raise ModelInputError(f"{name} contains NaN or infinite values; mark missing joints with score 0 and "
                                  "finite x, y")
        return np.ascontiguousarray(array, dtype=np.float32)

    def __call__(
        self, video: torch.Tensor | None = None, pose: torch.Tensor | None = None, return_explanations: bool = False
    ) -> ActionOutput:
        if return_explanations:
            raise UserError("explanations need the PyTorch runtime (--runtime torch); the ONNX graph returns logits "
                            "only")
        feeds = {}
        if self.uses_video:
            feeds["video"] = self._check("video", video)
        if self.uses_pose:
            feeds["pose"] = self._check("pose", pose)
        if len(feeds) == 2 and feeds["video"].shape[0] != feeds["pose"].shape[0]:
            raise ModelInputError(f"pose batch {feeds['pose'].shape[0]} != video batch {feeds['video'].shape[0]}")
        (logits,) = self.session.run(["logits"], feeds)
        return ActionOutput(logits=torch.from_numpy(logits), explanations=None)

    # the predictor moves and switches a torch model; an ONNX session runs on the CPU and is always in eval mode
    def to(self, device: Any) -> OnnxModel:
        if torch.device(device).type != "cpu":
            raise UserError(f"--runtime onnx runs on the CPU here (CPUExecutionProvider), not {device}")
        return self

    def eval(self) -> OnnxModel:
        return self
