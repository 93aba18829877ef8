"""``deformer3d export``: a training checkpoint -> THE model folder of :mod:`deformer3d.models.hub`
(``config.json`` with id2label + preprocessing, ``model.safetensors``, ``README.md`` card; ``model.onnx`` with
``--onnx``). No pickle anywhere.

The model config written is the model's full resolved config (``model.config.to_dict()``), not the YAML section it
was trained from: a YAML ``pretrained:`` hub id or ``preset:`` would otherwise have to be resolved again (online)
to rebuild the architecture. The card is filled from the run folder beside the checkpoint (``config.yaml``:
what it was trained on; ``eval/results.json``: the metrics, when it evaluates this checkpoint). Lightning is
imported only here (reading a training checkpoint needs it); the reader lives in :mod:`deformer3d.models.hub`, so
``predict`` / ``serve`` never import the engine.

A model folder of an older layout given instead of a checkpoint is rewritten in the current one
(``deformer3d export OLD_FOLDER NEW_FOLDER``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deformer3d.models.hub import (  # noqa: F401  (load_exported re-exported for old imports)
    CARD_NAME,
    CONFIG_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    ExportError,
    load_exported,
    load_model_folder,
    save_model_folder,
)


def card_info(checkpoint: str | Path | None, hparams: dict[str, Any], epoch: Any = None) -> dict[str, Any]:
    """What the model card says about training: the run's ``config.yaml`` and its evaluation report."""
    info: dict[str, Any] = {"data": dict(hparams.get("data_info") or {}), "optim": dict(hparams.get("optim") or {})}
    if checkpoint is None:
        return info
    ckpt = Path(checkpoint).resolve()
    info.update(checkpoint=str(ckpt), epoch=epoch)
    run_dir = ckpt.parent.parent  # <run>/checkpoints/best.ckpt
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        from omegaconf import OmegaConf

        try:
            run_cfg = OmegaConf.to_container(OmegaConf.load(config_path), resolve=False)
        except Exception:  # a hand-edited run config only costs the card its training section
            run_cfg = {}
        if isinstance(run_cfg, dict):
            info["experiment"] = run_cfg.get("name")
            info["data"] = {**info["data"], **dict(run_cfg.get("data") or {})}
    results_path = run_dir / "eval" / "results.json"
    if results_path.is_file():
        try:
            results = json.loads(results_path.read_text())
        except json.JSONDecodeError:
            results = {}
        if isinstance(results, dict) and Path(str(results.get("checkpoint", ""))).resolve() == ckpt:
            info["results"] = results
    return info


def export_module(module, out_dir: str | Path, checkpoint: str | Path | None = None, epoch: Any = None) -> Path:
    """Write the folder for an :class:`~deformer3d.engine.module.ActionModule` (weights of ``module.model``)."""
    hp = module.hparams
    return save_model_folder(
        module.model,
        out_dir,
        class_names=list(hp["class_names"]),
        preprocessing=dict(hp["data_info"]) or None,
        card=card_info(checkpoint, dict(hp), epoch),
    )


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, onnx: bool = False) -> Path:
    """Training checkpoint (``.ckpt``, read with ``weights_only=True``) -> model folder; ``onnx`` adds
    ``model.onnx``. An older model folder instead of a checkpoint is rewritten in the current layout."""
    from rich.console import Console

    source = Path(checkpoint)
    if source.is_dir():
        model, _ = load_model_folder(source)
        if Path(out_dir).resolve() == source.resolve():
            raise ExportError(f"{out_dir}: give a new folder to rewrite {source} into (not the same folder)")
        out = save_model_folder(model, out_dir)
    else:
        # imports lightning (seconds): only when exporting
        from deformer3d.engine.checkpoint import load_module

        module, ckpt = load_module(checkpoint)
        out = export_module(module, out_dir, checkpoint=checkpoint, epoch=ckpt.get("epoch"))
        model = module.model
    files = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]
    if onnx:
        from deformer3d.models.onnx import export_onnx

        export_onnx(model, out)
        files.append(ONNX_NAME)
    Console(stderr=True).print(f"exported {checkpoint} -> {out}/ ({', '.join(files)})")
    return out
