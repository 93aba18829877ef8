"""The paper's studies on SynthActions at equal training budget: ``bench --suite ablation|tokens|windows|frames``.

Every run is ``benchmarks/configs/study.yaml`` + the study's overrides + a seed, trained and tested by the engine
(:func:`deformer3d.engine.train.train_from_config`: the one training path of the project). Runs are cached under
``runs/bench/studies/<key>/`` (key = base config + data + overrides + seed), so a variant shared by two studies (the
full model is the reference of all four) trains once, and an interrupted study resumes where it stopped.

- ``ablation`` (Table 4): full model; without 3D deformable / joint stride / temporal stride attention.
- ``attention`` (App. A1 / A2, accuracy side): each of the three modules replaced by full attention.
- ``tokens`` (Table 5): cross-modal tokens (M_CLS, M_RGB, M_pose) vs one shared token vs none.
- ``windows`` (Fig. 7a): temporal window size x stride.
- ``frames`` (Fig. 7b, Fig. A1): number of training frames, each model also tested with fewer / more frames.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deformer3d.benchmarks_common import (
    machine_info,
    machine_line,
    markdown_table,
    median_spread,
    new_figure,
    save_figure,
    suite_dir,
    write_results,
)
from deformer3d.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STUDY_CONFIG = PROJECT_ROOT / "benchmarks" / "configs" / "study.yaml"
RUNS_DIR = PROJECT_ROOT / "runs" / "bench" / "studies"
# SynthActions for the studies: the demo's generator settings (32 px, 24..40 frames, full nuisances) with 120 clips
# per class, and six of the 14 classes -- an order pair (sit_down / stand_up), an object pair (drink / phone_call)
# and two plain actions -- so that every part of the model has something to do and a tiny model learns within a
# CPU budget of minutes. Per class 60 train / 10 val / 50 test clips: a test set of 300 clips (binomial standard
# error ~2.3 points at 80% accuracy).
DATA = {"clips": 1680, "seed": 0, "size": 32, "frames": [24, 40], "difficulty": 1.0,
        "classes": ["sit_down", "stand_up", "drink", "phone_call", "wave", "kick"], "split": [60, 10, 50]}
SUBSET_ANN = "synthactions_subset.pkl"


@dataclass
class Variant:
    label: str
    overrides: list[str]
    seeds: list[int]
    x: Any = None  # the variant's value on the plot's x axis (windows / frames studies)


@dataclass
class Study:
    name: str
    title: str
    variants: list[Variant]
    reference: str  # label of the reference variant (the full model)
    extra_overrides: list[str] = field(default_factory=list)


FULL = "full model (deformable + joint stride + temporal stride)"


def studies() -> dict[str, Study]:
    # Seeds: three for the variants the paper's claims are about, one for the extra rows and the grid cells -- what
    # two single-threaded runs at a time fit into 20 minutes per study on a 2-core CPU (each table says so).
    three, one = [0, 1, 2], [0]
    return {
        "ablation": Study("ablation", "Attention-module ablation (paper Table 4)", [
            Variant(FULL, [], three),
            Variant("w/o 3D deformable attention", ["model.deformable=none"], three),
            Variant("w/o joint stride attention", ["model.joint_attention=none"], three),
            Variant("w/o temporal stride attention", ["model.temporal_attention=none"], three),
        ], FULL),
        "attention": Study("attention", "Deformable / stride attention vs full attention at equal budget "
                           "(the accuracy side of paper App. A1 / A2)", [
            Variant(FULL, [], three),
            Variant("full space-time attention instead of deformable", ["model.deformable=full"], one),
            Variant("full joint attention instead of stride", ["model.joint_attention=full"], one),
            Variant("full temporal attention instead of stride", ["model.temporal_attention=full"], one),
        ], FULL),
        "tokens": Study("tokens", "Cross-modal token configurations (paper Table 5)", [
            Variant("cross (M_CLS, M_RGB, M_pose)", [], three),
            Variant("single (one shared token)", ["model.modal_tokens=single"], three),
            Variant("none (mean of RGB and pose tokens)", ["model.modal_tokens=none"], three),
        ], "cross (M_CLS, M_RGB, M_pose)"),
        "windows": Study("windows", "Temporal window size x stride (paper Fig. 7a), 8 training frames", [
            Variant(f"window {w}, stride {st}", [f"model.temporal_window={w}", f"model.temporal_stride={st}"]
                    if (w, st) != (4, 2) else [], one, x=(w, st))
            for w, st in ((2, 1), (2, 2), (4, 1), (4, 2), (4, 4), (6, 1), (6, 2))
        ], "window 4, stride 2"),
        "frames": Study("frames", "Number of training frames (paper Fig. 7b) and test-frame sweep (Fig. A1)", [
            Variant(f"{t} training frames", [f"model.num_frames={t}", f"data.num_frames={t}"] if t != 8 else [],
                    one, x=t)
            for t in (4, 8, 12)
        ], "8 training frames", extra_overrides=["eval.frame_sweep=[2,4,6,8,10,12]"]),
    }


# --------------------------------------------------------------------------------------------------- runs


def ensure_data(data_dir: Path) -> Path:
    """SynthActions with the studies' settings :data:`DATA` in ``data_dir`` (regenerated when they change)."""
    from deformer3d.data.synthetic import write_synthactions

    marker = data_dir / "bench_params.json"
    params = json.loads(json.dumps(DATA))
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return data_dir
    marker.unlink(missing_ok=True)  # a half-written folder must not look complete
    write_synthactions(data_dir, num_clips=DATA["clips"], seed=DATA["seed"], size=DATA["size"],
                       frame_range=tuple(DATA["frames"]), difficulty=DATA["difficulty"], workers=2)
    write_class_subset(data_dir / "synthactions.pkl", data_dir / SUBSET_ANN, DATA["classes"], DATA["split"])
    marker.write_text(json.dumps(params))
    return data_dir


