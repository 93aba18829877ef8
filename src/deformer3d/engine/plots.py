"""Evaluation plots: confusion matrix, training curves, test-frame sweep. Each writes one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deformer3d.plotting import new_figure, save_figure


def plot_confusion_matrix(confusion, class_names: list[str], path: str | Path, *, normalize: bool = True) -> Path:
    """Confusion matrix ``(K, K)`` (rows = true class, columns = predicted) as a heat map with class names.

    ``normalize``: rows as fractions of each true class (readable with unbalanced classes); cells show counts
    when K is small enough to print them.
    """
    cm = np.asarray(confusion.cpu() if hasattr(confusion, "cpu") else confusion, dtype=float)
    k = cm.shape[0]
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    size = min(24.0, max(5.0, 0.35 * k + 2.5))
    fig, ((ax,),) = new_figure(width=size, height=size * 0.9)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class" if normalize else "count")
    if k <= 60:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=max(4, 10 - k // 10))
        ax.set_yticks(range(k), class_names, fontsize=max(4, 10 - k // 10))
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if cm[i, j] > 0:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if shown[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (test)")
    return save_figure(fig, path)


def plot_training_curves(history: list[dict[str, Any]], path: str | Path) -> Path:
    """Loss (train, val) and accuracy (train, val top-1) per epoch from ``history.json`` rows."""
    fig, ((ax_loss, ax_acc),) = new_figure(2, width=5.0, height=3.8)
    epochs = [r["epoch"] + 1 for r in history]
    for key, label in (("train/loss", "train"), ("val/loss", "val")):
        pts = [(e, r[key]) for e, r in zip(epochs, history, strict=False) if key in r]
        if pts:
            ax_loss.plot(*zip(*pts, strict=False), marker="o", ms=3, label=label)
    for key, label in (("train/top1", "train top-1"), ("val/top1", "val top-1"), ("val/mean_class", "val mean-class")):
        pts = [(e, 100 * r[key]) for e, r in zip(epochs, history, strict=False) if key in r]
        if pts:
            ax_acc.plot(*zip(*pts, strict=False), marker="o", ms=3, label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def plot_frame_sweep(sweep: list[dict[str, Any]], path: str | Path, *, trained_frames: int | None = None) -> Path:
    """Test accuracy against the number of test frames (the model trained with ``trained_frames``)."""
    fig, ((ax,),) = new_figure(width=5.0, height=3.6)
    n = [r["num_frames"] for r in sweep]
    ax.plot(n, [r["top1"] for r in sweep], marker="o", label="top-1")
    ax.plot(n, [r["mean_class"] for r in sweep], marker="s", label="mean-class")
    if trained_frames:
        ax.axvline(trained_frames, color="gray", ls="--", lw=1, label=f"trained with {trained_frames}")
    ax.set(xlabel="test frames", ylabel="accuracy (%)", title="test-frame sweep", ylim=(0, 100))
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)
