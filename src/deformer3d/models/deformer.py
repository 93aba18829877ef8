"""The cross-modal 3D deformable transformer (Kim, Ahn & Ko, ICCV 2023): config, block and model.

video (B, 3, T, H, W) --MC3--> F_a (B, C, T, H/2, W/2), F_b (B, 4C, T, H/8, W/8)
Z = F_b + pos                    (B, T, h, w, d)    RGB tokens
P = pool(F_a, heatmaps(pose))    (B, T, R, d)       pose tokens (R = persons x joints)
M_CLS, M_RGB, M_pose             (B, T, d) each     cross-modal tokens
L x [ (a) 3D deformable attention on [Z || M_RGB || M_CLS]
      (b) joint stride attention on [P || M_pose || M'_CLS]
      (c) M_CLS = Linear([M'_CLS || M*_CLS])
      (d) temporal stride attention on N = [Z || P || M_RGB || M_pose || M_CLS] per frame ]
head: concat(M_CLS, M_RGB, M_pose) (B, T, 3d) -> mean over T -> LN -> Linear -> (B, K)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from deformer3d.config import ConfigError
from deformer3d.errors import ModelInputError
from deformer3d.models.attention import DeformableAttention3D, JointStrideAttention, TemporalStrideAttention
from deformer3d.models.backbone import MC3Backbone
from deformer3d.models.hub import PretrainedMixin
from deformer3d.models.outputs import ActionOutput
from deformer3d.models.tokens import (
    POSE_FEATURES,
    CoordinatePoseTokenizer,
    HeatmapPoseTokenizer,
    ModalTokens,
    RGBTokenizer,
)

_CHOICES = {
    "modality": ("rgb_pose", "rgb", "pose"),
    "deformable": ("deformable", "full", "none"),
    "joint_attention": ("stride", "full", "none"),
    "temporal_attention": ("stride", "full", "none"),
    "modal_tokens": ("cross", "single", "none"),
}

# Presets. The paper gives C=64, d=256, 12 frames, 224 px; heads, depth, windows, sigma, offset range and the
# deformable kernel's temporal size / strides are not given there: ours are choices.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},  # the dataclass defaults
    "tiny": {
        "width": 16,
        "dim": 64,
        "heads": 4,
        "depth": 2,
        "num_frames": 8,
        "image_size": 112,
        "deform_kernel": [3, 3, 3],  # F_b is only 8..14 tokens wide at 64..112 px
        "deform_stride": [1, 2, 2],
        "drop_path": 0.0,
    },
}


@dataclass
class Deformer3DConfig:
    """Everything that defines a Deformer3D. Defaults = the ``paper`` preset.

    Architecture ([P] from the paper, [C] our choice):
        width: C, channels of F_a [P 64]; F_b has 4C.  dim: token width d [P 256 = 4C]; a Linear maps F_b to d
        when d != 4C.  heads [C 8], depth L [C 4], mlp_ratio [C 4].  num_frames / image_size: the clip the
        position embeddings are learned for [P 12, 224]; other T and sizes (multiples of 8) run by interpolation.
        num_joints: V, joints per person [C COCO-17]; pose may hold any number of persons x joints (token r is
        joint r % V of person r // V).  max_persons: rows of the learned person embedding [C 2]; more persons reuse
        rows cyclically.  heatmap_sigma: Gaussian std of the joint heatmaps as a fraction of the frame side [C].
        pose_features [C ["joint"]]: the per-joint inputs of the coordinate embedding, any of ``joint`` (x, y),
        ``bone`` (vector from the parent joint, ``joint_parents`` gives each joint's parent) and ``motion``
        (displacement to the next frame); the score is always appended.  pose_coordinates: with RGB, also add that
        embedding to each joint's pooled pose token [C False = the paper's appearance-only pose tokens; pose-only
        models always embed coordinates].
        deform_kernel / deform_stride: (t, y, x) of the offset net's depthwise conv [P spatial 7; C (3,7,7),
        (1,3,3)]; clamped to the token grid when the clip is shorter / smaller.  offset_range: (t, y, x) maximum
        offset in units of the offset grid's cell size (dp = tanh * range / grid size) [C 2].
        joint_window [C 8] and temporal_window [C 4]: window lengths; stride = window // 2, except
        temporal_stride [C 0 = temporal_window // 2] (1..temporal_window; the window x stride study, Fig. 7a).
        dropout, attn_dropout, drop_path (max, linear over depth), head_dropout: regularisation [C].

    Switches (the paper's ablations, Tables 4 and 5):
        modality: ``rgb_pose`` both streams (the paper's model); ``rgb`` frames only (no pose tokens, no joint
            attention, no CLS fusion); ``pose`` coordinates only, no frames: no backbone, pose tokens from an MLP on
            (x, y, score).
        deformable: ``deformable`` step (a) attends to sampled tokens Z~; ``full`` step (a) is full attention over
            all T*h*w RGB tokens; ``none`` step (a) is removed (RGB tokens only mix in step d).
        joint_attention: ``stride`` windows of joint_window joints over R; ``full`` one window of all R joints;
            ``none`` step (b) is removed.
        temporal_attention: ``stride`` windows of temporal_window frames over T; ``full`` one window of all T
            frames; ``none`` step (d) is removed (frames only mix through steps a and b).
        modal_tokens: ``cross`` M_CLS, M_RGB and M_pose per frame, head on their concatenation; ``single`` one
            shared token per frame plays all three roles; ``none`` no modal tokens, no CLS fusion: the head averages
            the last RGB tokens (over space) and pose tokens (over joints) per frame.
    """

    num_classes: int = 60
    modality: str = "rgb_pose"
    width: int = 64
    dim: int = 256
    heads: int = 8
    depth: int = 4
    mlp_ratio: float = 4.0
    num_frames: int = 12
    image_size: int = 224
    in_channels: int = 3
    num_joints: int = 17
    max_persons: int = 2
    heatmap_sigma: float = 0.03
    pose_coordinates: bool = False
    pose_features: list[str] = field(default_factory=lambda: ["joint"])
    joint_parents: list[int] = field(default_factory=list)
    deformable: str = "deformable"
    deform_kernel: list[int] = field(default_factory=lambda: [3, 7, 7])
    deform_stride: list[int] = field(default_factory=lambda: [1, 3, 3])
    offset_range: list[float] = field(default_factory=lambda: [2.0, 2.0, 2.0])
    joint_attention: str = "stride"
    joint_window: int = 8
    temporal_attention: str = "stride"
    temporal_window: int = 4
    temporal_stride: int = 0
    modal_tokens: str = "cross"
    dropout: float = 0.0
    attn_dropout: float = 0.0
    drop_path: float = 0.1
    head_dropout: float = 0.0

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(f"model.{name}={getattr(self, name)!r} is not one of {', '.join(choices)}")
        for name in (
            "num_classes",
            "width",
            "dim",
            "heads",
            "depth",
            "num_frames",
            "image_size",
            "in_channels",
            "num_joints",
            "max_persons",
            "joint_window",
            "temporal_window",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"model.{name}={value!r} must be a positive integer")
        if not isinstance(self.temporal_stride, int) or not 0 <= self.temporal_stride <= self.temporal_window:
            raise ConfigError(
                f"model.temporal_stride={self.temporal_stride!r} must be 0 (= temporal_window // 2) or "
                f"1..temporal_window ({self.temporal_window}) so that every frame is in a window"
            )
        if self.dim % self.heads:
            raise ConfigError(f"model.dim={self.dim} must be divisible by model.heads={self.heads}")
        if self.image_size % 8:
            raise ConfigError(
                f"model.image_size={self.image_size} must be a multiple of 8 (the backbone strides by 8)"
            )
        for name in ("deform_kernel", "deform_stride", "offset_range"):
            value = list(getattr(self, name))
            if len(value) != 3 or any(v <= 0 for v in value):
                raise ConfigError(f"model.{name}={value!r} must be 3 positive numbers (t, y, x)")
            setattr(self, name, value)
        self.pose_features = list(self.pose_features)
        bad = [f for f in self.pose_features if f not in POSE_FEATURES]
        if bad or not self.pose_features or len(set(self.pose_features)) != len(self.pose_features):
            raise ConfigError(
                f"model.pose_features={self.pose_features!r}: give distinct names from {', '.join(POSE_FEATURES)}"
            )
        if self.uses_video and self.uses_pose and not self.pose_coordinates and self.pose_features != ["joint"]:
            raise ConfigError(
                f"model.pose_features={self.pose_features!r} is read only by the coordinate embedding, which an "
                f"RGB + pose model has only with model.pose_coordinates: true (it is false)"
            )
        self.joint_parents = [int(v) for v in self.joint_parents]
        if "bone" in self.pose_features and (
            len(self.joint_parents) != self.num_joints or not all(0 <= v < self.num_joints for v in self.joint_parents)
        ):
            raise ConfigError(
                f"model.pose_features has 'bone', so model.joint_parents must give each of the model.num_joints="
                f"{self.num_joints} joints its parent index (got {self.joint_parents!r})"
            )
        if not self.heatmap_sigma > 0:
            raise ConfigError(f"model.heatmap_sigma={self.heatmap_sigma!r} must be > 0")

    @property
    def uses_video(self) -> bool:
        return self.modality in ("rgb_pose", "rgb")

    @property
    def uses_pose(self) -> bool:
        return self.modality in ("rgb_pose", "pose")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def valid_keys(cls) -> list[str]:
        return sorted(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Deformer3DConfig:
        """Build from a dict (e.g. ``config.json`` or a YAML ``model:`` section), rejecting unknown keys."""
        unknown = sorted(set(values) - set(cls.valid_keys()))
        if unknown:
            raise ConfigError(
                f"unknown deformer3d model key(s) {', '.join(unknown)}; valid keys: {', '.join(cls.valid_keys())}"
            )
        return cls(**dict(values))

    @classmethod
    def preset(cls, name: str | None = None, **overrides: Any) -> Deformer3DConfig:
        """A named preset (``paper`` | ``tiny``; ``None`` = ``paper``) with ``overrides`` applied."""
        name = name or "paper"
        if name not in PRESETS:
            raise ConfigError(f"unknown deformer3d preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})


def _exporting() -> bool:
    """True while torch.export / the ONNX exporters trace the model: no data-dependent Python branches then."""
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def modal_slots(config: Deformer3DConfig) -> tuple[list[str], list[str], list[str]]:
    """(all modal token names, the ones step (a) updates, the ones step (b) updates) for a config."""
    if config.modal_tokens == "none":
        return [], [], []
    if config.modal_tokens == "single":
        return ["cls"], ["cls"], ["cls"]
    names = ["cls"] + (["rgb"] if config.uses_video else []) + (["pose"] if config.uses_pose else [])
    return names, ["rgb", "cls"], ["pose", "cls"]


def _stack(m: dict[str, Tensor], keys: list[str]) -> Tensor | None:
    return torch.stack([m[k] for k in keys], dim=2) if keys else None  # (B, T, S, d)


def _unstack(m: dict[str, Tensor], keys: list[str], side: Tensor | None) -> None:
    for i, k in enumerate(keys):
        m[k] = side[:, :, i]  # type: ignore[index]


class DeformerBlock(nn.Module):
    """One block: (a) deformable attention, (b) joint stride attention, (c) CLS fusion, (d) temporal stride
    attention -- each present only when the config's modality and switches call for it."""

    def __init__(self, config: Deformer3DConfig, drop_path: float = 0.0):
        super().__init__()
        c = config
        kw = {
            "mlp_ratio": c.mlp_ratio,
            "dropout": c.dropout,
            "attn_dropout": c.attn_dropout,
            "drop_path": drop_path,
        }
        _, self.rgb_keys, self.pose_keys = modal_slots(c)
        self.rgb = None
        if c.uses_video and c.deformable != "none":
            self.rgb = DeformableAttention3D(
                c.dim,
                c.heads,
                c.deformable,
                tuple(c.deform_kernel),
                tuple(c.deform_stride),
                tuple(c.offset_range),
                **kw,
            )
        self.joint = None
        if c.uses_pose and c.joint_attention != "none":
            window = c.joint_window if c.joint_attention == "stride" else None
            self.joint = JointStrideAttention(c.dim, c.heads, window, **kw)
        # (c) fuses the CLS token as updated by the RGB path (M'_CLS) and by the pose path (M*_CLS)
        self.fuse = (
            nn.Linear(2 * c.dim, c.dim) if c.modality == "rgb_pose" and c.modal_tokens != "none" else None
        )
        self.temporal = None
        if c.temporal_attention != "none":
            window = c.temporal_window if c.temporal_attention == "stride" else None
            stride = c.temporal_stride or None if window else None
            self.temporal = TemporalStrideAttention(c.dim, c.heads, window, stride=stride, **kw)

    def forward(
        self, z: Tensor | None, p: Tensor | None, m: dict[str, Tensor], need_weights: bool = False
    ) -> tuple[Tensor | None, Tensor | None, dict[str, Tensor], dict[str, Any]]:
        """``z (B, T, h, w, d)`` or None, ``p (B, T, R, d)`` or None, ``m`` name -> ``(B, T, d)``."""
        m = dict(m)
        explain: dict[str, Any] = {}
        # (a) 3D deformable attention: [Z || M_RGB || M_CLS] -> Z, M_RGB, M'_CLS
        if self.rgb is not None and z is not None:
            z, side, explain["deformable"] = self.rgb(z, _stack(m, self.rgb_keys), need_weights)
            _unstack(m, self.rgb_keys, side)
        cls_rgb = m.get("cls")
        # (b) joint stride attention: [P || M_pose || M'_CLS] -> P, M_pose, M*_CLS
        if self.joint is not None and p is not None:
            p, side, explain["joint_attention"] = self.joint(p, _stack(m, self.pose_keys), need_weights)
            _unstack(m, self.pose_keys, side)
        # (c) CLS fusion: M_CLS = Linear([M'_CLS || M*_CLS])
        if self.fuse is not None:
            m["cls"] = self.fuse(torch.cat([cls_rgb, m["cls"]], dim=-1))
        # (d) temporal stride attention over N = [Z || P || M_RGB || M_pose || M_CLS] per frame
        if self.temporal is not None:
            names = list(m)
            parts = []
            if z is not None:
                parts.append(rearrange(z, "b t h w d -> b t (h w) d"))
            if p is not None:
                parts.append(p)
            if names:
                parts.append(_stack(m, names))
            sizes = [x.shape[2] for x in parts]
            out = self.temporal(torch.cat(parts, dim=2)).split(sizes, dim=2)
            i = 0
            if z is not None:
                z = rearrange(out[i], "b t (h w) d -> b t h w d", h=z.shape[2])
                i += 1
            if p is not None:
                p = out[i]
                i += 1
            if names:
                _unstack(m, names, out[i])
        return z, p, m, explain


class Deformer3D(PretrainedMixin, nn.Module):
    """The cross-modal 3D deformable transformer.

    ``forward(video=None, pose=None, return_explanations=False) -> ActionOutput`` with ``video (B, 3, T, H, W)``
    ImageNet-normalised (H, W multiples of 8) and ``pose (B, T, R, 3)`` = (x, y, score), x, y in [0, 1], score 0
    = missing joint. Which inputs are needed: ``uses_video`` / ``uses_pose`` (from ``config.modality``); an input
    the modality does not use is ignored.
    """

    config_class = Deformer3DConfig
    model_type = "deformer3d"

    def __init__(self, config: Deformer3DConfig):
        super().__init__()
        self.config = config
        self.uses_video = config.uses_video
        self.uses_pose = config.uses_pose
        c = config
        if self.uses_video:
            self.backbone = MC3Backbone(c.width, c.in_channels)
            self.rgb_tokens = RGBTokenizer(4 * c.width, c.dim, c.image_size // 8, c.num_frames)
        if self.uses_pose:
            if self.uses_video:
                self.pose_tokens: nn.Module = HeatmapPoseTokenizer(
                    c.width, c.dim, c.num_joints, c.max_persons, c.num_frames, c.heatmap_sigma, c.pose_coordinates,
                    tuple(c.pose_features), tuple(c.joint_parents),
                )
            else:
                self.pose_tokens = CoordinatePoseTokenizer(
                    c.dim, c.num_joints, c.max_persons, c.num_frames, tuple(c.pose_features), tuple(c.joint_parents)
                )
        self.slot_names, _, _ = modal_slots(c)
        self.modal_tokens = ModalTokens(self.slot_names, c.dim, c.num_frames) if self.slot_names else None
        rates = [c.drop_path * i / max(c.depth - 1, 1) for i in range(c.depth)]
        self.blocks = nn.ModuleList([DeformerBlock(c, rate) for rate in rates])
        head_width = c.dim * (len(self.slot_names) or (int(self.uses_video) + int(self.uses_pose)))
        self.head_norm = nn.LayerNorm(head_width)
        self.head_dropout = nn.Dropout(c.head_dropout)
        self.head = nn.Linear(head_width, c.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # Xavier-uniform (as ViT's reference / DAT) rather than N(0, 0.02): at tiny widths (d = 64) a 0.02 std
        # shrinks every projection ~6x, so the coordinate MLP and attention outputs start ~1e-3 of the learned
        # embeddings and the logits barely depend on the input (measured: std 1e-3 across samples, pose-only
        # SynthActions stuck at chance for 7 epochs; with Xavier 0.16 and 58% after 7 epochs).
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and not name.startswith("backbone"):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------------------------------ inputs

    def example_inputs(
        self,
        batch_size: int = 1,
        num_frames: int | None = None,
        image_size: int | None = None,
        persons: int = 1,
    ) -> dict[str, Tensor]:
        """Random inputs of the configured clip shape (for FLOP counting, export and smoke tests)."""
        t = num_frames or self.config.num_frames
        s = image_size or self.config.image_size
        gen = torch.Generator().manual_seed(0)
        inputs: dict[str, Tensor] = {}
        if self.uses_video:
            inputs["video"] = torch.randn(batch_size, self.config.in_channels, t, s, s, generator=gen)
        if self.uses_pose:
            pose = torch.rand(batch_size, t, persons * self.config.num_joints, 3, generator=gen)
            inputs["pose"] = pose
        return inputs

    def _check_inputs(self, video: Tensor | None, pose: Tensor | None) -> tuple[int, int]:
        """Validate ``video`` / ``pose``; returns ``(B, T)``. Raises :class:`ModelInputError` naming the tensor."""
        c = self.config
        batch = frames = None
        if self.uses_video:
            if video is None:
                raise ModelInputError(
                    f"video is required for modality '{c.modality}': pass video (B, {c.in_channels}, T, H, W)"
                )
            if not isinstance(video, Tensor) or video.ndim != 5 or video.shape[1] != c.in_channels:
                shape = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
                raise ModelInputError(
                    f"video must have shape (B, {c.in_channels}, T, H, W) (channels second), got {shape}"
                )
            if not video.is_floating_point():
                raise ModelInputError(
                    f"video must be a float tensor (ImageNet-normalised), got dtype {video.dtype}"
                )
            h, w = video.shape[-2:]
            if h % 8 or w % 8 or h == 0 or w == 0:
                raise ModelInputError(
                    f"video height and width must be positive multiples of 8 (the backbone strides by 8), got {h}x{w}"
                )
            batch, frames = video.shape[0], video.shape[2]
        if self.uses_pose:
            if pose is None:
                raise ModelInputError(
                    f"pose is required for modality '{c.modality}': pass pose (B, T, R, 3) = (x, y, score)"
                )
            if not isinstance(pose, Tensor) or pose.ndim != 4 or pose.shape[-1] != 3:
                shape = tuple(pose.shape) if isinstance(pose, Tensor) else type(pose).__name__
                raise ModelInputError(f"pose must have shape (B, T, R, 3) = (x, y, score), got {shape}")
            if pose.shape[2] == 0:
                raise ModelInputError("pose has R = 0 joints; need at least one (B, T, R, 3)")
            if pose.shape[2] % c.num_joints:
                # token r is joint r % V of person r // V: another layout's joints would be silently misread
                raise ModelInputError(
                    f"pose has R={pose.shape[2]} joints, not persons x model.num_joints={c.num_joints}; the skeleton "
                    "is in another joint layout than the model's (convert it, or train with data.layout of "
                    f"{c.num_joints} joints)"
                )
            # data-dependent: skipped while exporting (torch.export / ONNX), where the runner checks it instead
            if not _exporting() and not torch.isfinite(pose).all():
                raise ModelInputError(
                    "pose contains NaN or infinite coordinates/scores; mark missing joints with score 0 and finite x, y"
                )
            if batch is not None and pose.shape[0] != batch:
                raise ModelInputError(
                    f"pose batch {pose.shape[0]} != video batch {batch} (pose (B, T, R, 3))"
                )
            if frames is not None and pose.shape[1] != frames:
                raise ModelInputError(
                    f"pose has T={pose.shape[1]} frames but video has T={frames}; pose (B, T, R, 3) must match "
                    f"video (B, 3, T, H, W)"
                )
            batch, frames = pose.shape[0], pose.shape[1]
        if not frames:
            raise ModelInputError(f"the clip has T={frames} frames; need at least one")
        return batch, frames  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------ forward

    def forward(
        self, video: Tensor | None = None, pose: Tensor | None = None, return_explanations: bool = False
    ) -> ActionOutput:
        batch, frames = self._check_inputs(video, pose)
        z = p = None
        f_a = None
        if self.uses_video:
            f_a, f_b = self.backbone(video)
            z = self.rgb_tokens(f_b)  # (B, T, h, w, d)
        if self.uses_pose:
            pose = pose.to(self.head.weight.dtype)  # type: ignore[union-attr]
            p = self.pose_tokens(f_a, pose) if self.uses_video else self.pose_tokens(pose)  # (B, T, R, d)
        m = self.modal_tokens(batch, frames) if self.modal_tokens is not None else {}
        deformable: list[dict[str, Tensor]] = []
        joint_attention = None
        for block in self.blocks:
            z, p, m, explain = block(z, p, m, need_weights=return_explanations)
            if explain.get("deformable") is not None:
                deformable.append(explain["deformable"])
            if explain.get("joint_attention") is not None:
                joint_attention = explain["joint_attention"].detach()
        # head: concat the last modal tokens (or the mean RGB / pose tokens when there are none), mean over T
        if self.slot_names:
            feats = torch.cat([m[k] for k in self.slot_names], dim=-1)  # (B, T, S d)
        else:
            parts = []
            if z is not None:
                parts.append(z.mean(dim=(2, 3)))
            if p is not None:
                parts.append(p.mean(dim=2))
            feats = torch.cat(parts, dim=-1)
        logits = self.head(self.head_dropout(self.head_norm(feats.mean(dim=1))))
        explanations = None
        if return_explanations:
            explanations = {"deformable": deformable, "joint_attention": joint_attention}
        return ActionOutput(logits=logits, explanations=explanations)

    def reset_head(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` (fine-tuning); the config follows."""
        self.config.num_classes = num_classes
        self.head = nn.Linear(self.head.in_features, num_classes)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


__all__ = ["PRESETS", "Deformer3D", "Deformer3DConfig", "DeformerBlock", "modal_slots"]
