"""Tokenizers: pose tokens (heatmap pooling of F_a, or a coordinate embedding), RGB tokens, cross-modal tokens.

Shapes: ``B`` batch, ``T`` frames, ``R`` pose tokens per frame (persons x joints), ``d`` model width,
``h x w`` the F_b grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def interpolate_temporal(embedding: Tensor, num_frames: int) -> Tensor:
    """Resample a learned ``(T0, d)`` temporal embedding to ``(T, d)`` (linear), so a model trained with T0 frames
    runs on clips of any length."""
    if embedding.shape[0] == num_frames:
        return embedding
    x = rearrange(embedding, "t d -> 1 d t")
    x = F.interpolate(x, size=num_frames, mode="linear", align_corners=False)
    return rearrange(x, "1 d t -> t d")


def gaussian_heatmaps(coords: Tensor, height: int, width: int, sigma: float) -> Tensor:
    """Gaussian joint heatmaps on an ``height x width`` grid.

    Args:
        coords: ``(B, T, R, 2)`` joint (x, y) in [0, 1] of the frame.
        sigma: standard deviation as a fraction of the frame side (same for x and y).

    Returns:
        ``(B, T, R, height, width)``; ``H(i, j) = exp(-((j - x)^2 + (i - y)^2) / (2 sigma^2))`` with pixel centres
        at ``(index + 0.5) / size``.
    """
    ys = (torch.arange(height, device=coords.device, dtype=coords.dtype) + 0.5) / height
    xs = (torch.arange(width, device=coords.device, dtype=coords.dtype) + 0.5) / width
    # separable: exp(-(dx^2 + dy^2)/2s^2) = exp(-dx^2/2s^2) * exp(-dy^2/2s^2)
    gx = torch.exp(-((xs - coords[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, T, R, W)
    gy = torch.exp(-((ys - coords[..., 1:2]) ** 2) / (2 * sigma**2))  # (B, T, R, H)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def coordinate_mlp(dim: int, width: int = 3) -> nn.Module:
    """Per-joint features (default (x, y, score)) -> d: the coordinate embedding of pose tokens."""
    return nn.Sequential(nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, dim))


class JointEmbedding(nn.Module):
    """Learned joint-identity + person + temporal embeddings added to pose tokens ``(B, T, R, d)``.

    Token ``r`` is joint ``r % V`` of person ``r // V`` (multi-person poses are persons x joints concatenated), so
    any number of persons works; the person table has ``max_persons`` rows and persons beyond it reuse rows
    cyclically (they are still told apart by their positions and features).
    """

    def __init__(self, dim: int, num_joints: int, max_persons: int, num_frames: int):
        super().__init__()
        self.num_joints = num_joints
        self.joint = nn.Parameter(torch.randn(num_joints, dim) * 0.02)
        self.person = nn.Parameter(torch.randn(max_persons, dim) * 0.02)
        self.temporal = nn.Parameter(torch.randn(num_frames, dim) * 0.02)

    def forward(self, tokens: Tensor) -> Tensor:
        _, t, r, _ = tokens.shape
        idx = torch.arange(r, device=tokens.device)
        identity = (
            self.joint[idx % self.num_joints] + self.person[(idx // self.num_joints) % self.person.shape[0]]
        )
        temporal = interpolate_temporal(self.temporal, t)
        return tokens + rearrange(identity, "r d -> 1 1 r d") + rearrange(temporal, "t d -> 1 t 1 d")


class HeatmapPoseTokenizer(nn.Module):
    """Pose tokens from the backbone: ``P_{t,r} = sum_ij F_a,t(i, j) H_{t,r}(i, j) / sum_ij H_{t,r}(i, j)``,
    then ``Linear(C -> d)`` and the joint/person/temporal embeddings.

    The heatmap is weighted by the joint score, so a missing joint (score 0) pools nothing and its token is the
    projection's bias plus its embeddings. ``coordinates``: also add an MLP of the joint's ``features`` (see
    :func:`skeleton_features`; ``parents`` for ``bone``).
    """

    def __init__(
        self, feat_dim: int, dim: int, num_joints: int, max_persons: int, num_frames: int, sigma: float,
        coordinates: bool = False, features: tuple[str, ...] = ("joint",), parents: tuple[int, ...] = (),
    ):
        super().__init__()
        self.sigma = sigma
        self.proj = nn.Linear(feat_dim, dim)
        # optional: also embed the joint's skeleton features (as the pose-only tokenizer does); pooled appearance
        # alone leaves the motion to be read from position-dependent features, which small models learn slowly
        self.features, self.parents = tuple(features), tuple(parents)
        self.coords = coordinate_mlp(dim, skeleton_feature_width(self.features)) if coordinates else None
        self.embed = JointEmbedding(dim, num_joints, max_persons, num_frames)

    def forward(self, f_a: Tensor, pose: Tensor) -> Tensor:
        """``f_a (B, C, T, h, w)``, ``pose (B, T, R, 3)`` -> ``(B, T, R, d)``."""
        b, _, t, h, w = f_a.shape
        heat = gaussian_heatmaps(pose[..., :2], h, w, self.sigma)
        heat = heat * pose[..., 2, None, None]  # score-weighted: missing joints contribute nothing
        heat = rearrange(heat, "b t r h w -> (b t) r (h w)")
        # one batched matmul per frame: (B T, R, h w) x (B T, h w, C); free view when F_a is channels-last
        feats = rearrange(f_a, "b c t h w -> (b t) (h w) c")
        pooled = torch.bmm(heat, feats)
        # normalising by the heatmap mass makes the token a weighted mean of features, whatever sigma / grid size
        mass = heat.sum(dim=-1, keepdim=True)
        pooled = rearrange(pooled / mass.clamp_min(1e-6), "(b t) r c -> b t r c", b=b)
        tokens = self.proj(pooled)
        if self.coords is not None:
            tokens = tokens + self.coords(skeleton_features(pose, self.features, self.parents))
        return self.embed(tokens)


POSE_FEATURES = ("joint", "bone", "motion")


def skeleton_feature_width(features: tuple[str, ...]) -> int:
    """Channels of :func:`skeleton_features`: 2 per feature, then the score."""
    return 2 * len(features) + 1


def skeleton_features(pose: Tensor, features: tuple[str, ...], parents: tuple[int, ...] = ()) -> Tensor:
    """Per-joint input features of the pose-only tokenizer, concatenated in ``features`` order.

    ``pose (B, T, R, 3)`` -> ``(B, T, R, 2 n + 1)``: ``joint`` (x - 0.5, y - 0.5), ``bone`` the vector from the
    joint's parent (``parents[v]`` for joint v of every person; the root's parent is itself, so its bone is 0) and
    ``motion`` the displacement to the next sampled frame (0 on the last frame), then the score. A coordinate or
    difference that involves a missing joint (score 0) is 0, so arbitrary fill values never leak in. Bones and
    motion are the streams skeleton recognisers (2s-AGCN, MS-G3D, PoseC3D's limb heatmaps) add to joints: they do
    not depend on where the body is, only on its shape and its movement.
    """
    xy, score = pose[..., :2] - 0.5, pose[..., 2:3]
    present = (score > 0).to(pose.dtype)
    parts = []
    for name in features:
        if name == "joint":
            parts.append(xy * present)
        elif name == "bone":
            r = pose.shape[2]
            v = len(parents)
            idx = torch.arange(r, device=pose.device)
            parent = (idx // v) * v + torch.as_tensor(parents, device=pose.device)[idx % v]
            both = present * present[:, :, parent]
            parts.append((xy - xy[:, :, parent]) * both)
        elif name == "motion":
            step = (xy[:, 1:] - xy[:, :-1]) * (present[:, 1:] * present[:, :-1])
            parts.append(torch.cat([step, torch.zeros_like(step[:, :1])], dim=1))
        else:
            raise ValueError(f"unknown pose feature {name!r}; choose from {', '.join(POSE_FEATURES)}")
    return torch.cat(parts + [score], dim=-1)


class CoordinatePoseTokenizer(nn.Module):
    """Pose tokens from coordinates alone (``modality="pose"``): an MLP on the joint's features -> d, then the
    joint/person/temporal embeddings. No frames needed.

    ``features`` picks the inputs (see :func:`skeleton_features`): ``("joint",)`` = (x - 0.5, y - 0.5, score), the
    default; ``bone`` needs ``parents`` (the parent of each of the V joints of one person).
    """

    def __init__(
        self, dim: int, num_joints: int, max_persons: int, num_frames: int,
        features: tuple[str, ...] = ("joint",), parents: tuple[int, ...] = (),
    ):  # fmt: skip
        super().__init__()
        self.features = tuple(features)
        self.parents = tuple(parents)
        self.mlp = coordinate_mlp(dim, skeleton_feature_width(self.features))
        self.embed = JointEmbedding(dim, num_joints, max_persons, num_frames)

    def forward(self, pose: Tensor) -> Tensor:
        """``pose (B, T, R, 3)`` -> ``(B, T, R, d)``."""
        return self.embed(self.mlp(skeleton_features(pose, self.features, self.parents)))


class RGBTokenizer(nn.Module):
    """RGB tokens ``Z = F_b + spatial + temporal position embedding`` as ``(B, T, h, w, d)``.

    ``F_b`` has ``4C`` channels; a Linear maps it to ``d`` only when ``d != 4C`` (the paper uses d = 4C). The
    spatial embedding is learned for the configured image size and resampled bilinearly for other sizes; the
    temporal one is resampled linearly for other clip lengths.
    """

    def __init__(self, feat_dim: int, dim: int, grid: int, num_frames: int):
        super().__init__()
        self.proj: nn.Module = nn.Linear(feat_dim, dim) if feat_dim != dim else nn.Identity()
        self.spatial = nn.Parameter(torch.randn(grid, grid, dim) * 0.02)
        self.temporal = nn.Parameter(torch.randn(num_frames, dim) * 0.02)

    def spatial_embedding(self, h: int, w: int) -> Tensor:
        if self.spatial.shape[:2] == (h, w):
            return self.spatial
        x = rearrange(self.spatial, "h w d -> 1 d h w")
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return rearrange(x, "1 d h w -> h w d")

    def forward(self, f_b: Tensor) -> Tensor:
        """``f_b (B, 4C, T, h, w)`` -> ``Z (B, T, h, w, d)``."""
        z = self.proj(rearrange(f_b, "b c t h w -> b t h w c"))
        t, h, w = z.shape[1:4]
        spatial = rearrange(self.spatial_embedding(h, w), "h w d -> 1 1 h w d")
        temporal = rearrange(interpolate_temporal(self.temporal, t), "t d -> 1 t 1 1 d")
        return z + spatial + temporal


class ModalTokens(nn.Module):
    """Learned per-frame cross-modal tokens (e.g. M_CLS, M_RGB, M_pose), each ``(B, T, d)``.

    Each token = its learned vector + a shared learned temporal embedding, so the tokens of different frames
    differ from the start.
    """

    def __init__(self, names: list[str], dim: int, num_frames: int):
        super().__init__()
        self.names = list(names)
        self.tokens = nn.Parameter(torch.randn(len(self.names), dim) * 0.02)
        self.temporal = nn.Parameter(torch.randn(num_frames, dim) * 0.02)

    def forward(self, batch: int, num_frames: int) -> dict[str, Tensor]:
        temporal = interpolate_temporal(self.temporal, num_frames)  # (T, d)
        out = {}
        for i, name in enumerate(self.names):
            out[name] = (self.tokens[i] + temporal).unsqueeze(0).expand(batch, -1, -1)
        return out
