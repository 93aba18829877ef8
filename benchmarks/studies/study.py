"""One study end to end: train what is not cached, aggregate over seeds, write the table, plot and JSON."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.common import machine_info, suite_dir, write_results
from benchmarks.paths import repo_root, study_config
from benchmarks.studies.catalogue import DATA, SUBSET_ANN, studies
from benchmarks.studies.report import aggregate, study_markdown, study_plot
from benchmarks.studies.runs import ensure_data, model_cost, run_all, study_runs
from benchmarks.studies.verdicts import verdict_or_missing
from deformer3d.errors import UserError


def _num_train(data_dir: Path) -> int:
    from deformer3d.data import read_pyskl

    return len(read_pyskl(data_dir / SUBSET_ANN)["split"]["train"])


def run_study(
    name: str, out: Path, seeds: int | None = None, runs_dir: Path | None = None, train: bool = True, jobs: int = 2
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
    runs_dir = runs_dir or study_runs()
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
    base = load_config(study_config())
    all_runs = [r for rs in runs.values() for r in rs]
    payload = {
        "suite": name, "machine": machine, "title": study.title,
        "budget": {"data": DATA, "config": str(study_config().relative_to(repo_root())),
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
