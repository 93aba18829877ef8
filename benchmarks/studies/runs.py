"""The studies' runs: their data, a cache of finished runs keyed by config + data + overrides + seed, and the
process pool that trains the missing ones (one compute thread each, logging to files)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.paths import bench_runs, study_config
from benchmarks.studies.catalogue import DATA, SUBSET_ANN
from deformer3d.data.synthetic import ANN_FILE, ensure_synthactions
from deformer3d.errors import UserError


def study_runs() -> Path:
    """``runs/bench/studies``: the studies' data (``data/``) and one folder per cached run."""
    return bench_runs() / "studies"


def ensure_data(data_dir: Path) -> Path:
    """SynthActions with the studies' settings :data:`DATA` in ``data_dir`` (generated once per setting) and
    the class subset :data:`SUBSET_ANN` beside it (rewritten every time: it is cheap and follows ``DATA``)."""
    ensure_synthactions(data_dir, num_clips=DATA["clips"], seed=DATA["seed"], size=DATA["size"],
                        frame_range=tuple(DATA["frames"]), difficulty=DATA["difficulty"])
    write_class_subset(data_dir / ANN_FILE, data_dir / SUBSET_ANN, DATA["classes"], DATA["split"])
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
    text = json.dumps({"base": study_config().read_text(), "data": DATA, "overrides": sorted(overrides),
                       "seed": seed}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def model_cost(overrides: list[str]) -> dict[str, float]:
    """Parameters and GFLOPs per clip of the variant's model at its configured clip size."""
    from deformer3d.config import load_config
    from deformer3d.models import build_model
    from deformer3d.models.flops import count_flops, count_params

    cfg = load_config(study_config(), overrides)
    model = build_model(dict(cfg.model), len(DATA["classes"]))
    inputs = model.example_inputs(1)
    return {"params": count_params(model), "gflops": count_flops(model, **inputs) / 1e9}


def train_run(
    overrides: list[str], seed: int, data_dir: Path, runs_dir: Path | None = None, train: bool = True
) -> dict[str, Any] | None:
    """Train + test one variant/seed through the engine (cached by :func:`run_key` under ``runs_dir``, default
    :func:`study_runs`); with ``train=False`` only the cached result (None when there is none)."""
    from deformer3d.engine.train import train_from_config

    runs_dir = runs_dir or study_runs()
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
    run = train_from_config(study_config(), full)
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
