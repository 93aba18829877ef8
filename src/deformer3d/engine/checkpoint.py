"""Safe checkpoint files: atomic writes, and reads that never run code from the file.

* Writes go to a temporary file in the same folder, are flushed to disk, then ``os.replace``-d over the target,
  so a write interrupted half-way (Ctrl-C, a killed job, a full disk) leaves the previous checkpoint intact.
* Reads use ``torch.load(weights_only=True)``: tensors, containers and numbers only. A pickle that carries a
  payload (an object whose ``__reduce__`` would run code) is refused with :class:`CheckpointError`.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

from deformer3d.errors import UserError

TMP_SUFFIX = ".tmp"  # + the ".<name>." prefix: the temporary file of an atomic write in progress


class CheckpointError(UserError):
    """A checkpoint that is missing, truncated or not a plain tensors-and-numbers file, or cannot be written."""


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` so that readers see either the old file or the complete new one.

    A write that fails (a full disk, a file-size limit) raises :class:`CheckpointError` and leaves the previous
    file as it was; a process killed mid-write leaves a temporary file that :func:`remove_interrupted_writes`
    deletes on the next run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # also KeyboardInterrupt: never leave the temporary file behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os_error = _os_error_in(exc)
        if os_error is not None:
            reason = os_error.strerror or _first_line(os_error)
            kept = "the previous checkpoint is kept" if path.is_file() else "nothing was written"
            raise CheckpointError(
                f"{path}: cannot write the checkpoint ({reason}); {kept}. Free disk space (or fix the folder's "
                "permissions), then continue with --resume last"
            ) from None
        raise


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError (full disk, size limit, permissions) behind ``exc``: torch's zip writer reports a failed write
    as a RuntimeError raised while handling it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def remove_interrupted_writes(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_torch_save` calls left in ``folder``; -> those removed.

    Call it when a run starts, before anything writes there (one writer per run folder: rank 0)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in folder.glob(f".*.ckpt.*{TMP_SUFFIX}"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (some, e.g. torch's EOFError, have none)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    line = lines[0].split(". ")[0] if lines else type(exc).__name__
    return line[:limit]


def safe_torch_load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; clear errors for missing, empty, corrupt or unsafe files."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file (give the .ckpt file inside it)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (train first, or give --checkpoint PATH)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint is empty (0 bytes); it was never written completely")
    from deformer3d.data.formats.pyskl import check_checkpoint_sizes
    from deformer3d.errors import DataFormatError

    try:
        # torch's weights-only unpickler rebuilds bytearray(n) for any n: a few hundred bytes could ask for GiBs
        check_checkpoint_sizes(path)
    except DataFormatError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # the weights-only unpickler says "Unsupported global: GLOBAL <name>" for an object it will not rebuild;
        # every other complaint ("Unsupported operand", "invalid load key") means the bytes are not a pickle at all
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found is None:
            raise CheckpointError(
                f"{path}: not a readable checkpoint (not a torch checkpoint file, or corrupted); "
                "give a .ckpt written by `deformer3d train`"
            ) from None
        raise CheckpointError(
            f"{path}: refused to load: the file holds the Python object '{found.group(1)}', not only tensors and "
            "plain values. Loading it could run code from the file; only checkpoints written by deformer3d (or "
            "re-saved as plain state dicts / safetensors) are accepted"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint: the file is truncated or corrupted ({_first_line(exc)})"
        ) from None


class SafeCheckpointIO(CheckpointIO):
    """Lightning CheckpointIO with atomic writes and weights-only reads (used for training and resume)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        ckpt = safe_torch_load(path, map_location=map_location or "cpu")
        if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
            raise CheckpointError(
                f"{path}: not a training checkpoint (no 'state_dict'"
                f"{'' if isinstance(ckpt, dict) else f'; it holds a {type(ckpt).__name__}'}); resume from a .ckpt "
                "written by `deformer3d train`"
            )
        return ckpt

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)


def load_module(path: str | Path, map_location: Any = "cpu"):
    """An :class:`~deformer3d.engine.module.ActionModule` (eval mode) from a training checkpoint.

    Everything read from the file is checked before it is used: a checkpoint that loads but is not one of ours
    (a list, another library's dict, weights that do not fit its model config) is a :class:`CheckpointError`.
    """
    from deformer3d.engine.module import ActionModule

    ckpt = safe_torch_load(path, map_location=map_location)
    check_training_checkpoint(ckpt, path)
    hp = ckpt["hyper_parameters"]
    try:
        module = ActionModule(**hp)
    except UserError as exc:
        raise CheckpointError(f"{path}: its model config cannot be built: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: its hyper-parameters do not describe a model ({_first_line(exc)})") from None
    try:
        module.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: its weights do not match its own model config ({_first_line(exc)}); the file was edited "
            "or written by another version"
        ) from None
    module.eval()
    return module, ckpt


def check_resumable(path: str | Path, module) -> None:
    """Refuse to resume ``module`` from ``path`` unless the file is one of our training checkpoints whose weights
    have exactly the module's names and shapes (another run's model would fail deep inside Lightning)."""
    ckpt = safe_torch_load(path)
    check_training_checkpoint(ckpt, path)
    theirs = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items() if isinstance(v, torch.Tensor)}
    ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if theirs != ours:
        missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        shapes = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", extra), ("other shape", shapes))
            if keys
        )
        raise CheckpointError(
            f"{path}: cannot resume: its weights are not this config's model ({detail}); resume with the config "
            "the checkpoint was trained with, or start a new run (a different trainer.out_dir)"
        )


def check_training_checkpoint(ckpt: Any, path: str | Path) -> None:
    """Refuse a loaded file that is not a deformer3d training checkpoint (before any of it is used)."""
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "model_cfg" not in hp or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{path}: not a deformer3d training checkpoint (no 'hyper_parameters.model_cfg' / 'state_dict'"
            f"{'' if isinstance(ckpt, dict) else f'; it holds a {type(ckpt).__name__}'}); "
            "exported model folders are loaded with deformer3d.models.hub.load_exported"
        )
    problem = _hyper_parameter_problem(hp)
    if problem is None and not isinstance(ckpt["state_dict"], dict):
        problem = f"'state_dict' is a {type(ckpt['state_dict']).__name__}, not a dict of tensors"
    if problem is not None:
        raise CheckpointError(f"{path}: not a usable deformer3d checkpoint: {problem}")


def _hyper_parameter_problem(hp: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's ``hyper_parameters`` (types an ActionModule needs), or None."""
    expected = {"model_cfg": dict, "num_classes": int, "class_names": list}
    for key, kind in expected.items():
        value = hp.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"hyper_parameters.{key} is {type(value).__name__ if key in hp else 'missing'}, not {kind.__name__}"
    if not all(isinstance(n, str) for n in hp["class_names"]):
        return "hyper_parameters.class_names holds values that are not strings"
    for key in ("optim", "data_info"):
        if hp.get(key) is not None and not isinstance(hp[key], dict):
            return f"hyper_parameters.{key} is {type(hp[key]).__name__}, not dict"
    unknown = set(hp) - {*expected, "optim", "data_info"}
    if unknown:
        return f"unknown hyper_parameters {', '.join(sorted(map(str, unknown)))}"
    return None