def write_class_subset(src: Path, dst: Path, classes: list[str], per_class: list[int]) -> Path:
    """A pyskl pkl holding only ``classes`` (labels renumbered 0..k-1) with ``per_class = [train, val, test]``
    clips of each class (in generation order), beside the videos of ``src``."""
    from deformer3d.data import read_pyskl, write_pyskl

    data = read_pyskl(src)
    names = list(data["class_names"])
    missing = [c for c in classes if c not in names]
    if missing:
        raise UserError(f"{src}: classes {missing} not in its class_names {names}")
    new_label = {names.index(c): i for i, c in enumerate(classes)}
    anns = [{**a, "label": new_label[a["label"]]} for a in data["annotations"] if a["label"] in new_label]
    split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for label in range(len(classes)):
        dirs = [a["frame_dir"] for a in anns if a["label"] == label]
        if len(dirs) < sum(per_class):
            raise UserError(f"{src}: class '{classes[label]}' has {len(dirs)} clips, need {sum(per_class)}")
        n_train, n_val, n_test = per_class
        split["train"] += dirs[:n_train]
        split["val"] += dirs[n_train : n_train + n_val]
        split["test"] += dirs[n_train + n_val : n_train + n_val + n_test]
    extra = {k: v for k, v in data.items() if k not in ("split", "annotations", "class_names")}
    write_pyskl(dst, anns, split, class_names=list(classes), **extra)
    return dst


