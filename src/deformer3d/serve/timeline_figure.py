"""The timeline figure: per subject, the segments as coloured bars over time and the per-window probabilities of
the classes they name (``Timeline.write`` saves it; the web page shows it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deformer3d.plotting import new_figure, save_figure
from deformer3d.serve.segments import NO_PERSON

MAX_LINES = 6  # classes drawn as probability curves per subject: the segments' labels, then the most probable


def timeline_figure(timeline):
    """A matplotlib figure of ``timeline`` (a :class:`~deformer3d.serve.timeline.Timeline`)."""
    import matplotlib.pyplot as plt

    tracks = timeline.tracks or [None]
    fig, axes = new_figure(1, 2 * len(tracks), width=max(8.0, min(16.0, timeline.duration / 6)), height=1.6)
    used = [s.label for s in timeline.segments]
    names = list(dict.fromkeys(used))  # first appearance order, stable colours across subjects
    cmap = plt.get_cmap("tab20")
    colour = {name: cmap(i % 20) for i, name in enumerate(names + [n for n in timeline.labels if n not in names])}
    colour[NO_PERSON] = "0.85"  # nobody seen: grey, not a class colour
    end = max(timeline.duration, 1e-3)
    for row, track in enumerate(tracks):
        bars, curves = axes[2 * row, 0], axes[2 * row + 1, 0]
        who = "" if track is None else f"person {track}: "
        for seg in timeline.segments_of(track):
            bars.broken_barh([(seg.start, seg.duration)], (0, 1), color=colour[seg.label])
            bars.text(seg.start + seg.duration / 2, 0.5, f"{seg.label}\n{seg.confidence:.2f}", ha="center",
                      va="center", fontsize=8, clip_on=True)
        bars.set_xlim(0, end)
        bars.set_yticks([])
        bars.set_title(f"{who}segments", fontsize=9, loc="left")
        tw = timeline.windows.get(track)
        if tw is None or not tw.probs:
            continue
        centres = (np.array(tw.starts) + np.array(tw.ends)) / 2
        probs = np.stack(tw.probs)
        own = [timeline.labels.index(s.label) for s in timeline.segments_of(track) if s.label in timeline.labels]
        order = list(dict.fromkeys(own + list(np.argsort(-probs.mean(0)))))[:MAX_LINES]
        for k in order:
            name = timeline.labels[k]
            curves.plot(centres, probs[:, k], color=colour[name], label=name, lw=1.2)
        curves.set_xlim(0, end)
        curves.set_ylim(0, 1)
        curves.set_ylabel("p", fontsize=8)
        curves.legend(fontsize=7, loc="upper right", ncol=min(len(order), 3), frameon=False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{Path(timeline.video).name}: {timeline.model}, window {timeline.plan.window_s:.2g} s, "
                 f"stride {timeline.plan.stride_s:.2g} s", fontsize=10)
    return fig


def plot_timeline(timeline, path: str | Path) -> Path:
    """Write the timeline figure to ``path`` (PNG)."""
    return save_figure(timeline_figure(timeline), path)
