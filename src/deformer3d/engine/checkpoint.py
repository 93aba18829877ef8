"""Safe checkpoint files: atomic writes, and reads that never run code from the file.

* Writes go to a temporary file in the same folder, are flushed to disk, then ``os.replace``-d over the target,
  so a write interrupted half-way (Ctrl-C, a killed job, a full disk) leaves the previous checkpoint intact.
* Reads use ``torch.load(weights_only=True)``: tensors, containers and numbers only. A pickle that carries a
  payload (an object whose ``__reduce__`` would run code) is refused with :class:`CheckpointError`.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

from deformer3d.errors import UserError


class CheckpointError(UserError):
    """A checkpoint that is missing, truncated or not a plain tensors-and-numbers file."""


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` so that readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def safe_torch_load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; clear errors for missing, corrupt or unsafe files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (train first, or give --checkpoint PATH)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file contains Python objects other than tensors and plain values "
            f"({str(exc).splitlines()[0][:200]}). Loading it could run code from the file; only checkpoints "
            "written by deformer3d (or re-saved as plain state dicts / safetensors) are accepted"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({str(exc).splitlines()[0][:200]}); the file may be truncated"
        ) from None


class SafeCheckpointIO(CheckpointIO):
    """Lightning CheckpointIO with atomic writes and weights-only reads (used for training and resume)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        return safe_torch_load(path, map_location=map_location or "cpu")

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)


def load_module(path: str | Path, map_location: Any = "cpu"):
    """An :class:`~deformer3d.engine.module.ActionModule` (eval mode) from a training checkpoint."""
    from deformer3d.engine.module import ActionModule

    ckpt = safe_torch_load(path, map_location=map_location)
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or "model_cfg" not in hp or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path}: not a deformer3d training checkpoint (no 'hyper_parameters.model_cfg' / 'state_dict'); "
            "exported model folders are loaded with deformer3d.engine.export.load_exported"
        )
    module = ActionModule(**hp)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    return module, ckpt