def run_key(overrides: list[str], seed: int) -> str:
    text = json.dumps({"base": STUDY_CONFIG.read_text(), "data": DATA, "overrides": sorted(overrides),
                       "seed": seed}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def model_cost(overrides: list[str]) -> dict[str, float]:
    """Parameters and GFLOPs per clip of the variant's model at its configured clip size."""
    from deformer3d.config import load_config
    from deformer3d.models import build_model
    from deformer3d.models.flops import count_flops, count_params

    cfg = load_config(STUDY_CONFIG, overrides)
    model = build_model(dict(cfg.model), len(DATA["classes"]))
    inputs = model.example_inputs(1)
    return {"params": count_params(model), "gflops": count_flops(model, **inputs) / 1e9}


def train_run(
    overrides: list[str], seed: int, data_dir: Path, runs_dir: Path = RUNS_DIR, train: bool = True
) -> dict[str, Any] | None:
    """Train + test one variant/seed through the engine (cached by :func:`run_key`); with ``train=False`` only
    the cached result (None when there is none)."""
    from deformer3d.engine.train import train_from_config

    key = run_key(overrides, seed)
    run_dir = runs_dir / key
    cached = run_dir / "bench_result.json"
    if cached.is_file():
        return {**json.loads(cached.read_text()), "cached": True}
    if not train:
        return None
    full = [*overrides, f"data.root={data_dir}", f"data.ann_file={SUBSET_ANN}", f"trainer.out_dir={run_dir}",
            f"trainer.seed={seed}"]
    t0 = time.perf_counter()
    run = train_from_config(STUDY_CONFIG, full)
    seconds = time.perf_counter() - t0
    res = run["results"] or {}
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    record = {
        "key": key, "overrides": overrides, "seed": seed, "seconds": seconds,
        "top1": res.get("top1"), "top5": res.get("top5"), "mean_class": res.get("mean_class"),
        "num_test": res.get("num_samples"), "frame_sweep": res.get("frame_sweep", []),
        "final_train_loss": history[-1].get("train/loss") if history else None,
        "epochs": len(history),
    }
    cached.write_text(json.dumps(record, indent=1))
    return {**record, "cached": False}


def _train_run_logged(overrides: list[str], seed: int, data_dir: Path, runs_dir: Path) -> dict[str, Any]:
    """:func:`train_run` in a worker process, its output (Lightning, warnings, C-level prints) going to
    ``<run dir>/train.log`` so that parallel runs do not interleave on the terminal."""
    import os
    import sys

    run_dir = runs_dir / run_key(overrides, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "w") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        rec = train_run(overrides, seed, data_dir, runs_dir)
    assert rec is not None
    return rec


def run_all(
    todo: list[tuple[str, list[str], int]], data_dir: Path, runs_dir: Path, *, jobs: int, train: bool, console
) -> dict[tuple[str, int], dict[str, Any] | None]:
    """Results of every ``(label, overrides, seed)`` in ``todo``: cached ones read back, the others trained,
    ``jobs`` at a time in worker processes (one compute thread each: on a small CPU two single-threaded runs
    finish sooner than two runs one after the other with two threads each). A failed run raises, naming it."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results: dict[tuple[str, int], dict[str, Any] | None] = {}
    pending = []
    for label, overrides, seed in todo:
        rec = train_run(overrides, seed, data_dir, runs_dir, train=False)
        if rec is None and train:
            pending.append((label, overrides, seed))
        results[(label, seed)] = rec
    if not pending:
        return results
    console.print(f"training {len(pending)} run(s), {jobs} at a time; each run logs to "
                  f"{runs_dir}/<key>/train.log", highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress, ProcessPoolExecutor(
        max_workers=max(1, jobs), mp_context=mp.get_context("spawn")
    ) as pool:
        task = progress.add_task("runs", total=len(pending))
        futures = {pool.submit(_train_run_logged, o, s, data_dir, runs_dir): (label, o, s)
                   for label, o, s in pending}
        for fut in as_completed(futures):
            label, overrides, seed = futures[fut]
            try:
                rec = fut.result()
            except Exception as e:
                log = runs_dir / run_key(overrides, seed) / "train.log"
                raise UserError(f"study run '{label}' (seed {seed}) failed: {e}; its log: {log}") from e
            results[(label, seed)] = rec
            progress.console.print(f"   {label}, seed {seed}: top-1 {rec['top1']:.1f}% ({rec['seconds']:.0f} s)",
                                   highlight=False)
            progress.advance(task)
    return results


# --------------------------------------------------------------------------------------------------- verdicts


def _row(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(r for r in rows if r["label"] == label)


def _resolved(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two rows' medians differ by more than either row's seed spread (half its min..max range)."""
    return abs(a["top1_median"] - b["top1_median"]) > max(a["top1_spread"], b["top1_spread"])


def _claim(holds: bool, resolved: bool) -> str:
    if holds:
        return "**holds**" if resolved else "**holds only nominally** (the deciding gap is within the seed spread)"
    return "**does not hold**" if resolved else "**does not hold**, though the deciding gap is within the seed spread"


def _pct(r: dict[str, Any]) -> str:
    return f"{r['top1_median']:.1f}% (±{r['top1_spread']:.1f})"


def ablation_verdict(rows: list[dict[str, Any]]) -> list[str]:
    full = _row(rows, FULL)
    others = sorted((r for r in rows if r is not full), key=lambda r: -r["top1_median"])
    removals = sorted((r for r in rows if r["label"].startswith("w/o")), key=lambda r: r["top1_median"])
    deform = next(r for r in removals if "deformable" in r["label"])
    best_other = others[0]
    holds = full["top1_median"] >= best_other["top1_median"]
    lines = [f"Full model best: {_claim(holds, _resolved(full, best_other))} — full model {_pct(full)}, best other "
             f"variant '{best_other['label']}' {_pct(best_other)}."]
    holds2 = removals[0] is deform
    rival = removals[1] if holds2 else removals[0]  # the runner-up drop, or the removal that dropped more
    drops = ", ".join(f"{r['label'][4:]} {full['top1_median'] - r['top1_median']:+.1f} points" for r in removals)
    lines.append(f"Without 3D deformable attention the largest drop among the removals: "
                 f"{_claim(holds2, _resolved(deform, rival))} — drops vs full: {drops}.")
    if holds2 and not _resolved(full, deform):
        lines.append(f"But removing 3D deformable attention costs {full['top1_median'] - deform['top1_median']:.1f} "
                     "points, within the seed spread of the two rows: no measurable drop at this budget.")
    return lines


def tokens_verdict(rows: list[dict[str, Any]]) -> list[str]:
    c, s, n = rows[:3]
    holds = c["top1_median"] > s["top1_median"] > n["top1_median"]
    # the deciding gaps: both steps when the order holds, otherwise the steps that break it
    pairs = [(c, s), (s, n)] if holds else [
        p for p in ((c, s), (s, n)) if p[0]["top1_median"] <= p[1]["top1_median"]]
    resolved = all(_resolved(a, b) for a, b in pairs)
    lines = [f"cross > single > none: {_claim(holds, resolved)} — cross {_pct(c)}, single {_pct(s)}, "
             f"none {_pct(n)}."]
    if not holds:
        runner_up = max((s, n), key=lambda r: r["top1_median"])
        best = c["top1_median"] >= runner_up["top1_median"]
        lines.append(f"Cross-modal tokens best of the three: {_claim(best, _resolved(c, runner_up))}.")
    return lines


def attention_verdict(rows: list[dict[str, Any]]) -> list[str]:
    full = _row(rows, FULL)
    lines = []
    for r in rows:
        if r is full:
            continue
        diff = r["top1_median"] - full["top1_median"]
        cost = r.get("gflops", float("nan")) / full.get("gflops", float("nan"))
        lines.append(f"{r['label']}: {r['top1_median']:.1f}% vs {_pct(full)} for the full model "
                     f"({diff:+.1f} points; {cost:.2f}x its FLOPs at this clip size).")
    lines.append("One seed per full-attention variant: a difference within the full model's seed spread is not a "
                 "difference. The paper's point is cost (see the scaling suite); on these small clips full attention "
                 "is affordable, so this table asks only whether the cheaper modules lose accuracy.")
    return lines


def windows_verdict(rows: list[dict[str, Any]]) -> list[str]:
    best = max(rows, key=lambda r: r["top1_median"])
    worst = min(rows, key=lambda r: r["top1_median"])
    ref = _row(rows, "window 4, stride 2")
    return [f"Best: {best['label']} {best['top1_median']:.1f}%; worst: {worst['label']} {worst['top1_median']:.1f}%; "
            f"our default (window 4, stride 2) {ref['top1_median']:.1f}%. One seed per cell: differences of a few "
            "points are within run-to-run noise (see the ablation's seed spread)."]


def frames_verdict(rows: list[dict[str, Any]]) -> list[str]:
    xs = [r["x"] for r in rows]
    ys = [r["top1_median"] for r in rows]
    monotone = all(b >= a for a, b in zip(ys, ys[1:], strict=False))
    lines = ["Top-1 by training frames: " + ", ".join(f"{x}: {y:.1f}%" for x, y in zip(xs, ys, strict=True))
             + f" — more frames {'always help' if monotone else 'do not help monotonically'} at this budget."]
    return lines + sweep_lines(rows)


def sweep_lines(rows: list[dict[str, Any]]) -> list[str]:
    """'Trained with T frames, tested with ...' for every finished run that has a test-frame sweep (Fig. A1)."""
    lines = []
    for r in rows:
        sweep = [] if r["missing"] else (r["runs"][0].get("frame_sweep") or [])
        if sweep:
            lines.append(f"Trained with {r['x']} frames, tested with " + ", ".join(
                f"{s['num_frames']}: {s['top1']:.1f}%" for s in sweep) + ".")
    return lines


def verdict_or_missing(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """The study's verdict, or a plain statement of which variants have not been run yet."""
    missing = [r["label"] for r in rows if r["missing"]]
    if missing:
        lines = [f"**Not determined yet**: {len(missing)} of {len(rows)} variants have no finished run "
                 f"({'; '.join(missing)}). Run `deformer3d bench --suite {name}` to train them (finished runs are "
                 "cached and reused)."]
        return lines + (sweep_lines(rows) if name == "frames" else [])
    return VERDICTS[name](rows)


VERDICTS = {"ablation": ablation_verdict, "attention": attention_verdict, "tokens": tokens_verdict,
            "windows": windows_verdict,
            "frames": frames_verdict}


# --------------------------------------------------------------------------------------------------- report


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


def _num_train(data_dir: Path) -> int:
    from deformer3d.data import read_pyskl

    return len(read_pyskl(data_dir / SUBSET_ANN)["split"]["train"])


def run_study(
    name: str, out: Path, seeds: int | None = None, runs_dir: Path = RUNS_DIR, train: bool = True, jobs: int = 2
) -> dict[str, Any]:
    """Train every (variant, seed) of study ``name`` that is not cached (``jobs`` runs at a time), then write its
    table, plot and JSON. ``train=False``: report the cached runs only (variants without one are listed as not
    run)."""
    from rich.console import Console

    from deformer3d.config import load_config

    all_studies = studies()
    if name not in all_studies:
        raise UserError(f"unknown study '{name}'; valid: {', '.join(all_studies)}")
    study = all_studies[name]
    console = Console(stderr=True)
    machine = machine_info()
    t0 = time.perf_counter()
    data_dir = ensure_data(runs_dir / "data")
    todo = [(v.label, [*v.overrides, *study.extra_overrides], s)
            for v in study.variants for s in (v.seeds[:seeds] if seeds else v.seeds)]
    costs = {v.label: model_cost([*v.overrides, *study.extra_overrides]) for v in study.variants}  # once per variant
    done = run_all(todo, data_dir, runs_dir, jobs=jobs, train=train, console=console)
    runs: dict[str, list[dict[str, Any]]] = {}
    for label, _, seed in todo:
        rec = done[(label, seed)]
        if rec is None:
            console.print(f"   {label}, seed {seed}: not run yet (no cached result; --no-train)", highlight=False)
            continue
        runs.setdefault(label, []).append(rec)
    rows = aggregate(study, runs, costs)
    base = load_config(STUDY_CONFIG)
    all_runs = [r for rs in runs.values() for r in rs]
    payload = {
        "suite": name, "machine": machine, "title": study.title,
        "budget": {"data": DATA, "config": str(STUDY_CONFIG.relative_to(PROJECT_ROOT)),
                   "epochs": base.trainer.max_epochs, "batch_size": base.data.batch_size, "lr": base.optim.lr,
                   "optimizer": base.optim.name, "scheduler": base.optim.scheduler, "label_smoothing": base.optim.label_smoothing,
                   "frames_per_clip": base.data.num_frames, "sampler": base.data.sampler,
                   "pose_coordinates": bool(base.model.get("pose_coordinates", False)),
                   "num_test": all_runs[0].get("num_test") if all_runs else None,
                   "num_train": _num_train(data_dir)},
        "rows": rows, "train_seconds": sum(r["seconds"] for r in all_runs),
        "cached_runs": sum(bool(r["cached"]) for r in all_runs), "jobs": jobs,
        "run_seconds": [r["seconds"] for r in all_runs],
    }
    payload["verdict"] = verdict_or_missing(name, rows)
    payload["complete"] = not any(r["missing"] for r in rows)
    payload["duration_s"] = time.perf_counter() - t0
    d = suite_dir(out, name)
    write_results(d, payload, study_markdown(study, rows, payload))
    study_plot(study, rows, d / f"{name}.png")
    for line in payload["verdict"]:
        console.print(line, highlight=False)
    return payload
