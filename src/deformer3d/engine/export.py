"""Exported model folders: ``config.json`` + ``model.safetensors`` + ``labels.json`` (no pickle anywhere).

``config.json`` = ``{"model": <model section incl. name>, "num_classes": K, "data": <inference data settings>}``
(see docs/CONTRACTS.md). ``predict`` and the web page load a folder with :func:`load_exported`.

The ``model`` entry is the model's full resolved config (``model.config.to_dict()``), not the YAML section it was
trained from: a YAML ``pretrained:`` hub id or ``preset:`` would otherwise have to be resolved again (online) to
rebuild the architecture. Lightning is imported only by :func:`export_checkpoint` (reading a training
checkpoint needs it), so :func:`load_exported` - every ``predict`` / ``serve`` - stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from deformer3d.errors import UserError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LABELS_NAME = "labels.json"


class ExportError(UserError):
    """An exported model folder that is missing a file or whose files disagree."""


def resolved_model_config(model: nn.Module, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` entry of ``config.json``: everything that rebuilds ``model`` offline with ``build_model``.

    ``model.config.to_dict()`` holds every architecture field (for the Hugging Face adapters also the full
    transformers config), so no preset or hub checkpoint is looked up again; ``pretrained`` is cleared because the
    weights are in the folder now. ``num_classes`` is dropped: ``config.json`` keeps it at the top level and
    ``build_model`` takes it as an argument. Models without a ``config.to_dict()`` keep the YAML section.
    """
    to_dict = getattr(getattr(model, "config", None), "to_dict", None)
    if not callable(to_dict):
        return dict(model_cfg)
    resolved = {k: v for k, v in dict(to_dict()).items() if k != "num_classes"}
    resolved["name"] = model_cfg.get("name", "deformer3d")
    if "pretrained" in resolved:
        resolved["pretrained"] = ""
    return json.loads(json.dumps(resolved))  # plain JSON values (tuples -> lists), as load_exported will see them


def export_module(module, out_dir: str | Path) -> Path:
    """Write the folder for an :class:`~deformer3d.engine.module.ActionModule` (weights of ``module.model``)."""
    from safetensors.torch import save_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hp = module.hparams
    config = {"model": resolved_model_config(module.model, dict(hp["model_cfg"])),
              "num_classes": int(hp["num_classes"]), "data": dict(hp["data_info"])}
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    (out / LABELS_NAME).write_text(json.dumps(list(hp["class_names"]), indent=1))
    # save_model (not save_file) de-duplicates tied tensors, which safetensors cannot store twice
    save_model(module.model, str(out / WEIGHTS_NAME))
    return out


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """Training checkpoint (``.ckpt``, read with ``weights_only=True``) -> exported model folder."""
    from rich.console import Console

    from deformer3d.engine.checkpoint import load_module  # imports lightning (seconds): only when exporting

    module, _ = load_module(checkpoint)
    out = export_module(module, out_dir)
    Console(stderr=True).print(f"exported {checkpoint} -> {out}/ ({CONFIG_NAME}, {WEIGHTS_NAME}, {LABELS_NAME})")
    return out


def load_exported(model_dir: str | Path, map_location: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """``(model, info)`` from an exported folder; ``info`` = config.json + ``labels`` + ``dir``. Eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    from deformer3d.models import build_model

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
