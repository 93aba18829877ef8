"""Exported model folders: ``config.json`` + ``model.safetensors`` + ``labels.json`` (no pickle anywhere).

``config.json`` = ``{"model": <model section incl. name>, "num_classes": K, "data": <inference data settings>}``
(see docs/CONTRACTS.md). ``predict`` and the web page load a folder with :func:`deformer3d.models.hub.load_exported`.

The ``model`` entry is the model's full resolved config (``model.config.to_dict()``), not the YAML section it was
trained from: a YAML ``pretrained:`` hub id or ``preset:`` would otherwise have to be resolved again (online) to
rebuild the architecture. Lightning is imported only by :func:`export_checkpoint` (reading a training
checkpoint needs it); the reader lives in :mod:`deformer3d.models.hub`, so ``predict`` / ``serve`` never import
the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from deformer3d.models.hub import (  # noqa: F401  (load_exported re-exported for old imports)
    CONFIG_NAME,
    LABELS_NAME,
    WEIGHTS_NAME,
    ExportError,
    load_exported,
)


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
