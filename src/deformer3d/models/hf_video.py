"""TimeSformer and ViViT as deformer3d models, over Hugging Face ``transformers``.

Both follow the model contract of ``docs/CONTRACTS.md``: ``forward(video (B, 3, T, H, W), pose=None,
return_explanations=False) -> ActionOutput``, ``uses_video=True``, ``uses_pose=False``, a dataclass ``config``
and ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` on the one model folder of :mod:`deformer3d.models.hub`.

Built either from a config (random init; presets ``tiny`` for CPU, ``base`` = the standard Hugging Face sizes:
TimeSformer-base 8 x 224, ViViT-B 32 x 224) or from ``pretrained`` (a local ``save_pretrained`` directory or a hub
id), with a new classification head for the dataset's classes. Preprocessing is ours (``deformer3d.data``), never
the transformers image processors, so training, ``predict`` and the web page feed identical tensors.

The full transformers config is stored in our ``config.json`` (``hf_config``), so an exported model rebuilds
without the hub.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from einops import rearrange, repeat
from torch import nn

from deformer3d.config import ConfigError
from deformer3d.errors import ModelInputError
from deformer3d.models.hub import CONFIG_NAME, ModelNotFoundError, PretrainedMixin, hub_offline, is_hub_id
from deformer3d.models.outputs import ActionOutput

# Sizes per preset. `base` = the transformers defaults (= the published base models).
_COMMON_TINY = dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=3, intermediate_size=192)
_COMMON_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "timesformer": {
        "tiny": dict(image_size=112, num_frames=8, patch_size=16, **_COMMON_TINY),
        "base": dict(image_size=224, num_frames=8, patch_size=16, **_COMMON_BASE),
    },
    "vivit": {
        "tiny": dict(image_size=112, num_frames=8, tubelet_size=[2, 16, 16], **_COMMON_TINY),
        "base": dict(image_size=224, num_frames=32, tubelet_size=[2, 16, 16], **_COMMON_BASE),
    },
}
# Fields that change the weights' shapes: they may not be overridden when loading a pretrained checkpoint.
_ARCH_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "patch_size",
    "tubelet_size",
)


@dataclass
class HFVideoConfig:
    """Config of a transformers video classifier. ``None`` = take the value from the preset (or the checkpoint)."""

    name: ClassVar[str] = ""
    preset: str = "tiny"  # tiny | base (ignored when `pretrained` is set)
    pretrained: str = ""  # local save_pretrained dir or hub id ("" = random init)
    num_classes: int = 0
    image_size: int | None = None
    num_frames: int | None = None
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    hidden_dropout_prob: float | None = None
    attention_probs_dropout_prob: float | None = None
    hf_config: dict[str, Any] | None = field(default=None, repr=False)  # filled when built; rebuilds offline

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], num_classes: int | None = None) -> HFVideoConfig:
        """Validate a YAML ``model:`` section (``name`` included or not); unknown keys name the valid ones."""
        cfg = {k: v for k, v in dict(cfg).items() if k != "name"}
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - valid)
        if unknown:
            raise ConfigError(
                f"model '{cls.name}': unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}"
            )
        if num_classes is not None:
            cfg["num_classes"] = int(num_classes)
        out = cls(**cfg)
        if not out.pretrained and not out.hf_config and out.preset not in PRESETS[cls.name]:
            raise ConfigError(
                f"model '{cls.name}': unknown preset '{out.preset}'; valid presets: {', '.join(PRESETS[cls.name])}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}

    def overrides(self) -> dict[str, Any]:
        """The transformers-config fields set explicitly in this config."""
        skip = {"preset", "pretrained", "num_classes", "hf_config"}
        return {k: v for k, v in asdict(self).items() if k not in skip and v is not None}


@dataclass
class TimesformerModelConfig(HFVideoConfig):
    name: ClassVar[str] = "timesformer"
    patch_size: int | None = None
    attention_type: str | None = None  # divided_space_time | space_only | joint_space_time
    drop_path_rate: float | None = None


@dataclass
class VivitModelConfig(HFVideoConfig):
    name: ClassVar[str] = "vivit"
    tubelet_size: list[int] | None = None  # (t, h, w) of a tubelet


def _hf_classes(name: str):
    """(ConfigClass, ModelClass) of transformers, imported lazily (the import takes seconds)."""
    if name == "timesformer":
        from transformers import TimesformerConfig, TimesformerForVideoClassification

        return TimesformerConfig, TimesformerForVideoClassification
    from transformers import VivitConfig, VivitForVideoClassification

    return VivitConfig, VivitForVideoClassification


def resolve_pretrained(source: str, model_name: str) -> str:
    """Check where ``pretrained`` points before anything slow happens; return the string to load from.

    A local directory must hold ``config.json``. Anything else is taken as a hub id; when the hub is offline
    (``HF_HUB_OFFLINE=1``, the default of the CLI) an id that is not in the local cache fails at once with the way
    to bring a local copy, instead of waiting on network retries.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    hf_cls = (
        "TimesformerForVideoClassification" if model_name == "timesformer" else "VivitForVideoClassification"
    )
    how = (
        f"On a machine with network run `{hf_cls}.from_pretrained('{source}').save_pretrained('DIR')` "
        f"(or `hf download {source} --local-dir DIR`), copy DIR here and set model.pretrained=DIR."
    )
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise ModelNotFoundError(
                f"model.pretrained={source}: the directory has no {CONFIG_NAME}; point it at a directory written by "
                f"save_pretrained()."
            )
        return str(path)
    if path.exists() or not is_hub_id(source):
        raise ModelNotFoundError(
            f"model.pretrained={source}: no such directory (expected a save_pretrained() directory)."
        )
    offline = constants.is_offline_mode() or hub_offline()
    if offline and not isinstance(try_to_load_from_cache(source, CONFIG_NAME), str):
        raise ModelNotFoundError(
            f"model.pretrained={source}: no local directory of that name, and as a Hugging Face hub id it is not in "
            f"the local cache while the hub is offline (HF_HUB_OFFLINE=1). {how}"
        )
    return source


