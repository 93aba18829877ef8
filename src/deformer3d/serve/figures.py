"""Explanation figures (paper section 4): the sampled frames with their skeleton, the top-k bars, where the 3D
deformable attention sampled and how much attention each joint received.

The ``*_figure`` functions return a matplotlib Figure (the web page shows it; close it after use);
:func:`plot_explanation` writes them stacked into one PNG (``predict --explain OUT.png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deformer3d.plotting import figure_png, plt


def _frame_axes(fig, n: int, rect=None):
    """One row of ``n`` image axes without ticks."""
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return axes


def _pick(n: int, most: int) -> np.ndarray:
    """At most ``most`` evenly spaced indices of ``n``."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int))


def draw_skeleton(ax, pose, size: tuple[int, int], layout: str = "coco17", min_score: float = 0.05,
                  joint_colors=None, vrange=(0.0, 1.0), color: str = "#39ff14") -> None:
    """Draw ``pose (M, V, 3)`` ((x, y, score), x and y in [0, 1] of the image) on ``ax`` showing a ``size = (H, W)``
    image. Bones between joints both seen; joints coloured by ``joint_colors (M, V)`` values when given."""
    from deformer3d.data.skeleton import get_layout

    h, w = size
    pose = np.asarray(pose).reshape(-1, np.shape(pose)[-2], 3)
    bones = get_layout(layout).bones if pose.shape[1] == get_layout(layout).num_joints else ()
    for m, person in enumerate(pose):
        seen = person[:, 2] > min_score
        if not seen.any():
            continue
        x, y = person[:, 0] * w, person[:, 1] * h
        for a, b in bones:
            if seen[a] and seen[b]:
                ax.plot([x[a], x[b]], [y[a], y[b]], color=color, lw=1.4, alpha=0.85)
        if joint_colors is None:
            ax.scatter(x[seen], y[seen], s=9, c=color, edgecolors="black", linewidths=0.4, zorder=3)
        else:
            ax.scatter(x[seen], y[seen], s=28, c=np.asarray(joint_colors)[m][seen], cmap="inferno", vmin=vrange[0],
                       vmax=vrange[1], edgecolors="white", linewidths=0.5, zorder=3)


