"""THE model folder: one writer and one reader for every model kind (deformer3d, timesformer, vivit).

    my_model/
      config.json        model_type, the model's config fields, num_classes, id2label / label2id (the Hugging Face
                         convention), preprocessing (clip geometry, samplers, joint layout, normalisation) and, after
                         `deformer3d export --onnx`, an ``onnx`` entry (file, opset, the traced clip shape)
      model.safetensors  the weights (never pickle)
      README.md          the model card: trained on what, metrics of the evaluation report, intended use, limits
      model.onnx         optional (`deformer3d export CKPT OUT --onnx`)

Writer: :func:`save_model_folder` (behind ``model.save_pretrained`` and ``deformer3d export``). Reader:
:func:`read_model_folder` (config only, every field validated) and :func:`load_model_folder` (model + info; behind
``Model.from_pretrained``, ``Predictor``, ``predict`` and ``serve``). The model classes take
``huggingface_hub.ModelHubMixin``, so ``push_to_hub`` and ``from_pretrained("owner/name")`` are the hub's own code
paths. A hub id is only fetched when the hub is reachable: with ``HF_HUB_OFFLINE=1`` (the CLI's default) it must be
in the local cache already, otherwise :class:`ModelNotFoundError` says so at once instead of timing out.

Older folders still load: ``deformer3d export`` before this format (``config.json`` = ``{model, num_classes, data}``
+ ``labels.json``) and ``save_pretrained`` folders without ``id2label``. ``deformer3d export OLD NEW``
rewrites one in this format.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelHubMixin

from deformer3d.errors import UserError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
ONNX_NAME = "model.onnx"
LABELS_NAME = "labels.json"  # legacy folders only: the class names now live in config.json's id2label
FORMAT_VERSION = 2
# config.json keys that are the folder's, not the model config's
FOLDER_KEYS = ("model_type", "format_version", "num_classes", "id2label", "label2id", "preprocessing", "onnx",
               "evaluation")
MODEL_TYPES = ("deformer3d", "timesformer", "vivit")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # = deformer3d.data.transforms (the reader checks a folder agrees)
IMAGENET_STD = (0.229, 0.224, 0.225)
_COUNTS = ("num_frames", "image_size", "resize_short", "frame_interval", "max_persons", "fold")  # >= 1


class ModelNotFoundError(UserError, FileNotFoundError):
    """A pretrained model directory or hub id that cannot be found or read."""


class ExportError(UserError):
    """A model folder that is missing a file, holds an invalid field, or whose files disagree."""


# ---- where a folder is --------------------------------------------------------------------------------------------
def hub_offline() -> bool:
    """Whether the Hugging Face hub may not be reached (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``, read now)."""
    return any(
        os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def is_hub_id(source: str) -> bool:
    """``owner/name``: the shape of a hub id (a path-looking string is a missing local folder instead)."""
    return source.count("/") == 1 and not source.startswith((".", "/", "~")) and "\\" not in source


def resolve_pretrained_dir(path_or_id: str | os.PathLike) -> Path:
    """A local directory holding ``config.json`` (+ weights), downloading a hub id if allowed."""
    path = Path(path_or_id).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise ModelNotFoundError(
                f"{path}: no {CONFIG_NAME} in this directory (expected a model folder written by save_pretrained "
                f"or `deformer3d export CKPT DIR`)"
            )
        return path
    if path.exists():
        raise ModelNotFoundError(f"{path}: is a file; a model folder is a directory with {CONFIG_NAME}")
    repo_id = str(path_or_id)
    if not is_hub_id(repo_id):
        raise ModelNotFoundError(
            f"{repo_id}: no such directory (a model folder), and not a Hugging Face hub id of the form "
            f"'owner/name'; export one with `deformer3d export CKPT DIR`"
        )
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    try:
        local = snapshot_download(
            repo_id,
            allow_patterns=[CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, ONNX_NAME, LABELS_NAME],
            local_files_only=offline,
        )
    except Exception as exc:  # network errors, missing repos and cache misses come as several types
        hint = (
            "HF_HUB_OFFLINE=1 is set and it is not in the local cache; give a local model folder, or unset "
            "HF_HUB_OFFLINE to download it"
            if offline
            else f"the hub could not provide it ({type(exc).__name__}: {exc})"
        )
        raise ModelNotFoundError(f"'{repo_id}' is not a local directory; {hint}") from None
    return Path(local)


# ---- reading and validating config.json ---------------------------------------------------------------------------
@dataclass
class ModelFolder:
    """A model folder's ``config.json``, validated (no weights read yet)."""

    directory: Path
    model_type: str
    model_config: dict[str, Any]  # the model's own config fields (no name, no num_classes)
    labels: list[str]
    preprocessing: dict[str, Any]
    onnx: dict[str, Any] | None = None
    legacy: str = ""  # "" | "export-v1" | "save_pretrained-v1": which older layout it was read from
    card: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None  # config.json's "evaluation": what the model scored where

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_NAME

    def info(self) -> dict[str, Any]:
        """The ``info`` dict of :func:`load_model_folder` (``data`` = ``preprocessing``, the name the predictor reads)."""
        return {
            "model_type": self.model_type,
            "model": {"name": self.model_type, **self.model_config},
            "num_classes": self.num_classes,
            "labels": list(self.labels),
            "data": dict(self.preprocessing),
            "preprocessing": dict(self.preprocessing),
            "onnx": dict(self.onnx) if self.onnx else None,
            "dir": str(self.directory),
        }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}: not valid JSON ({exc}); re-export the model with `deformer3d export`") from None
    except OSError as exc:
        raise ExportError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _labels_from_id2label(path: Path, id2label: Any) -> list[str]:
    if not isinstance(id2label, dict) or not id2label:
        raise ExportError(f"{path}: id2label must be a non-empty object {{\"0\": \"class name\", ...}}, got "
                          f"{type(id2label).__name__}")
    by_index: dict[int, str] = {}
    for key, name in id2label.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ExportError(f"{path}: id2label key {key!r} is not a class index (0..K-1)") from None
        if not isinstance(name, str) or not name.strip():
            raise ExportError(f"{path}: id2label[{key!r}] = {name!r} must be a non-empty class name (a string)")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise ExportError(f"{path}: id2label keys must be 0..{len(by_index) - 1} without gaps, got "
                          f"{sorted(by_index)[:10]}")
    labels = [by_index[i] for i in range(len(by_index))]
    if len(set(labels)) != len(labels):
        dup = sorted({n for n in labels if labels.count(n) > 1})
        raise ExportError(f"{path}: id2label repeats class name(s) {dup[:5]}; each class needs its own name")
    return labels


