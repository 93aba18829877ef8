"""Typed experiment configs loaded from YAML with dot-list overrides.

One experiment = one YAML file with the sections below. Everything is validated against the dataclasses here
(OmegaConf structured configs), so an unknown key or a wrong type fails at load time with a message that names
the file, the key and the valid keys, instead of deep inside training.

    cfg = load_config("configs/pennaction_pose.yaml", ["optim.lr=3e-4", "trainer.max_epochs=5"])

The ``model`` section is free-form beyond ``name`` / ``preset`` / ``pretrained``: the remaining keys are passed
to that model's own config class, which validates them (see ``deformer3d.models.build_model``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

REALDATA_ENV = "DEFORMER3D_REALDATA"


def realdata_root() -> Path:
    """The one setting that locates the shared real-data folder (never copied into the repository).

    ``$DEFORMER3D_REALDATA`` if set, else ``../shared/realdata`` next to the project root.
    """
    env = os.environ.get(REALDATA_ENV)
    if env:
        return Path(env).expanduser()
    project_root = Path(__file__).resolve().parents[2]  # src/deformer3d/config.py -> project root
    candidate = project_root.parent / "shared" / "realdata"
    if candidate.is_dir():
        return candidate
    return Path.cwd().parent / "shared" / "realdata"


class ConfigError(ValueError):
    """A config problem, with the file and the key in the message."""


@dataclass
class DataConfig:
    """Where the samples come from and how clips are cut from them."""

    format: str = "pyskl"  # pyskl | ntu | pennaction | hmdb51 | finegym | folder | synth
    root: str = ""  # dataset root; videos / frame folders are resolved under it
    ann_file: str = ""  # annotation file (pkl, split file, ...) relative to root or absolute
    splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train", "val": "val", "test": "test"}
    )  # our stage -> split name inside the annotation
    class_names: str = ""  # optional label-map file (one class per line)
    num_classes: int = 0  # 0 = infer from the annotation
    layout: str = "coco17"  # joint layout: coco17 | ntu25 | penn13 | mediapipe33
    max_persons: int = 1  # persons per clip (padded with zero-score persons)
    num_frames: int = 8
    sampler: str = "uniform"  # uniform | equidistant | random | dense
    frame_interval: int = 1  # for the uniform sampler (e.g. 32 for 8 frames at 1/32)
    test_sampler: str = "equidistant"
    pad_short: bool = True  # pad short videos with the interpolation -> reversal -> brightness chain
    augment_before_sampling: bool = False
    image_size: int = 112  # square crop fed to the model
    resize_short: int = 128  # short side before cropping
    random_crop_scale: list[float] = field(default_factory=lambda: [0.6, 1.0])
    flip: bool = True
    batch_size: int = 8
    num_workers: int = 2
    subset_classes: int = 0  # HMDB51 stratified subset: N classes (0 = all)
    subset_per_class: int = 0  # ... x K videos per class
    split_seed: int = 0
    fold: int = 1  # official split number for datasets with several (HMDB51 1..3)
    protocol: str = ""  # NTU: ntu60_xsub | ntu60_xview | ntu120_xsub | ntu120_xset
    video_root: str = ""  # videos kept apart from the annotations (NTU RGB, PennAction frames); "" = under root
    # > 0: validation = this stratified fraction of the training split (for annotations without a val split:
    # PennAction, NTU, FineGYM); training uses the rest and data.splits.val is ignored
    val_fraction: float = 0.0


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9  # sgd only
    nesterov: bool = False
    scheduler: str = "cosine"  # cosine | none
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.0
    grad_clip: float = 1.0  # 0 disables clipping


@dataclass
class TrainerConfig:
    max_epochs: int = 10
    accelerator: str = "auto"  # cpu | gpu | auto
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn | ...
    precision: str = "32-true"  # 32-true | bf16-mixed | 16-mixed
    seed: int = 0
    deterministic: bool = False
    out_dir: str = "runs/default"
    log_every_n_steps: int = 10
    check_val_every_n_epoch: int = 1
    limit_train_batches: float = 1.0
    limit_val_batches: float = 1.0
    accumulate_grad_batches: int = 1
    compile: bool = False
    progress: bool = True
    num_threads: int = 0  # torch CPU threads of the training process (0 = torch's default, one per core)


@dataclass
class EvalConfig:
    checkpoint: str = "best"  # best | last | path
    clips: int = 1  # test-time clips per video (averaged)
    crops: int = 1  # test-time crops per clip: 1 (centre) or 3 (left/centre/right)
    frame_sweep: list[int] = field(default_factory=list)  # e.g. [2, 4, 8, 12]


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    model: dict[str, Any] = field(default_factory=lambda: {"name": "deformer3d", "preset": "tiny"})
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


_SECTIONS = {
    "data": DataConfig,
    "optim": OptimConfig,
    "trainer": TrainerConfig,
    "eval": EvalConfig,
}


def _valid_keys(dotted: str) -> str:
    """The keys that are valid at ``dotted`` (e.g. 'optim.lr' -> the fields of OptimConfig)."""
    section = dotted.split(".")[0]
    if section in _SECTIONS and "." in dotted:
        names = _SECTIONS[section].__dataclass_fields__
        return f"valid keys in '{section}': " + ", ".join(sorted(names))
    return "valid top-level keys: " + ", ".join(sorted(ExperimentConfig.__dataclass_fields__))


def _explain(exc: OmegaConfBaseException, source: str) -> ConfigError:
    key = getattr(exc, "full_key", "") or ""
    if isinstance(exc, (ConfigKeyError, ConfigAttributeError)):
        return ConfigError(f"{source}: unknown key '{key}'. {_valid_keys(key)}")
    if isinstance(exc, ValidationError):
        msg = str(exc).splitlines()[0]
        return ConfigError(f"{source}: wrong type for '{key}': {msg}")
    return ConfigError(f"{source}: {str(exc).splitlines()[0]}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load ``path`` (YAML), apply dot-list ``overrides`` and return a validated :class:`ExperimentConfig`.

    Relative ``data.root`` / ``data.ann_file`` stay as written; ``${realdata:}`` in a YAML value expands to
    :func:`realdata_root` so configs for the shared real data need no absolute path.
    """
    schema = OmegaConf.structured(ExperimentConfig)
    merged: DictConfig = schema
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (run from the project root or give a full path)")
        try:
            loaded = OmegaConf.load(p)
        except Exception as exc:  # yaml parse errors come in several types
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        try:
            merged = OmegaConf.merge(merged, loaded)
        except OmegaConfBaseException as exc:
            raise _explain(exc, str(p)) from exc
    if overrides:
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override '{item}' is not of the form key=value (e.g. optim.lr=3e-4)")
        try:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        except OmegaConfBaseException as exc:
            raise _explain(exc, "command-line override") from exc
    try:
        OmegaConf.resolve(merged)
        cfg: ExperimentConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise _explain(exc, str(path or "config")) from exc
    if not isinstance(cfg.model, dict) or "name" not in cfg.model:
        raise ConfigError(f"{path}: 'model.name' is required (deformer3d | timesformer | vivit)")
    return cfg


def to_yaml(cfg: ExperimentConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    Path(path).write_text(to_yaml(cfg))


def _realdata_resolver() -> str:
    return str(realdata_root())


_register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver  # 2.4 renamed it
_register("realdata", _realdata_resolver, replace=True)

__all__ = [
    "MISSING",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "OptimConfig",
    "TrainerConfig",
    "load_config",
    "realdata_root",
    "save_config",
    "to_yaml",
]