def frames_figure(frames, pose=None, frame_inds=None, layout: str = "coco17", max_frames: int = 8, cols: int = 8):
    """The sampled frames ``(T, H, W, 3)`` in rows of ``cols``, with the skeleton ``pose (T, M, V, 3)`` drawn over."""
    frames = np.asarray(frames)
    sel = _pick(len(frames), max_frames)
    cols = min(cols, len(sel))
    rows = -(-len(sel) // cols)
    aspect = frames.shape[1] / frames.shape[2]
    fig = plt.figure(figsize=(1.9 * cols, (1.9 * aspect + 0.3) * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, t in zip(axes, sel, strict=False):
        ax.imshow(frames[t])
        if pose is not None:
            draw_skeleton(ax, pose[t], frames.shape[1:3], layout)
        ax.set_title(f"frame {frame_inds[t]}" if frame_inds is not None else f"t={t}", fontsize=9)
    return fig


def deformable_points_figure(frames, points, weight, max_frames: int = 8, top: int = 400):
    """Paper fig. 5: the 3D deformable attention's sampling points over the frames, coloured by attention.

    ``points (N, 3)`` as (t, y, x) in [0, 1] of the clip ``frames (T, H, W, 3)``, ``weight (N,)`` the attention
    each point received. A point is drawn on the frame nearest its t; the ``top`` strongest points are shown.
    """
    frames, points, weight = np.asarray(frames), np.asarray(points), np.asarray(weight, dtype=float)
    t_len, h, w = frames.shape[:3]
    keep = np.argsort(weight)[::-1][:top]
    points, weight = points[keep], weight[keep]
    frame_of = np.clip(np.round(points[:, 0] * (t_len - 1)), 0, t_len - 1).astype(int)
    sel = _pick(t_len, max_frames)
    fig = plt.figure(figsize=(1.6 * len(sel) + 0.6, 2.0), layout="constrained")
    axes = _frame_axes(fig, len(sel))
    # relative scale: what matters is which points got more attention than the others
    vmin, vmax = (float(weight.min()), float(weight.max())) if weight.size else (0.0, 1.0)
    vmax = max(vmax, vmin + 1e-12)
    scatter = None
    for ax, t in zip(axes, sel, strict=True):
        ax.imshow(frames[t], alpha=0.75)
        # points between two shown frames go to the nearer one
        near = np.abs(sel[:, None] - frame_of[None]).argmin(axis=0) == list(sel).index(t)
        scatter = ax.scatter(points[near, 2] * w, points[near, 1] * h, c=weight[near], cmap="plasma", vmin=vmin,
                             vmax=vmax, s=6 + 40 * (weight[near] - vmin) / (vmax - vmin), edgecolors="none")
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_title(f"t={t}", fontsize=8)
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, shrink=0.8, label="attention")
    fig.suptitle("3D deformable attention: sampling points", fontsize=9)
    return fig


def joint_attention_figure(joint_attention, joint_names: list[str] | None = None, frames=None, pose=None,
                           layout: str = "coco17", max_frames: int = 8):
    """Paper fig. 6: attention received by each joint per frame ``(T, R)`` as a heat map (joints x time), and,
    when ``frames`` and ``pose (T, M, V, 3)`` are given, on the skeletons (joint colour = attention)."""
    att = np.asarray(joint_attention, dtype=float)
    t_len, r = att.shape
    names = list(joint_names or [])
    if len(names) != r:  # several persons: joint names repeated per person
        names = [f"p{i // len(names)}:{names[i % len(names)]}" if names else str(i) for i in range(r)]
    with_frames = frames is not None and pose is not None
    lo, hi = float(att.min()), max(float(att.max()), float(att.min()) + 1e-12)  # relative colour scale
    fig = plt.figure(figsize=(max(6.0, 1.6 * min(t_len, max_frames)), 2.2 + 0.16 * r + (1.9 if with_frames else 0)),
                     layout="constrained")
    sub = fig.subfigures(2 if with_frames else 1, 1, height_ratios=[1.9, 2.2 + 0.16 * r] if with_frames else None)
    sub = np.atleast_1d(sub)
    if with_frames:
        frames = np.asarray(frames)
        sel = _pick(len(frames), max_frames)
        v = np.shape(pose)[-2]
        for ax, t in zip(_frame_axes(sub[0], len(sel)), sel, strict=True):
            ax.imshow(frames[t])
            colours = att[t].reshape(-1, v)[: np.shape(pose)[1]]
            draw_skeleton(ax, pose[t], frames.shape[1:3], layout, joint_colors=colours, vrange=(lo, hi))
            ax.set_title(f"t={t}", fontsize=8)
    ax = sub[-1].subplots()
    im = ax.imshow(att.T, aspect="auto", cmap="inferno", vmin=lo, vmax=hi)
    ax.set_yticks(range(r))
    ax.set_yticklabels(names, fontsize=6)
    ax.set_xlabel("frame")
    ax.set_xticks(range(t_len))
    sub[-1].colorbar(im, ax=ax, label="attention")
    fig.suptitle("joint stride attention per joint and frame", fontsize=9)
    return fig


def attention_maps_figure(frames, attention, max_frames: int = 8, title: str = "CLS attention to patches"):
    """TimeSformer / ViViT: the last layer's CLS-to-patch attention ``(T, h, w)`` over the frames ``(T, H, W, 3)``."""
    frames, attention = np.asarray(frames), np.asarray(attention, dtype=float)
    t_len, h, w = frames.shape[:3]
    sel = _pick(t_len, max_frames)
    fig = plt.figure(figsize=(1.6 * len(sel) + 0.6, 2.0), layout="constrained")
    axes = _frame_axes(fig, len(sel))
    vmin, vmax = float(attention.min()), float(attention.max())
    vmax = max(vmax, vmin + 1e-12)
    im = None
    for ax, t in zip(axes, sel, strict=True):
        ax.imshow(frames[t])
        # patches -> pixels: each cell of the (h, w) grid covers its patch
        im = ax.imshow(attention[min(t, len(attention) - 1)], cmap="jet", alpha=0.45, vmin=vmin, vmax=vmax,
                       extent=(0, w, h, 0), interpolation="bilinear")
        ax.set_title(f"t={t}", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="attention")
    fig.suptitle(title, fontsize=9)
    return fig


def top_k_figure(top_k: list[tuple[str, float]]):
    """Horizontal bars of the top-k ``(label, probability)``, best on top."""
    labels = [label for label, _ in top_k][::-1]
    probs = [p for _, p in top_k][::-1]
    fig, ax = plt.subplots(figsize=(4.5, 0.35 * len(top_k) + 0.6), layout="constrained")
    bars = ax.barh(labels, probs, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{p:.1%}" for p in probs], padding=3, fontsize=8)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("probability")
    return fig


def explanation_figures(prediction, layout: str | None = None, frames_cols: int = 8) -> dict[str, Any]:
    """All figures for one :class:`deformer3d.serve.predictor.Prediction`, by name (``frames``, ``top_k`` and, when the
    model explained itself, ``deformable`` + ``joints`` (deformer3d) or ``attention`` (timesformer / vivit)).
    ``layout``: the joint layout of the prediction's pose (default: the one the prediction states)."""
    from deformer3d.data.skeleton import get_layout

    p = prediction
    layout = layout or p.layout
    figs: dict[str, Any] = {"frames": frames_figure(p.frames, p.pose, p.frame_inds, layout, cols=frames_cols),
                            "top_k": top_k_figure(p.top_k)}
    e = p.explanations or {}
    if e.get("deformable"):
        last = e["deformable"][-1]
        figs["deformable"] = deformable_points_figure(p.frames, last["points"], last["weight"])
    if e.get("joint_attention") is not None:
        figs["joints"] = joint_attention_figure(e["joint_attention"], list(get_layout(layout).joints), p.frames,
                                                p.pose, layout)
    if e.get("attention") is not None:
        figs["attention"] = attention_maps_figure(p.frames, e["attention"],
                                                  title=f"{p.model_name}: CLS attention to patches (last layer)")
    return figs


def plot_explanation(prediction, path: str | Path, layout: str | None = None) -> Path:
    """One PNG with everything :func:`explanation_figures` draws, stacked (``predict --explain OUT.png``)."""
    import io

    from PIL import Image

    figs = explanation_figures(prediction, layout)
    images = [Image.open(io.BytesIO(figure_png(fig))).convert("RGB") for fig in figs.values()]
    width = max(im.width for im in images)
    sheet = Image.new("RGB", (width, sum(im.height for im in images)), "white")
    y = 0
    for im in images:
        sheet.paste(im, (0, y))
        y += im.height
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