def _check_labels_list(path: Path, labels: Any) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(n, str) and n.strip() for n in labels) or not labels:
        raise ExportError(f"{path}: must be a JSON list of class names (strings), got {str(labels)[:80]}")
    return list(labels)


def validate_preprocessing(path: Path, pre: Any) -> dict[str, Any]:
    """Check the ``preprocessing`` entry: every key a data setting of this toolkit, each value of the right type
    and range (the predictor feeds the model with exactly these)."""
    from dataclasses import MISSING
    from dataclasses import fields as dc_fields

    from deformer3d.config import DataConfig
    from deformer3d.data.sampling import SAMPLERS
    from deformer3d.data.skeleton import LAYOUTS

    if not isinstance(pre, dict):
        raise ExportError(f"{path}: preprocessing must be an object of data settings, got {type(pre).__name__}")
    defaults = {f.name: f for f in dc_fields(DataConfig)}
    out: dict[str, Any] = {}
    for key, value in pre.items():
        where = f"{path}: preprocessing.{key}={value!r}"
        if key == "normalisation":
            out[key] = _check_normalisation(path, value)
            continue
        if key not in defaults:
            raise ExportError(f"{path}: preprocessing.{key} is not a data setting; valid: normalisation, "
                              f"{', '.join(sorted(defaults))}")
        f = defaults[key]
        default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
        if key == "layout" and value not in LAYOUTS:
            raise ExportError(f"{where} is not a joint layout; valid: {', '.join(LAYOUTS)}")
        if key in ("sampler", "test_sampler") and value not in SAMPLERS:
            raise ExportError(f"{where} is not a sampler; valid: {', '.join(SAMPLERS)}")
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ExportError(f"{where} must be true or false")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key in _COUNTS else 0):
                raise ExportError(f"{where} must be a {'positive' if key in _COUNTS else 'non-negative'} integer")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExportError(f"{where} must be a number")
        elif isinstance(default, str) and not isinstance(value, str):
            raise ExportError(f"{where} must be a string")
        elif isinstance(default, (list, dict)) and not isinstance(value, type(default)):
            raise ExportError(f"{where} must be a {'list' if isinstance(default, list) else 'mapping'}")
        out[key] = value
    return out