class HFVideoClassifier(PretrainedMixin, nn.Module):
    """A transformers video classifier behind the deformer3d model contract.

    Input ``video (B, 3, T, H, W)`` (ImageNet-normalised, our preprocessing) is permuted to transformers'
    ``(B, T, 3, H, W)``. ``return_explanations=True`` adds ``explanations["attention"] (B, T, h, w)``: the attention
    of the CLS token to each frame's patches in the last layer, averaged over heads.
    """

    uses_video = True
    uses_pose = False
    config_class: ClassVar[type[HFVideoConfig]] = HFVideoConfig
    model_types = ("timesformer", "vivit")  # what HFVideoClassifier.from_pretrained accepts
    head_prefix = "hf.classifier."  # re-initialised when fine-tuning to another number of classes

    def __init__(self, config: HFVideoConfig, hf_model: nn.Module):
        super().__init__()
        self.config = config
        self.hf = hf_model
        self.config.hf_config = hf_model.config.to_dict()
        self._shape_lock = threading.Lock()

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: HFVideoConfig) -> HFVideoClassifier:
        """Random init from ``hf_config`` (exported models), the preset + overrides, or a pretrained checkpoint."""
        if config.num_classes < 1:
            raise ConfigError(f"model '{config.name}': num_classes must be >= 1 (got {config.num_classes})")
        if config.pretrained and not config.hf_config:
            return cls._from_checkpoint(config)
        hf_config_cls, hf_model_cls = _hf_classes(config.name)
        if config.hf_config:
            kwargs = {
                k: v for k, v in config.hf_config.items() if k not in {"model_type", "transformers_version"}
            }
        else:
            kwargs = {**PRESETS[config.name][config.preset], **config.overrides()}
        kwargs.update(_label_kwargs(config.num_classes))
        hf_config = hf_config_cls(**kwargs)
        _check_sizes(config.name, hf_config)
        return cls(config, hf_model_cls(hf_config))

    @classmethod
    def _from_checkpoint(cls, config: HFVideoConfig) -> HFVideoClassifier:
        source = resolve_pretrained(config.pretrained, config.name)
        if _is_ours(source):  # a directory written by our own save_pretrained: keep its body, new head
            return cls._from_ours(source, config)
        hf_config_cls, hf_model_cls = _hf_classes(config.name)
        try:
            hf_config = hf_config_cls.from_pretrained(source)
        except OSError as exc:  # online but unreachable, or a broken checkpoint
            raise ModelNotFoundError(
                f"model.pretrained={config.pretrained}: cannot load its config ({exc})."
            ) from exc
        for key, value in config.overrides().items():
            old = getattr(hf_config, key, None)
            if key in _ARCH_FIELDS and old is not None and list(_as_list(old)) != list(_as_list(value)):
                raise ConfigError(
                    f"model.{key}={value} differs from the checkpoint {config.pretrained} ({old}); "
                    f"drop model.{key} to fine-tune that checkpoint."
                )
            setattr(hf_config, key, value)
        for key, value in _label_kwargs(config.num_classes).items():
            setattr(hf_config, key, value)
        # a new head for our classes: the checkpoint's classifier has another number of outputs
        hf_model = hf_model_cls.from_pretrained(source, config=hf_config, ignore_mismatched_sizes=True)
        return cls(config, hf_model)

    @classmethod
    def _from_ours(cls, source: str, config: HFVideoConfig) -> HFVideoClassifier:
        body = HFVideoClassifier.from_pretrained(source)
        if body.config.name != config.name:
            raise ConfigError(
                f"model.pretrained={source} holds a '{body.config.name}' model, not '{config.name}'"
            )
        hf_config = body.hf.config
        if hf_config.num_labels != config.num_classes:
            for key, value in _label_kwargs(config.num_classes).items():
                setattr(hf_config, key, value)
            # the same fresh head transformers gives with ignore_mismatched_sizes
            old = body.hf.classifier
            body.hf.classifier = nn.Linear(old.in_features, config.num_classes)
        config.hf_config = hf_config.to_dict()
        return cls(config, body.hf)

    # ---- forward --------------------------------------------------------------------------------------------
    def forward(
        self,
        video: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        return_explanations: bool = False,
    ) -> ActionOutput:
        """``video (B, 3, T, H, W)`` -> ``ActionOutput(logits (B, K), explanations)``; ``pose`` is ignored."""
        if video is None or video.ndim != 5 or video.shape[1] != 3:
            got = None if video is None else tuple(video.shape)
            raise ModelInputError(f"{self.config.name}: video must be (B, 3, T, H, W) float, got {got}")
        pixel_values = rearrange(video, "b c t h w -> b t c h w")
        out = self._run(pixel_values, output_attentions=return_explanations)
        explanations = None
        if return_explanations:
            explanations = {"attention": self._cls_attention(out.attentions[-1], pixel_values.shape)}
        return ActionOutput(logits=out.logits, explanations=explanations)

    def _run(self, pixel_values: torch.Tensor, output_attentions: bool):
        raise NotImplementedError

    def _cls_attention(self, attn: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        raise NotImplementedError

    # ---- persistence: save_pretrained / from_pretrained / push_to_hub come from PretrainedMixin (models/hub.py):
    # config.json holds our config incl. the full transformers config (hf_config), so it rebuilds offline


class TimesformerClassifier(HFVideoClassifier):
    """TimeSformer (divided space-time attention by default)."""

    config_class = TimesformerModelConfig
    model_type = "timesformer"

    def _run(self, pixel_values: torch.Tensor, output_attentions: bool):
        # transformers' TimeSformer layers reshape with config.num_frames / config.image_size although its
        # embeddings interpolate to any clip size; set them to this clip's size (under a lock: the web page
        # shares one model between sessions) so fewer frames (frame sweep) and other sizes work.
        t, w = pixel_values.shape[1], pixel_values.shape[-1]
        cfg = self.hf.config
        if (t, w) == (cfg.num_frames, cfg.image_size):
            return self.hf(pixel_values=pixel_values, output_attentions=output_attentions)
        with self._shape_lock:
            saved = cfg.num_frames, cfg.image_size
            cfg.num_frames, cfg.image_size = t, w
            try:
                return self.hf(pixel_values=pixel_values, output_attentions=output_attentions)
            finally:
                cfg.num_frames, cfg.image_size = saved

    def _cls_attention(self, attn: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Last spatial attention ``(B*T, heads, 1+h*w, 1+h*w)`` -> CLS row to the patches ``(B, T, h, w)``."""
        b, t, _, height, width = shape
        p = self.hf.config.patch_size
        cls_to_patches = attn[:, :, 0, 1:].mean(dim=1)  # average over heads
        return rearrange(cls_to_patches, "(b t) (h w) -> b t h w", b=b, t=t, h=height // p, w=width // p)


class VivitClassifier(HFVideoClassifier):
    """ViViT (factorised-encoder-free 'model 1': joint space-time attention over tubelets)."""

    config_class = VivitModelConfig
    model_type = "vivit"

    def _run(self, pixel_values: torch.Tensor, output_attentions: bool):
        cfg = self.hf.config
        t, h, w = pixel_values.shape[1], pixel_values.shape[-2], pixel_values.shape[-1]
        if (t, h, w) != (cfg.num_frames, cfg.image_size, cfg.image_size):
            # its position embedding is one table over (time x space) tubelets: no clean way to resize it
            raise ModelInputError(
                f"vivit: built for clips of {cfg.num_frames} frames of {cfg.image_size}x{cfg.image_size} px, got "
                f"{t} frames of {h}x{w}; set data.num_frames={cfg.num_frames} and data.image_size={cfg.image_size}."
            )
        if output_attentions and self.hf.config._attn_implementation != "eager":
            # SDPA returns no attention weights; the explanation path uses the eager kernel
            with self._shape_lock:
                self.hf.set_attn_implementation("eager")
                try:
                    return self.hf(pixel_values=pixel_values, output_attentions=True)
                finally:
                    self.hf.set_attn_implementation("sdpa")
        return self.hf(pixel_values=pixel_values, output_attentions=output_attentions)

    def _cls_attention(self, attn: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Last attention ``(B, heads, 1+t'*h*w, ...)`` -> CLS row per tubelet, repeated over its frames ``(B, T, h, w)``."""
        _, t, _, height, width = shape
        tt, th, tw = self.hf.config.tubelet_size
        cls_to_tubelets = attn[:, :, 0, 1:].mean(dim=1)  # average over heads
        grid = rearrange(cls_to_tubelets, "b (t h w) -> b t h w", t=t // tt, h=height // th, w=width // tw)
        return repeat(grid, "b t h w -> b (t k) h w", k=tt)


MODEL_CLASSES: dict[str, type[HFVideoClassifier]] = {
    "timesformer": TimesformerClassifier,
    "vivit": VivitClassifier,
}


def build_hf_video(name: str, model_cfg: dict[str, Any], num_classes: int) -> HFVideoClassifier:
    """``build_model`` entry for ``timesformer`` / ``vivit``: validate the ``model:`` section and build."""
    model_cls = MODEL_CLASSES[name]
    return model_cls.from_config(model_cls.config_class.from_dict(model_cfg, num_classes=num_classes))


def build_timesformer(model_cfg: dict[str, Any], num_classes: int) -> HFVideoClassifier:
    return build_hf_video("timesformer", model_cfg, num_classes)


def build_vivit(model_cfg: dict[str, Any], num_classes: int) -> HFVideoClassifier:
    return build_hf_video("vivit", model_cfg, num_classes)


def _is_ours(source: str) -> bool:
    path = Path(source) / CONFIG_NAME
    return path.is_file() and "hf_config" in json.loads(path.read_text())


def _label_kwargs(num_classes: int) -> dict[str, Any]:
    ids = range(num_classes)
    return {"id2label": {i: f"class_{i}" for i in ids}, "label2id": {f"class_{i}": i for i in ids}}


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_sizes(name: str, hf_config: Any) -> None:
    """Fail at build time (not deep in a forward) on sizes transformers would accept but cannot run."""
    if hf_config.hidden_size % hf_config.num_attention_heads:
        raise ConfigError(
            f"model '{name}': hidden_size={hf_config.hidden_size} is not divisible by "
            f"num_attention_heads={hf_config.num_attention_heads}"
        )
    patch = hf_config.patch_size if name == "timesformer" else hf_config.tubelet_size[1]
    if hf_config.image_size % patch:
        raise ConfigError(
            f"model '{name}': image_size={hf_config.image_size} is not a multiple of the patch size {patch}"
        )
    if name == "vivit" and hf_config.num_frames % hf_config.tubelet_size[0]:
        raise ConfigError(
            f"model 'vivit': num_frames={hf_config.num_frames} is not a multiple of the tubelet length "
            f"{hf_config.tubelet_size[0]}"
        )
