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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from deformer3d.errors import UserError

REALDATA_ENV = "DEFORMER3D_REALDATA"


PROJECT_NAME = 'name = "deformer3d"'  # the line of pyproject.toml that marks a checkout of this project


def project_root(start: str | Path | None = None) -> Path | None:
    """The source checkout that holds ``start`` (default: the working directory): the nearest folder at or above
    it whose ``pyproject.toml`` declares this project. ``None`` outside a checkout (e.g. an installed wheel used
    from any other folder): code that needs the repository's files says so instead of guessing a path."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and PROJECT_NAME in pyproject.read_text(errors="replace"):
            return folder
    return None


def realdata_root() -> Path:
    """The one setting that locates the shared real-data folder (never copied into the repository).

    ``$DEFORMER3D_REALDATA`` if set, else ``shared/realdata`` beside the checkout holding the working directory
    (``../shared/realdata`` from its root), else beside the working directory.
    """
    env = os.environ.get(REALDATA_ENV)
    if env:
        return Path(env).expanduser()
    root = project_root() or Path.cwd()
    return root.parent / "shared" / "realdata"


class ConfigError(UserError, ValueError):
    """A config problem, with the file and the key in the message."""


@dataclass
class PoseAugmentConfig:
    """Training-time skeleton augmentation of person-normalised poses (0 / [1, 1] switches an item off)."""

    rotate: float = 0.0  # max degrees
    scale: list[float] = field(default_factory=lambda: [1.0, 1.0])  # independent x / y scale range
    shear: float = 0.0
    translate: float = 0.0  # max shift, person units
    jitter: float = 0.0  # per-joint Gaussian noise std, person units (estimated poses are jittery)
    drop_joints: float = 0.0  # probability a joint is missing in a frame
    # [lo, hi] factors on the hip / shoulder distance: annotators and estimators place these joints differently
    hip_width: list[float] = field(default_factory=lambda: [1.0, 1.0])
    shoulder_width: list[float] = field(default_factory=lambda: [1.0, 1.0])
    # probability of swapping left / right joint names without mirroring: "left" of a person facing the camera is
    # the viewer's left in some datasets (Penn Action) and the person's own in others (MediaPipe, COCO)
    swap_sides: float = 0.0
    # class name -> max degrees the whole body is tilted, for actions people also do on a slope that the dataset
    # films on flat ground only (Penn Action's push-ups and sit-ups are on the floor; people do them against a bar,
    # a bench or a wall, or on a decline bench). Those classes rotate by up to max(rotate, incline[class]); tilting
    # every class that far makes an upright swing look like an inclined push-up (README, v11)
    incline: dict[str, float] = field(default_factory=dict)


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
    # skeleton coordinates: "frame" = [0, 1] of the (cropped) frame, the paper's input; "person" = centred on the
    # main person and scaled by their size (data/pose_transforms.py), the same whatever the frame or its crop
    pose_norm: str = "frame"
    # "given" = the source's joint scores; "present" = 1 for every joint of a person seen in that frame: annotated
    # visibility (Penn Action) and an estimator's confidences (MediaPipe) mean different things, presence does not
    joint_scores: str = "given"
    # which joints are called left: "given" = the source's names; "image" = per person and clip, the side whose
    # shoulders and hips lie on the image's left (datasets and estimators disagree on "left" for a person facing
    # the camera; Penn Action's annotators mix both conventions)
    side_names: str = "given"
    # RGB crops around the person's box from the skeleton (PoseC3D-style) instead of the frame centre:
    # "auto" = when the clip has a skeleton and the model uses frames; "on" | "off"
    person_crop: str = "auto"
    person_crop_margin: float = 1.25  # box side = this x the person's extent over the clip
    pose_augment: PoseAugmentConfig = field(default_factory=PoseAugmentConfig)
    # training: sample the clip's frames from a random window of this fraction [lo, hi] of the video, so the model
    # sees the action faster, slower and at other phases ([1, 1] = the whole video)
    temporal_crop: list[float] = field(default_factory=lambda: [1.0, 1.0])
    # classes done in sets of repetitions (squats, push-ups, sit-ups): a window of an untrimmed video starts anywhere
    # in a repetition, a trimmed dataset's clip where one starts. Training: with probability `phase_shift` a clip of
    # such a class is played forwards and back in a loop from a random point (data/sampling.py: back_and_forth)
    repeated_classes: list[str] = field(default_factory=list)
    phase_shift: float = 0.0
    # how long one training clip lasts, in seconds (0 = unknown): long videos are cut into windows of this length
    # for models whose sampler spreads its frames over a whole trimmed clip (Penn Action: median 56 frames ~ 2 s)
    window_seconds: float = 0.0
    # folder of pre-decoded frames written by `deformer3d cache` ("" = decode the videos while training): read
    # instead of the video when it holds an entry for the video at the size the dataset decodes at
    cache_dir: str = ""


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
    # the checkpoints hold the uniform mean of the weights at the end of each epoch from this one (0-based) on,
    # an ensemble's smoothing at one model's cost (SWA's averaging on the recipe's own schedule); -1 = off
    average_from_epoch: int = -1


@dataclass
class EvalConfig:
    checkpoint: str = "best"  # best | last | path
    clips: int = 1  # test-time clips per video (averaged)
    crops: int = 1  # test-time crops per clip: 1 (centre) or 3 (left/centre/right)
    flip: bool = False  # each test view also mirrored and averaged (when data.flip allows mirroring)
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


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, *, check_hardware: bool = True
) -> ExperimentConfig:
    """Load ``path`` (YAML), apply dot-list ``overrides`` and return a validated :class:`ExperimentConfig`.

    Types and values are both checked here (:func:`check_values`), so ``data.batch_size=0`` or ``eval.crops=2``
    fails before any data is read; ``check_hardware`` also refuses a ``trainer.accelerator`` this machine lacks
    (``deformer3d validate`` turns it off: scanning a GPU experiment's data needs no GPU).

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
    # YAML 1.1 reads a bare on / off (in a file or `data.person_crop=off`) as a boolean, which the str field got
    # as "True" / "False"
    cfg.data.person_crop = {"True": "on", "False": "off"}.get(cfg.data.person_crop, cfg.data.person_crop)
    check_values(cfg, str(path or "config"), overridden=_override_keys(overrides or []))
    apply_clip_geometry(cfg, str(path or "config"), overridden=_override_keys(overrides or []))
    if check_hardware:
        check_accelerator(cfg, str(path or "config"), overridden=_override_keys(overrides or []))
    return cfg


# --------------------------------------------------------------------------- value checks
# A value of the right type can still be meaningless (batch size 0, a negative learning rate, 2 test crops);
# each rule is (key, test, what the key needs). Choices that live with their code (formats, samplers, layouts)
# are read from there, so a new one needs no edit here.
_PRECISIONS = ("auto", "64-true", "64", "32-true", "32", "16-true", "bf16-true", "16-mixed", "bf16-mixed")
_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def _is_batch_limit(v: float) -> bool:
    """Lightning's limit_*_batches: a fraction in (0, 1] or a whole number of batches."""
    return 0 < v <= 1 or (v > 1 and float(v).is_integer())


def _is_devices(v: Any) -> bool:
    if isinstance(v, str):
        return v == "auto" or all(p.strip().lstrip("-").isdigit() for p in v.split(",") if p.strip())
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v >= 1 or v == -1
    if isinstance(v, (list, tuple)):
        return len(v) > 0 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
    return False


def _rules() -> list[tuple[str, Callable[[Any], bool], str]]:
    from deformer3d.data.formats import FORMATS
    from deformer3d.data.sampling import SAMPLERS
    from deformer3d.data.skeleton import LAYOUTS

    def one_of(*choices: Any) -> tuple[Callable[[Any], bool], str]:
        return (lambda v: v in choices), "one of " + " | ".join(map(str, choices))

    def at_least(lo: float) -> tuple[Callable[[Any], bool], str]:
        return (lambda v: v >= lo), f">= {lo}"

    return [
        ("name", lambda v: bool(str(v).strip()), "a non-empty name"),
        ("data.format", *one_of(*FORMATS)),
        ("data.layout", *one_of(*LAYOUTS)),
        ("data.sampler", *one_of(*SAMPLERS)),
        ("data.test_sampler", *one_of(*SAMPLERS)),
        ("data.num_classes", *at_least(0)),
        ("data.max_persons", *at_least(1)),
        ("data.num_frames", *at_least(1)),
        ("data.frame_interval", *at_least(1)),
        ("data.image_size", *at_least(1)),
        ("data.resize_short", *at_least(1)),
        (
            "data.random_crop_scale",
            lambda v: len(v) == 0 or (len(v) == 2 and 0 < v[0] <= v[1] <= 1),
            "[] or [min, max] with 0 < min <= max <= 1 (fractions of the frame area)",
        ),
        ("data.batch_size", *at_least(1)),
        ("data.num_workers", *at_least(0)),
        ("data.subset_classes", *at_least(0)),
        ("data.subset_per_class", *at_least(0)),
        ("data.fold", *at_least(1)),
        ("data.protocol", lambda v: v == "" or v in _ntu_protocols(), "'' or one of " + " | ".join(_ntu_protocols())),
        ("data.val_fraction", lambda v: 0 <= v < 1, "in [0, 1): the fraction of the training split held out"),
        ("data.pose_norm", *one_of("frame", "person")),
        ("data.joint_scores", *one_of("given", "present")),
        ("data.side_names", *one_of("given", "image")),
        ("data.person_crop", *one_of("auto", "on", "off")),
        ("data.person_crop_margin", lambda v: v >= 1, ">= 1 (the box holds the whole person)"),
        ("data.window_seconds", *at_least(0)),
        ("data.pose_augment.rotate", lambda v: 0 <= v <= 180, "in [0, 180] degrees"),
        ("data.pose_augment.scale", lambda v: len(v) == 2 and 0 < v[0] <= v[1], "[lo, hi] with 0 < lo <= hi"),
        ("data.pose_augment.shear", *at_least(0)),
        ("data.pose_augment.translate", *at_least(0)),
        ("data.pose_augment.jitter", *at_least(0)),
        ("data.pose_augment.drop_joints", lambda v: 0 <= v < 1, "in [0, 1)"),
        ("data.pose_augment.hip_width", lambda v: len(v) == 2 and 0 < v[0] <= v[1], "[lo, hi] with 0 < lo <= hi"),
        ("data.pose_augment.swap_sides", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
        ("data.pose_augment.incline", lambda v: all(0 <= d <= 180 for d in v.values()),
         "class name -> degrees in [0, 180]"),
        ("data.pose_augment.shoulder_width", lambda v: len(v) == 2 and 0 < v[0] <= v[1], "[lo, hi] with 0 < lo <= hi"),
        ("data.phase_shift", lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
        (
            "data.temporal_crop",
            lambda v: len(v) == 2 and 0 < v[0] <= v[1] <= 1,
            "[lo, hi] with 0 < lo <= hi <= 1 (fractions of the clip)",
        ),
        ("optim.name", *one_of("adamw", "sgd")),
        ("optim.lr", lambda v: v > 0, "> 0"),
        ("optim.weight_decay", *at_least(0)),
        ("optim.momentum", lambda v: 0 <= v <= 1, "in [0, 1]"),
        ("optim.scheduler", *one_of("cosine", "none")),
        ("optim.warmup_epochs", *at_least(0)),
        ("optim.min_lr_ratio", lambda v: 0 <= v <= 1, "in [0, 1]"),
        ("optim.label_smoothing", lambda v: 0 <= v < 1, "in [0, 1)"),
        ("optim.grad_clip", lambda v: v >= 0, ">= 0 (0 disables clipping)"),
        ("trainer.max_epochs", lambda v: v >= -1, ">= -1 (-1 = until stopped)"),
        ("trainer.accelerator", *one_of(*_ACCELERATORS)),
        ("trainer.devices", _is_devices, "'auto', a count >= 1, -1 (all) or a list of device indices"),
        ("trainer.num_nodes", *at_least(1)),
        ("trainer.precision", *one_of(*_PRECISIONS)),
        ("trainer.out_dir", lambda v: bool(str(v).strip()), "a folder path"),
        ("trainer.log_every_n_steps", *at_least(1)),
        ("trainer.check_val_every_n_epoch", *at_least(1)),
        ("trainer.limit_train_batches", _is_batch_limit, "a fraction in (0, 1] or a whole number of batches"),
        ("trainer.limit_val_batches", _is_batch_limit, "a fraction in (0, 1] or a whole number of batches"),
        ("trainer.accumulate_grad_batches", *at_least(1)),
        ("trainer.num_threads", lambda v: v >= 0, ">= 0 (0 = torch's default)"),
        ("trainer.average_from_epoch", lambda v: v >= -1, ">= -1 (-1 = the last weights, no averaging)"),
        ("eval.checkpoint", lambda v: bool(str(v).strip()), "best | last | a checkpoint path"),
        ("eval.clips", *at_least(1)),
        ("eval.crops", *one_of(1, 3)),
        ("eval.frame_sweep", lambda v: all(n >= 1 for n in v), "a list of frame counts, each >= 1"),
    ]


def _ntu_protocols() -> tuple[str, ...]:
    from deformer3d.data.formats.ntu import PROTOCOLS

    return PROTOCOLS


def _override_keys(overrides: list[str]) -> dict[str, str]:
    return {item.split("=", 1)[0].strip(): item for item in overrides if "=" in item}


def _where(key: str, source: str, overridden: dict[str, str]) -> str:
    return f"{source} (command-line override '{overridden[key]}')" if key in overridden else source


def _get(cfg: ExperimentConfig, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def check_values(cfg: ExperimentConfig, source: str, overridden: dict[str, str] | None = None) -> None:
    """Refuse values of the right type that cannot work, naming the file (or override) and the key."""
    overridden = overridden or {}
    for key, ok, need in _rules():
        value = _get(cfg, key)
        try:
            good = bool(ok(value))
        except (TypeError, ValueError, IndexError):
            good = False
        if not good:
            raise ConfigError(f"{_where(key, source, overridden)}: {key}={value!r} is invalid; it must be {need}")
    for stage in ("train", "val", "test"):
        if not str(cfg.data.splits.get(stage, stage)).strip():
            raise ConfigError(f"{source}: data.splits.{stage} is empty; name the annotation's split for {stage}")
    t = cfg.trainer
    if t.max_epochs != -1 and t.average_from_epoch >= t.max_epochs:
        raise ConfigError(
            f"{_where('trainer.average_from_epoch', source, overridden)}: trainer.average_from_epoch="
            f"{t.average_from_epoch} averages nothing: training ends after epoch {t.max_epochs - 1} "
            f"(trainer.max_epochs={t.max_epochs}); use a smaller epoch or -1 (off)"
        )


# --------------------------------------------------------------------------- clip geometry
# Frames, crop size, persons and joints are stated once, in ``data:``, and the model reads them from there. Each
# model key and the data key it comes from:
CLIP_GEOMETRY = {"num_frames": "data.num_frames", "image_size": "data.image_size",
                 "max_persons": "data.max_persons", "num_joints": "data.layout"}
# the geometry keys each built-in model takes (a model registered elsewhere gets none: it reads data: itself)
MODEL_GEOMETRY = {"deformer3d": ("num_frames", "image_size", "max_persons", "num_joints"),
                  "timesformer": ("num_frames", "image_size"), "vivit": ("num_frames", "image_size")}


def clip_geometry(data: DataConfig) -> dict[str, int]:
    """The clip geometry of a ``data:`` section, as model keys (``num_joints`` = the joints of ``data.layout``)."""
    from deformer3d.data.skeleton import get_layout

    return {"num_frames": data.num_frames, "image_size": data.image_size, "max_persons": data.max_persons,
            "num_joints": get_layout(data.layout).num_joints}


def apply_clip_geometry(cfg: ExperimentConfig, source: str, overridden: dict[str, str] | None = None) -> None:
    """Give ``cfg.model`` the clip geometry of ``cfg.data``. A geometry key the model section states itself must
    agree with its data key (else a :class:`ConfigError` naming both); a ``pretrained`` model keeps the geometry
    its saved config defines (its own input checks say when the data do not fit it)."""
    geometry = clip_geometry(cfg.data)
    overridden = overridden or {}
    for key, data_key in CLIP_GEOMETRY.items():
        if key in cfg.model and cfg.model[key] != geometry[key]:
            where = _where(f"model.{key}", source, overridden)
            if where == source:
                where = _where(data_key, source, overridden)
            data_value = getattr(cfg.data, data_key.split(".")[1])
            shown = f"{data_key}={data_value!r}" + (f" ({geometry[key]} joints)" if key == "num_joints" else "")
            raise ConfigError(
                f"{where}: model.{key}={cfg.model[key]!r} disagrees with {shown}; the clip geometry is stated "
                f"once, in data: (remove model.{key}, the model reads {data_key})"
            )
    if not cfg.model.get("pretrained"):
        for key in MODEL_GEOMETRY.get(cfg.model["name"], ()):
            cfg.model.setdefault(key, geometry[key])


def check_accelerator(cfg: ExperimentConfig, source: str, overridden: dict[str, str] | None = None) -> None:
    """Refuse a ``trainer.accelerator`` / ``trainer.devices`` this machine cannot provide (before any data is read)."""
    import torch

    t = cfg.trainer
    where = _where("trainer.accelerator", source, overridden or {})
    if t.accelerator in ("gpu", "cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"{where}: trainer.accelerator={t.accelerator!r} but no CUDA GPU is visible on this machine; "
                "use trainer.accelerator=cpu (or auto)"
            )
        count = torch.cuda.device_count()
        wanted = t.devices if isinstance(t.devices, int) and not isinstance(t.devices, bool) else None
        if wanted is not None and wanted > count:
            raise ConfigError(
                f"{_where('trainer.devices', source, overridden or {})}: trainer.devices={wanted} but this "
                f"machine has {count} GPU{'s' * (count != 1)}"
            )
    if t.accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{where}: trainer.accelerator='mps' but Apple's MPS is not available here; use cpu")


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
    "check_accelerator",
    "check_values",
    "load_config",
    "realdata_root",
    "save_config",
    "to_yaml",
]