def _check_normalisation(path: Path, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExportError(f"{path}: preprocessing.normalisation must be an object, got {type(value).__name__}")
    for key, expected in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        got = value.get(key, list(expected))
        ok = isinstance(got, list) and len(got) == 3 and all(
            isinstance(v, (int, float)) and abs(v - e) < 1e-6 for v, e in zip(got, expected, strict=False)
        )
        if not ok:
            raise ExportError(
                f"{path}: preprocessing.normalisation.{key}={got!r}; this toolkit feeds models ImageNet-normalised "
                f"frames ({key} {list(expected)}): a model trained otherwise cannot be served by it"
            )
    return dict(value)


def default_preprocessing(model_type: str, model_config: dict[str, Any]) -> dict[str, Any]:
    """Preprocessing for a model saved without data settings (``model.save_pretrained``): its own clip geometry,
    the data defaults for everything else (short side = image_size x 8/7, as 128 for 112)."""
    cfg = model_config.get("hf_config") or model_config
    frames, size = cfg.get("num_frames"), cfg.get("image_size")
    pre: dict[str, Any] = {}
    if _is_count(frames):
        pre["num_frames"] = frames
    if _is_count(size):
        pre["image_size"] = size
        pre["resize_short"] = round(size * 8 / 7)
    if model_type == "deformer3d":
        from deformer3d.data.skeleton import LAYOUTS

        joints = model_config.get("num_joints")
        layout = next((name for name, lay in LAYOUTS.items() if lay.num_joints == joints), None)
        if layout:
            pre["layout"] = layout
    pre["normalisation"] = normalisation()
    return pre


def normalisation() -> dict[str, Any]:
    """How the model's inputs are normalised (written into ``preprocessing``)."""
    return {
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "video": "RGB in [0, 255] -> (x / 255 - mean) / std, (B, 3, T, H, W)",
        "pose": "(x, y, score) per joint; x, y in [0, 1] of the cropped frame; score 0 = missing, (B, T, R, 3)",
    }


def read_model_folder(path_or_id: str | os.PathLike) -> ModelFolder:
    """Read and validate a folder's ``config.json`` (or a legacy folder's files). Raises :class:`ExportError`
    naming the file and field on anything the loader could not use."""
    directory = resolve_pretrained_dir(path_or_id)
    path = directory / CONFIG_NAME
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise ExportError(f"{path}: must be a JSON object, got {type(raw).__name__}")
    if "model" in raw and isinstance(raw.get("model"), dict) and "model_type" not in raw:
        return _read_export_v1(directory, raw)
    raw = dict(raw)
    legacy = "" if raw.get("format_version") == FORMAT_VERSION else "save_pretrained-v1"
    if "format_version" in raw and raw["format_version"] != FORMAT_VERSION:
        raise ExportError(f"{path}: format_version={raw['format_version']!r}; this deformer3d reads "
                          f"{FORMAT_VERSION} (upgrade deformer3d to read a newer folder)")
    model_type = raw.pop("model_type", None) or raw.get("name")
    raw.pop("name", None)
    if model_type not in MODEL_TYPES:
        raise ExportError(f"{path}: model_type={model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    num_classes = raw.pop("num_classes", None)
    id2label = raw.pop("id2label", None)
    label2id = raw.pop("label2id", None)
    if id2label is not None:
        labels = _labels_from_id2label(path, id2label)
    else:
        if not _is_count(num_classes):
            raise ExportError(f"{path}: num_classes={num_classes!r} must be a positive integer")
        labels = [f"class_{i}" for i in range(num_classes)]
    if num_classes is not None and (not _is_count(num_classes) or num_classes != len(labels)):
        raise ExportError(f"{path}: num_classes={num_classes!r} but id2label names {len(labels)} classes; they "
                          f"must agree (num_classes a positive integer)")
    if label2id is not None and label2id != {name: i for i, name in enumerate(labels)}:
        raise ExportError(f"{path}: label2id is not the inverse of id2label; drop label2id or fix it")
    raw.pop("format_version", None)
    pre_raw = raw.pop("preprocessing", None)
    onnx = raw.pop("onnx", None)
    if onnx is not None and not isinstance(onnx, dict):
        raise ExportError(f"{path}: onnx must be an object (file, opset, inputs), got {type(onnx).__name__}")
    evaluation = raw.pop("evaluation", None)  # measured figures a shipped model records (its card's source)
    if evaluation is not None and not isinstance(evaluation, dict):
        raise ExportError(f"{path}: evaluation must be an object (dataset, top1, ...), got {type(evaluation).__name__}")
    model_config = raw
    pre = default_preprocessing(model_type, model_config) if pre_raw is None else pre_raw
    folder = ModelFolder(directory, model_type, model_config, labels, validate_preprocessing(path, pre), onnx, legacy)
    folder.evaluation = evaluation
    return folder


def _read_export_v1(directory: Path, raw: dict[str, Any]) -> ModelFolder:
    """``deformer3d export`` before format 2: ``{model: {name, ...}, num_classes, data}`` + ``labels.json``."""
    path = directory / CONFIG_NAME
    labels_path = directory / LABELS_NAME
    if not labels_path.is_file():
        raise ExportError(f"{directory}: missing {LABELS_NAME}; an older export folder has {CONFIG_NAME}, "
                          f"{WEIGHTS_NAME}, {LABELS_NAME} (re-export with `deformer3d export CKPT DIR`)")
    labels = _check_labels_list(labels_path, _read_json(labels_path))
    num_classes = raw.get("num_classes")
    if not _is_count(num_classes):
        raise ExportError(f"{path}: num_classes={num_classes!r} must be a positive integer")
    if len(labels) != num_classes:
        raise ExportError(f"{directory}: {LABELS_NAME} has {len(labels)} names but {CONFIG_NAME} says "
                          f"num_classes={num_classes}")
    model = dict(raw["model"])
    model_type = model.pop("name", "deformer3d")
    model.pop("num_classes", None)
    if model_type not in MODEL_TYPES:
        raise ExportError(f"{path}: model.name={model_type!r} is not one of {', '.join(MODEL_TYPES)}")
    data = raw.get("data", {})
    pre = validate_preprocessing(path, {**data, "normalisation": normalisation()} if isinstance(data, dict) else data)
    return ModelFolder(directory, model_type, model, labels, pre, None, "export-v1")


# ---- weights ------------------------------------------------------------------------------------------------------
def load_weights(module: torch.nn.Module, path: Path, skip_mismatched_prefix: str | None = None) -> None:
    """Load safetensors weights into ``module`` strictly, naming the file and the first tensors that disagree.

    Tensors under ``skip_mismatched_prefix`` (the classifier when fine-tuning to another number of classes) are
    skipped if their shapes differ. Tensors that ``save_model`` de-duplicated (shared storage) count as loaded.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ExportError(f"{path}: weights file missing (a model folder has {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        state = dequantize(load_file(str(path)))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ExportError(f"{path}: not a readable safetensors file ({exc})") from None
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
            f"{k}: file {tuple(state[k].shape)} vs config {tuple(own[k].shape)}" for k in mismatched[:3]
        )
        raise ExportError(f"{path}: the weights do not fit the model {CONFIG_NAME} describes ({details}); the two "
                          f"files come from different models")
    missing, unexpected = module.load_state_dict(state, strict=False)
    loaded = {own[k].data_ptr() for k in state if k in own}
    missing = [k for k in missing if k not in skipped and own[k].data_ptr() not in loaded]
    if missing or unexpected:
        raise ExportError(
            f"{path}: the weights do not match the model {CONFIG_NAME} describes (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )


def save_weights(module: torch.nn.Module, path: Path) -> None:
    """safetensors with metadata ``format=pt``; ``save_model`` de-duplicates tied tensors (safetensors cannot store
    one storage twice)."""
    from safetensors.torch import save_model

    save_model(module, str(path), metadata={"format": "pt"})


# Package data stays small: weight matrices as int8 with one float16 scale per output row (symmetric), every other
# float tensor as float16. They load back into float32 parameters; ``load_weights`` reads both forms.
INT8_SCALE = ".int8_row_scale"
INT8_MIN_NUMEL = 4096  # small tensors (norms, biases, tokens) gain nothing from it and are the most sensitive


def compact_weights(path: Path) -> None:
    """Rewrite the safetensors file at ``path`` in the compact form above (about a quarter of float32)."""
    from safetensors.torch import load_file, save_file

    out = {}
    for key, tensor in load_file(str(path)).items():
        if not tensor.is_floating_point():
            out[key] = tensor
        elif tensor.ndim >= 2 and tensor.numel() >= INT8_MIN_NUMEL:
            rows = tensor.float().flatten(1)
            scale = (rows.abs().amax(1, keepdim=True) / 127).clamp_min(1e-12).half()
            out[key] = (rows / scale.float()).round().clamp(-127, 127).to(torch.int8).reshape(tensor.shape)
            out[key + INT8_SCALE] = scale
        else:
            out[key] = tensor.half()
    save_file(out, str(path), metadata={"format": "pt"})


def dequantize(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with each int8 tensor written by :func:`compact_weights` turned back into float32."""
    for scale_key in [k for k in state if k.endswith(INT8_SCALE)]:
        key = scale_key.removesuffix(INT8_SCALE)
        q = state[key]
        state[key] = (q.flatten(1).float() * state.pop(scale_key).float()).reshape(q.shape)
    return state


# ---- the loader ---------------------------------------------------------------------------------------------------
def build_from_folder(folder: ModelFolder, num_classes: int | None = None, **overrides: Any) -> torch.nn.Module:
    """The folder's architecture, randomly initialised (``overrides`` change model config fields)."""
    from deformer3d.config import ConfigError
    from deformer3d.models import build_model  # models/__init__ imports this module

    cfg = {"name": folder.model_type, **folder.model_config, **overrides}
    cfg.pop("pretrained", None)  # the weights are in the folder: never go back to the hub
    try:
        return build_model(cfg, num_classes or folder.num_classes)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ExportError(f"{folder.config_path}: invalid model config ({exc})") from None


def attach_folder(model: torch.nn.Module, folder: ModelFolder) -> None:
    """Keep the folder's labels and preprocessing on the model, so ``save_pretrained`` writes them back."""
    model.folder_labels = list(folder.labels)  # type: ignore[assignment]
    model.folder_preprocessing = dict(folder.preprocessing)  # type: ignore[assignment]


def load_model_folder(model_dir: str | os.PathLike, map_location: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, info)`` from a model folder (or a hub id); eval mode. ``info``: model_type, model (config incl.
    name), num_classes, labels, data (= preprocessing), onnx, dir."""
    folder = read_model_folder(model_dir)
    model = build_from_folder(folder)
    load_weights(model, folder.directory / WEIGHTS_NAME)
    attach_folder(model, folder)
    model.to(map_location).eval()
    return model, folder.info()


load_exported = load_model_folder  # the name the predictor and older code import


# ---- the writer ---------------------------------------------------------------------------------------------------
def folder_config(model: torch.nn.Module) -> tuple[str, dict[str, Any]]:
    """``(model_type, model config fields)`` of a model, as plain JSON values. ``pretrained`` is cleared (the
    weights are in the folder) and ``num_classes`` / ``name`` are the folder's keys."""
    model_type = getattr(model, "model_type", None)
    to_dict = getattr(getattr(model, "config", None), "to_dict", None)
    if model_type not in MODEL_TYPES or not callable(to_dict):
        raise ExportError(f"{type(model).__name__}: not a deformer3d model kind ({', '.join(MODEL_TYPES)})")
    cfg = {k: v for k, v in dict(to_dict()).items() if k not in ("name", "num_classes", "model_type")}
    if "pretrained" in cfg:
        cfg["pretrained"] = ""
    return model_type, json.loads(json.dumps(cfg))  # tuples -> lists, as the reader will see them


def save_model_folder(
    model: torch.nn.Module,
    out_dir: str | os.PathLike,
    *,
    class_names: list[str] | None = None,
    preprocessing: dict[str, Any] | None = None,
    card: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``README.md`` for ``model``.

    ``class_names`` / ``preprocessing`` default to what the model was loaded with (a folder) or ``class_i`` and its
    own clip geometry. ``card``: what the card says about training (see :func:`deformer3d.models.card.render_card`).
    A stale ``model.onnx`` is removed (``deformer3d export --onnx`` writes a fresh one after this).
    """
    from deformer3d.models.card import render_card

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_type, model_cfg = folder_config(model)
    num_classes = int(model.config.num_classes)  # type: ignore[union-attr]
    labels = list(class_names or getattr(model, "folder_labels", None) or [f"class_{i}" for i in range(num_classes)])
    if len(labels) != num_classes:
        raise ExportError(f"{out}: {len(labels)} class names for a model with {num_classes} classes")
    pre = dict(preprocessing or getattr(model, "folder_preprocessing", None)
               or default_preprocessing(model_type, model_cfg))
    pre.setdefault("normalisation", normalisation())
    pre = validate_preprocessing(out / CONFIG_NAME, json.loads(json.dumps(pre)))
    config = {
        "model_type": model_type,
        "format_version": FORMAT_VERSION,
        "num_classes": num_classes,
        "id2label": {str(i): name for i, name in enumerate(labels)},
        "label2id": {name: i for i, name in enumerate(labels)},
        "preprocessing": pre,
        **model_cfg,
    }
    (out / ONNX_NAME).unlink(missing_ok=True)
    (out / LABELS_NAME).unlink(missing_ok=True)  # legacy file: the names are in id2label now
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    save_weights(model, out / WEIGHTS_NAME)
    (out / CARD_NAME).write_text(render_card(model, config, card or {}))
    return out


def update_config(folder: str | os.PathLike, **entries: Any) -> None:
    """Set top-level entries of a folder's ``config.json`` (the ONNX exporter records ``onnx`` this way)."""
    path = Path(folder) / CONFIG_NAME
    config = _read_json(path)
    config.update(entries)
    path.write_text(json.dumps(config, indent=2) + "\n")


# ---- the mixin the model classes take ----------------------------------------------------------------------------
class PretrainedMixin(ModelHubMixin):
    """``save_pretrained(dir)`` / ``push_to_hub(repo_id)`` (huggingface_hub's) and ``from_pretrained(dir_or_id,
    **overrides)`` for an ``nn.Module`` whose ``config`` has ``to_dict()`` and whose class sets ``model_type``."""

    model_type: str = ""
    head_prefix: str = "head."

    def save_pretrained(self, save_directory: str | os.PathLike, *, push_to_hub: bool = False, **kwargs: Any):
        """Write the model folder into ``save_directory`` and return its path (``push_to_hub=True``: also upload it,
        returning the commit URL; ``repo_id`` names the hub repository)."""
        url = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        return url if push_to_hub else Path(save_directory)

    def _save_pretrained(self, save_directory: Path) -> None:
        # ModelHubMixin.save_pretrained calls this, then keeps our config.json and README.md as written
        save_model_folder(self, save_directory)  # type: ignore[arg-type]

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, **overrides: Any):  # type: ignore[override]
        """Load a model folder (or hub id); ``overrides`` change config fields (``num_classes`` re-initialises the
        classifier when the class count differs, for fine-tuning)."""
        folder = read_model_folder(path_or_id)
        expected = (cls.model_type,) if cls.model_type else tuple(getattr(cls, "model_types", MODEL_TYPES))
        if folder.model_type not in expected:
            raise ModelNotFoundError(
                f"{folder.directory}: holds a '{folder.model_type}' model, not {' / '.join(expected)} (load it with "
                f"deformer3d.models.hub.load_model_folder, or the class for '{folder.model_type}')"
            )
        num_classes = overrides.pop("num_classes", None)
        model = build_from_folder(folder, num_classes, **overrides)
        load_weights(model, folder.directory / WEIGHTS_NAME, skip_mismatched_prefix=cls.head_prefix)
        if num_classes in (None, folder.num_classes):
            attach_folder(model, folder)
        model.eval()
        return model
