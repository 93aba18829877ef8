"""The short markdown report of an evaluation (``eval/report.md``), linking the plots beside it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _pct(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def render_report(results: dict[str, Any]) -> str:
    """Markdown for ``results`` (the dict written to ``results.json``); plots referenced by relative path."""
    files = results.get("files", {})
    lines = [
        f"# {results.get('experiment', 'experiment')}: test results",
        "",
        f"Checkpoint `{results['checkpoint']}` (epoch {results.get('epoch')}), test split: "
        f"{results['num_samples']} videos, {results['num_classes']} classes, {results['num_frames']} frames, "
        f"{results['clips']} clip(s) x {results['crops']} crop(s) per video.",
        "",
        "| top-1 (%) | top-5 (%) | mean-class (%) |",
        "|---:|---:|---:|",
        f"| {_pct(results['top1'])} | {_pct(results['top5'])} | {_pct(results['mean_class'])} |",
        "",
    ]
    if "curves_png" in files:
        lines += ["## Training", "", f"![training curves]({files['curves_png']})", ""]
    lines += [
        "## Confusion matrix",
        "",
        f"![confusion matrix]({files['confusion_png']})",
        "",
        f"Counts with class names: [{files['confusion_csv']}]({files['confusion_csv']}); "
        f"per-sample predictions: [{files['predictions_csv']}]({files['predictions_csv']}).",
        "",
    ]
    if results.get("frame_sweep"):
        lines += [
            "## Test-frame sweep",
            "",
            f"Trained with {results['num_frames']} frames, tested with fewer (one view per video).",
            "",
            "| test frames | top-1 (%) | mean-class (%) |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {r['num_frames']} | {_pct(r['top1'])} | {_pct(r['mean_class'])} |" for r in results["frame_sweep"]]
        lines += ["", f"![frame sweep]({files['frame_sweep_png']})", ""]
    lines += [
        "## Per class",
        "",
        f"Sorted by accuracy, weakest first ([{files['per_class_csv']}]({files['per_class_csv']})).",
        "",
        "| class | videos | accuracy (%) | precision (%) | F1 (%) |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = sorted(results["per_class"], key=lambda r: (math.isnan(r["accuracy"]), r["accuracy"]))
    lines += [
        f"| {r['class']} | {r['support']} | {_pct(r['accuracy'])} | {_pct(r['precision'])} | {_pct(r['f1'])} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def write_report(results: dict[str, Any], out_dir: str | Path) -> Path:
    path = Path(out_dir) / "report.md"
    path.write_text(render_report(results))
    return path
