"""LightningModule that trains any model from :func:`deformer3d.models.build_model`.

The module owns the loss (cross-entropy, optional label smoothing), the optimiser (AdamW or SGD with momentum),
the learning-rate schedule (linear warm-up then cosine, stepped per optimisation step) and the validation metrics
(top-1, top-5, mean-class accuracy). Its hyper-parameters are plain dicts / lists / numbers so that a checkpoint
loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from deformer3d.config import OptimConfig
from deformer3d.errors import ModelInputError
from deformer3d.models.inputs import ReadsAsItsModel


def view_logits(model: nn.Module, video: torch.Tensor | None, pose: torch.Tensor | None) -> torch.Tensor:
    """Class scores for a batch, averaging over test views when there are several.

    ``video (B, 3, T, H, W)`` / ``pose (B, T, R, 3)`` give logits ``(B, K)``. With a leading view axis
    (multi-clip x multi-crop testing) ``video (B, V, 3, T, H, W)`` / ``pose (B, V, T, R, 3)`` give the log of the
    softmax averaged over the ``V`` views (averaging probabilities, as mmaction2 does, is robust to one
    over-confident view).
    """
    multi = (video is not None and video.ndim == 6) or (pose is not None and pose.ndim == 5)
    if not multi:
        return model(video=video, pose=pose).logits
    views = video.shape[1] if video is not None else pose.shape[1]
    flat_video = rearrange(video, "b v c t h w -> (b v) c t h w") if video is not None else None
    flat_pose = rearrange(pose, "b v t r c -> (b v) t r c") if pose is not None else None
    logits = model(video=flat_video, pose=flat_pose).logits
    probs = rearrange(logits.float().softmax(-1), "(b v) k -> b v k", v=views).mean(1)
    return probs.clamp_min(1e-12).log()


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """LR multiplier: linear warm-up from ~0 to 1 over ``warmup_steps``, then cosine down to ``min_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class _Schedule:
    """Picklable-free LR lambda (a plain callable object; LambdaLR saves only its ``__dict__``)."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float, constant: bool) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio
        self.constant = constant

    def __call__(self, step: int) -> float:
        if self.constant:
            return 1.0
        return warmup_cosine(step, self.warmup_steps, self.total_steps, self.min_ratio)


class ActionModule(ReadsAsItsModel, L.LightningModule):
    """Wraps a recognition model for Lightning.

    Args:
        model_cfg: the YAML ``model:`` section (``name``, ``preset``, ... as for ``build_model``).
        num_classes: K.
        class_names: the K class names (kept in the checkpoint so export and reports need no dataset).
        optim: :class:`OptimConfig` fields as a dict.
        data_info: the data settings needed at inference (see CONTRACTS.md, exported ``config.json``).
    """

    def __init__(
        self,
        model_cfg: dict[str, Any],
        num_classes: int,
        class_names: list[str],
        optim: dict[str, Any] | None = None,
        data_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from deformer3d.models import build_model

        if len(class_names) != num_classes:
            raise ModelInputError(
                f"class_names has {len(class_names)} entries but num_classes is {num_classes}; "
                "check data.num_classes / data.class_names"
            )
        self.save_hyperparameters(
            {
                "model_cfg": dict(model_cfg),
                "num_classes": int(num_classes),
                "class_names": list(class_names),
                "optim": dict(optim or asdict(OptimConfig())),
                "data_info": dict(data_info or {}),
            }
        )
        self.model = build_model(dict(model_cfg), num_classes)
        self.optim_cfg = OptimConfig(**self.hparams["optim"])
        top5 = min(5, num_classes)
        self.val_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_top5 = MulticlassAccuracy(num_classes, top_k=top5, average="micro")
        self.val_mean_class = MulticlassAccuracy(num_classes, top_k=1, average="macro")
        self.train_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")

    # -- data flow -------------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch`` as produced by the datamodule -> logits ``(B, K)`` (view-averaged when views exist)."""
        video = batch.get("video") if self.uses_video else None
        pose = batch.get("pose") if self.uses_pose else None
        return view_logits(self.model, video, pose)

    # -- steps -------------------------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self(batch)
        labels = batch["label"]
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.optim_cfg.label_smoothing)
        self.train_top1(logits.detach(), labels)
        bs = labels.shape[0]
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("train/top1", self.train_top1, on_step=False, on_epoch=True, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        logits = self(batch)
        labels = batch["label"]
        loss = F.cross_entropy(logits.float(), labels)
        bs = labels.shape[0]
        self.val_top1(logits, labels)
        self.val_top5(logits, labels)
        self.val_mean_class(logits, labels)
        self.log("val/loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("val/top1", self.val_top1, prog_bar=True, batch_size=bs)
        self.log("val/top5", self.val_top5, batch_size=bs)
        self.log("val/mean_class", self.val_mean_class, batch_size=bs)

    # -- optimisation ------------------------------------------------------------------------------------------
    def configure_optimizers(self):
        o = self.optim_cfg
        # no weight decay on biases, norms and embeddings (1-D parameters), as in ViT / DeiT training
        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if o.name == "adamw":
            opt = torch.optim.AdamW(groups, lr=o.lr)
        elif o.name == "sgd":
            opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)
        else:
            raise ModelInputError(f"optim.name='{o.name}' is not supported; use 'adamw' or 'sgd'")
        if o.scheduler not in ("cosine", "none"):
            raise ModelInputError(f"optim.scheduler='{o.scheduler}' is not supported; use 'cosine' or 'none'")
        total = max(1, int(self.trainer.estimated_stepping_batches))
        epochs = max(1, int(self.trainer.max_epochs or 1))
        warmup = int(round(o.warmup_epochs * total / epochs))
        schedule = _Schedule(warmup, total, o.min_lr_ratio, constant=o.scheduler == "none")
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}
