"""A study's table (markdown), its plot and the wall-time arithmetic behind them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import machine_line, markdown_table, median_spread
from benchmarks.studies.catalogue import DATA, Study
from deformer3d.plotting import new_figure, save_figure


def aggregate(study: Study, runs: dict[str, list[dict[str, Any]]], costs: dict[str, dict]) -> list[dict]:
    rows = []
    for v in study.variants:
        rs = runs.get(v.label, [])
        top1 = [r["top1"] for r in rs if r.get("top1") is not None]
        med, spread = median_spread(top1)
        rows.append({"label": v.label, "overrides": v.overrides, "x": v.x, "seeds": v.seeds, "runs": rs,
                     "top1": top1, "top1_median": med, "top1_spread": spread, "missing": not top1,
                     "top5_median": median_spread([r["top5"] for r in rs if r.get("top5") is not None])[0],
                     **costs.get(v.label, {})})
    return rows


def study_markdown(study: Study, rows: list[dict[str, Any]], payload: dict[str, Any]) -> str:
    ref = next(r for r in rows if r["label"] == study.reference)
    table = []
    for r in rows:
        if r["missing"]:
            table.append([r["label"], " ".join(f"`{o}`" for o in r["overrides"]) or "—", "not run yet", "—", "—",
                          "—", f"{r.get('gflops', float('nan')):.3f}", f"{r.get('params', 0) / 1e3:.0f} k"])
            continue
        table.append([
            r["label"], " ".join(f"`{o}`" for o in r["overrides"]) or "—",
            ", ".join(f"{t:.1f}" for t in r["top1"]), f"**{r['top1_median']:.1f}** ± {r['top1_spread']:.1f}",
            f"{r['top1_median'] - ref['top1_median']:+.1f}" if not ref["missing"] else "—",
            f"{r['top5_median']:.1f}",
            f"{r.get('gflops', float('nan')):.3f}", f"{r.get('params', 0) / 1e3:.0f} k",
        ])
    b = payload["budget"]
    secs = sorted(payload["run_seconds"])
    run_time = f"{secs[0]:.0f}..{secs[-1]:.0f} s" if secs else "—"
    lines = [
        f"# {study.title}",
        "",
        machine_line(payload["machine"]),
        "",
        f"**Budget (equal for every run):** SynthActions generated with seed {b['data']['seed']}, "
        f"{b['data']['size']} px, {b['data']['frames'][0]}..{b['data']['frames'][1]} frames, nuisances x"
        f"{b['data']['difficulty']}, the {len(b['data']['classes'])} classes {', '.join(b['data']['classes'])} "
        f"({b['num_train']} train / {b['num_test']} test clips); `{b['config']}`: tiny preset, {b['epochs']} epochs, "
        f"batch {b['batch_size']}, {b['optimizer']} lr {b['lr']}, {b['scheduler']} schedule, label smoothing {b['label_smoothing']}, "
        f"{b['frames_per_clip']} {b['sampler']} frames, pose tokens "
        f"{'with' if b['pose_coordinates'] else 'without'} (x, y, score) embeddings; tested on the final weights; "
        "seeds per variant as "
        "listed (the seed sets the weights and the data order; the data are the same for all runs). "
        f"Top-1 is on the test split; ± is half the min..max range over seeds. The {len(payload['run_seconds'])} "
        f"runs took {payload['train_seconds'] / 60:.1f} min in all, each {run_time}, trained {payload['jobs']} at a "
        f"time with one compute thread each: ~{makespan(payload['run_seconds'], payload['jobs']) / 60:.1f} min wall from "
        f"scratch ({payload['cached_runs']} of them reused from cache by this invocation, which took "
        f"{payload['duration_s'] / 60:.1f} min).",
        "",
        markdown_table(["variant", "overrides", "top-1 per seed (%)", "top-1 median (%)", "Δ vs reference",
                        "top-5 (%)", "GFLOPs/clip", "params"], table),
        "",
        f"Reference: {study.reference}. A gap counts as resolved when it is larger than the seed spread of both rows "
        "it compares (with three seeds a rough test, not a significance test).",
        "",
        "## Does the paper's ordering hold on SynthActions?",
        "",
        *[f"- {line}" for line in payload["verdict"]],
        "",
        f"Chance level is {100 / len(DATA['classes']):.1f}% ({len(DATA['classes'])} classes). These are small models trained briefly on CPU: the numbers "
        "compare variants at equal budget, they are not the paper's accuracies.",
    ]
    return "\n".join(lines)


def study_plot(study: Study, rows: list[dict[str, Any]], path: Path) -> Path:
    import numpy as np

    rows = [r for r in rows if not r["missing"]]  # variants without a finished run are listed in the table
    if not rows:
        fig, axes = new_figure(width=5, height=1.5)
        axes[0][0].text(0.5, 0.5, f"{study.name}: no finished runs yet", ha="center", va="center")
        axes[0][0].axis("off")
        return save_figure(fig, path)
    if study.name == "windows":
        fig, axes = new_figure(width=5.2, height=4.0)
        ax = axes[0][0]
        ws = sorted({r["x"][0] for r in rows})
        ss = sorted({r["x"][1] for r in rows})
        grid = np.full((len(ws), len(ss)), np.nan)
        for r in rows:
            grid[ws.index(r["x"][0]), ss.index(r["x"][1])] = r["top1_median"]
        im = ax.imshow(grid, cmap="viridis", origin="lower")
        for i in range(len(ws)):
            for j in range(len(ss)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", color="w", fontsize=9)
        ax.set_xticks(range(len(ss)), [str(s) for s in ss])
        ax.set_yticks(range(len(ws)), [str(w) for w in ws])
        ax.set_xlabel("temporal stride")
        ax.set_ylabel("temporal window (frames)")
        fig.colorbar(im, ax=ax, label="test top-1 (%)")
        ax.set_title(study.title, fontsize=9)
        return save_figure(fig, path)
    if study.name == "frames":
        fig, axes = new_figure(ncols=2, width=4.8, height=3.6)
        ax = axes[0][0]
        xs = [r["x"] for r in rows]
        ax.plot(xs, [r["top1_median"] for r in rows], marker="o", color="#4c72b0")
        ax.set_xlabel("training frames")
        ax.set_ylabel("test top-1 (%)")
        ax.set_xticks(xs)
        ax.set_title("Fig. 7b: training frames", fontsize=10)
        ax = axes[0][1]
        for r in rows:
            sweep = r["runs"][0].get("frame_sweep") or []
            if sweep:
                ax.plot([s["num_frames"] for s in sweep], [s["top1"] for s in sweep], marker="o",
                        label=f"trained with {r['x']}")
        ax.set_xlabel("test frames")
        ax.set_ylabel("test top-1 (%)")
        ax.legend(fontsize=8)
        ax.set_title("Fig. A1: test-frame sweep", fontsize=10)
        return save_figure(fig, path)
    fig, axes = new_figure(width=7.5, height=0.5 * len(rows) + 1.5)
    ax = axes[0][0]
    for i, r in enumerate(rows):
        color = "#c44e52" if r["label"] == study.reference else "#4c72b0"
        ax.barh(i, r["top1_median"], color=color, alpha=0.8)
        ax.plot(r["top1"], [i] * len(r["top1"]), "k.", ms=6)
        ax.annotate(f"{r['top1_median']:.1f}", (r["top1_median"], i), xytext=(3, -3), textcoords="offset points",
                    fontsize=8)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(100 / len(DATA["classes"]), color="gray", ls=":", lw=1, label="chance")
    ax.set_xlabel("test top-1 (%): bar = median over seeds, dots = seeds")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(study.title, fontsize=10)
    return save_figure(fig, path)


def makespan(seconds: list[float], jobs: int) -> float:
    """Wall time of runs taking ``seconds``, started in that order on ``jobs`` workers (each run goes to the first
    free worker, as the process pool does)."""
    import heapq

    free = [0.0] * max(1, jobs)
    for sec in seconds:
        heapq.heappush(free, heapq.heappop(free) + sec)
    return max(free)
