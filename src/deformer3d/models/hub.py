"""``save_pretrained`` / ``from_pretrained`` for our own models: a directory with ``config.json`` and
``model.safetensors`` (never pickle), or a Hugging Face hub id resolved through huggingface_hub.

A hub id is only fetched when the hub is reachable: with ``HF_HUB_OFFLINE=1`` (the CLI's default) it must be in
the local cache already, otherwise :class:`ModelNotFoundError` says so at once instead of timing out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from deformer3d.errors import UserError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LABELS_NAME = "labels.json"


class ModelNotFoundError(UserError, FileNotFoundError):
    """A pretrained model directory or hub id that cannot be found or read."""


class ExportError(UserError):
    """An exported model folder that is missing a file or whose files disagree."""


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def resolve_pretrained_dir(path_or_id: str | os.PathLike) -> Path:
    """A local directory holding ``config.json`` (+ weights), downloading a hub id if allowed."""
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise ModelNotFoundError(
                f"{path}: no {CONFIG_NAME} in this directory (expected a save_pretrained folder)"
            )
        return path
    if path.exists():
        raise ModelNotFoundError(f"{path}: is a file; from_pretrained expects a directory with {CONFIG_NAME}")
    repo_id = str(path_or_id)
    if repo_id.count("/") > 1 or repo_id.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"{repo_id}: no such directory (and not a hub id of the form 'owner/name')")
    from huggingface_hub import snapshot_download

    offline = _hub_offline()
    try:
        local = snapshot_download(
            repo_id, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, "*.json"], local_files_only=offline
        )
    except Exception as exc:  # network errors, missing repos and cache misses come as several types
        hint = (
            "HF_HUB_OFFLINE=1 is set and it is not in the local cache; give a local directory, or unset "
            "HF_HUB_OFFLINE to download it"
            if offline
            else f"the hub could not provide it ({type(exc).__name__}: {exc})"
        )
        raise ModelNotFoundError(f"'{repo_id}' is not a local directory; {hint}") from None
    return Path(local)


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """Write the state dict as safetensors (contiguous copies, metadata ``format=pt``)."""
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt"})


def load_weights(module: torch.nn.Module, path: Path, skip_mismatched_prefix: str | None = None) -> None:
    """Load safetensors weights into ``module`` strictly. Tensors under ``skip_mismatched_prefix`` (e.g. the
    classifier ``head.`` when fine-tuning to a new number of classes) are skipped if their shapes differ."""
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: weights file missing")
    state = load_file(str(path))
    own = module.state_dict()
    skipped = []
    if skip_mismatched_prefix:
        for key in list(state):
            if key.startswith(skip_mismatched_prefix) and key in own and own[key].shape != state[key].shape:
                skipped.append(key)
                del state[key]
    mismatched = [k for k in state if k in own and own[k].shape != state[k].shape]
    if mismatched:
        details = ", ".join(
            f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched[:5]
        )
        raise ModelNotFoundError(f"{path}: weights do not fit the config ({details})")
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in skipped]
    if missing or unexpected:
        raise ModelNotFoundError(
            f"{path}: weights do not match the model (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


class PretrainedMixin:
    """Adds ``save_pretrained(dir)`` / ``from_pretrained(dir_or_hub_id, **overrides)`` to an ``nn.Module`` whose
    ``config`` has ``to_dict()`` and whose class names ``config_class`` (with ``from_dict``) and ``model_type``."""

    config_class: Any
    model_type: str
    head_prefix: str = "head."

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        config = {"model_type": self.model_type, **self.config.to_dict()}  # type: ignore[attr-defined]
        (out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        save_weights(self, out / WEIGHTS_NAME)  # type: ignore[arg-type]
        return out

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, **overrides: Any):
        """Load a saved model; ``overrides`` change config fields (e.g. ``num_classes`` for fine-tuning, which
        re-initialises the classifier when the class count differs)."""
        directory = resolve_pretrained_dir(path_or_id)
        try:
            raw = json.loads((directory / CONFIG_NAME).read_text())
        except json.JSONDecodeError as exc:
            raise ModelNotFoundError(f"{directory / CONFIG_NAME}: not valid JSON ({exc})") from None
        model_type = raw.pop("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ModelNotFoundError(
                f"{directory}: holds a '{model_type}' model, not '{cls.model_type}' (use build_model with name={model_type})"
            )
        config = cls.config_class.from_dict({**raw, **overrides})
        model = cls(config)  # type: ignore[call-arg]
        load_weights(model, directory / WEIGHTS_NAME, skip_mismatched_prefix=cls.head_prefix)  # type: ignore[arg-type]
        model.eval()  # type: ignore[attr-defined]
        return model


def load_exported(model_dir: str | Path, map_location: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, info)`` from an exported folder; ``info`` = config.json + ``labels`` + ``dir``. Eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    from deformer3d.models import build_model  # models/__init__ imports this module

    d = Path(model_dir)
    if not d.is_dir():
        raise ExportError(f"model folder not found: {d} (export one with `deformer3d export CKPT DIR`)")
    for name in (CONFIG_NAME, WEIGHTS_NAME, LABELS_NAME):
        if not (d / name).is_file():
            raise ExportError(f"{d}: missing {name}; an exported model folder has {CONFIG_NAME}, {WEIGHTS_NAME}, "
                              f"{LABELS_NAME} (re-export with `deformer3d export CKPT DIR`)")
    try:
        info = json.loads((d / CONFIG_NAME).read_text())
        labels = json.loads((d / LABELS_NAME).read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{d}: {CONFIG_NAME} or {LABELS_NAME} is not valid JSON ({exc})") from None
    if not isinstance(info, dict) or not {"model", "num_classes"} <= set(info):
        raise ExportError(f"{d / CONFIG_NAME}: expected keys 'model', 'num_classes', 'data'")
    if len(labels) != int(info["num_classes"]):
        raise ExportError(f"{d}: {LABELS_NAME} has {len(labels)} names but config.json says "
                          f"num_classes={info['num_classes']}")
    model = build_model(dict(info["model"]), int(info["num_classes"]))
    try:
        missing, unexpected = load_model(model, str(d / WEIGHTS_NAME), strict=False, device=map_location)
    except (SafetensorError, OSError) as exc:
        raise ExportError(f"{d / WEIGHTS_NAME}: not a readable safetensors file ({exc})") from None
    if missing or unexpected:
        raise ExportError(
            f"{d / WEIGHTS_NAME} does not match the model in {CONFIG_NAME}: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    model.eval()
    info = {**info, "labels": list(labels), "dir": str(d)}
    info.setdefault("data", {})
    return model, info


load_model_folder = load_exported
