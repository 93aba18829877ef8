"""``deformer3d test``: evaluate a checkpoint on the test split.

Top-1, top-5 and mean-class accuracy (all in %), the confusion matrix (PNG + CSV with class names), a per-class
report (CSV), multi-clip x multi-crop averaging (``eval.clips`` x ``eval.crops`` views per video, softmax
averaged) and a test-frame sweep (``eval.frame_sweep``: the same model tested with fewer frames, one view each).
Everything lands in ``<out_dir>/eval/``: ``results.json`` and ``report.md`` with the plots.
"""

from __future__ import annotations

import csv
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader

from deformer3d.config import ExperimentConfig, load_config
from deformer3d.engine.checkpoint import CheckpointError, load_module
from deformer3d.engine.datamodule import check_dataset
from deformer3d.engine.module import ActionModule
from deformer3d.engine.precision import autocast_dtype
from deformer3d.errors import DataFormatError


def classification_metrics(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracies (%) and the confusion matrix from ``probs (N, K)`` and ``labels (N,)``.

    ``confusion[i, j]`` counts test samples of true class i predicted as class j.
    """
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_confusion_matrix

    k5 = min(5, num_classes)
    top1 = multiclass_accuracy(probs, labels, num_classes, top_k=1, average="micro")
    top5 = multiclass_accuracy(probs, labels, num_classes, top_k=k5, average="micro")
    # mean-class accuracy over the classes present in the test split (absent classes would count as 0)
    present = torch.bincount(labels, minlength=num_classes) > 0
    per_class = multiclass_accuracy(probs, labels, num_classes, top_k=1, average="none")
    mean_class = per_class[present].mean()
    confusion = multiclass_confusion_matrix(probs, labels, num_classes)
    return {
        "top1": 100.0 * float(top1),
        "top5": 100.0 * float(top5),
        "mean_class": 100.0 * float(mean_class),
        "confusion": confusion,
    }


def per_class_rows(confusion: torch.Tensor, class_names: list[str]) -> list[dict[str, Any]]:
    """Support, accuracy (= recall), precision and F1 (all %) of every class from the confusion matrix."""
    cm = confusion.double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    rows = []
    for i, name in enumerate(class_names):
        recall = float(tp[i] / support[i]) if support[i] > 0 else float("nan")
        precision = float(tp[i] / predicted[i]) if predicted[i] > 0 else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        rows.append(
            {
                "class": name,
                "support": int(support[i]),
                "correct": int(tp[i]),
                "accuracy": 100.0 * recall,
                "precision": 100.0 * precision,
                "f1": 100.0 * f1,
            }
        )
    return rows


def eval_device(cfg: ExperimentConfig) -> torch.device:
    if cfg.trainer.accelerator != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@torch.inference_mode()
def predict_dataset(
    module: ActionModule, loader: DataLoader, device: torch.device, *, autocast_dtype=None, label: str = "test"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax scores ``(N, K)`` and labels ``(N,)`` for every sample of ``loader`` (views averaged)."""
    module.to(device).eval()
    probs, labels = [], []
    amp = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=len(loader))
        for batch in loader:
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            with amp:
                logits = module(batch)
            probs.append(logits.float().softmax(-1).cpu())
            labels.append(batch["label"].cpu())
            bar.advance(task)
    return torch.cat(probs), torch.cat(labels)


def _loader(cfg: ExperimentConfig, module: ActionModule, *, clips: int, crops: int, num_frames: int | None):
    from deformer3d.data import build_dataset

    ds = build_dataset(
        cfg.data,
        "test",
        need_video=module.uses_video,
        need_pose=module.uses_pose,
        num_clips=clips,
        num_crops=crops,
        num_frames=num_frames,
        flip_views=cfg.eval.flip,
    )
    check_dataset(ds, cfg.data, "test")
    names = list(ds.class_names)
    if names != list(module.hparams["class_names"]):
        raise DataFormatError(
            f"the test split's classes ({len(names)}: {names[:5]}...) differ from the checkpoint's "
            f"({module.hparams['num_classes']}: {module.hparams['class_names'][:5]}...); evaluate with the config "
            "the model was trained with"
        )
    return DataLoader(ds, batch_size=cfg.data.batch_size, shuffle=False, num_workers=cfg.data.num_workers)


def write_confusion_csv(confusion: torch.Tensor, class_names: list[str], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, confusion.tolist(), strict=False):
            w.writerow([name, *row])


def write_per_class_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: f"{v:.2f}" if isinstance(v, float) else v for k, v in r.items()})


def evaluate_checkpoint(cfg: ExperimentConfig, checkpoint: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on the test split of ``cfg``; write results, plots and report to ``out_dir``."""
    from deformer3d.engine import plots
    from deformer3d.engine.report import write_report

    module, ckpt = load_module(checkpoint)  # a bad checkpoint is refused before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(module.hparams["class_names"])
    k = int(module.hparams["num_classes"])
    device = eval_device(cfg)
    amp = autocast_dtype(cfg, device)

    clips, crops = max(1, cfg.eval.clips), max(1, cfg.eval.crops)
    loader = _loader(cfg, module, clips=clips, crops=crops, num_frames=None)
    probs, labels = predict_dataset(module, loader, device, autocast_dtype=amp, label=f"test {clips}x{crops} views")
    m = classification_metrics(probs, labels, k)
    per_class = per_class_rows(m["confusion"], names)

    files = {
        "confusion_png": "confusion_matrix.png",
        "confusion_csv": "confusion_matrix.csv",
        "per_class_csv": "per_class.csv",
        "predictions_csv": "predictions.csv",
    }
    write_confusion_csv(m["confusion"], names, out / files["confusion_csv"])
    write_per_class_csv(per_class, out / files["per_class_csv"])
    plots.plot_confusion_matrix(m["confusion"], names, out / files["confusion_png"])
    with (out / files["predictions_csv"]).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "label", "predicted", "confidence"])
        conf, pred = probs.max(-1)
        for i, (y, p, c) in enumerate(zip(labels.tolist(), pred.tolist(), conf.tolist(), strict=False)):
            w.writerow([i, names[y], names[p], f"{c:.4f}"])

    sweep = []
    for n in cfg.eval.frame_sweep:
        sl = _loader(cfg, module, clips=1, crops=1, num_frames=int(n))
        sp, sy = predict_dataset(module, sl, device, autocast_dtype=amp, label=f"{n} frames")
        sm = classification_metrics(sp, sy, k)
        sweep.append({"num_frames": int(n), "top1": sm["top1"], "top5": sm["top5"], "mean_class": sm["mean_class"]})
    if sweep:
        files["frame_sweep_png"] = "frame_sweep.png"
        plots.plot_frame_sweep(sweep, out / files["frame_sweep_png"], trained_frames=cfg.data.num_frames)

    history_path = Path(cfg.trainer.out_dir) / "history.json"
    if history_path.is_file():
        files["curves_png"] = "training_curves.png"
        plots.plot_training_curves(json.loads(history_path.read_text()), out / files["curves_png"])

    results = {
        "experiment": cfg.name,
        "checkpoint": str(Path(checkpoint).resolve()),
        "epoch": ckpt.get("epoch"),
        "split": "test",
        "num_samples": int(labels.numel()),
        "num_classes": k,
        "num_frames": cfg.data.num_frames,
        "clips": clips,
        "crops": crops,
        "top1": m["top1"],
        "top5": m["top5"],
        "mean_class": m["mean_class"],
        "per_class": per_class,
        "frame_sweep": sweep,
        "files": files,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    results["report"] = str(write_report(results, out))
    return results


def resolve_checkpoint(cfg: ExperimentConfig, checkpoint: str | Path | None) -> Path:
    """``None`` -> ``eval.checkpoint`` ('best' | 'last' | a path); 'best' / 'last' live in the run folder."""
    choice = str(checkpoint) if checkpoint is not None else cfg.eval.checkpoint
    ckpt_dir = Path(cfg.trainer.out_dir) / "checkpoints"
    path = ckpt_dir / f"{choice}.ckpt" if choice in ("best", "last") else Path(choice)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path} (train with this config first, or pass --checkpoint PATH)"
        )
    return path


def test_from_config(
    config_path: str | Path | None, overrides: list[str] | None = None, checkpoint: str | Path | None = None
) -> dict[str, Any]:
    """Evaluate the run of ``config_path`` on its test split (best validation checkpoint unless told)."""
    from rich.console import Console

    cfg = load_config(config_path, overrides)
    path = resolve_checkpoint(cfg, checkpoint)
    results = evaluate_checkpoint(cfg, path, Path(cfg.trainer.out_dir) / "eval")
    print_summary(results, Console())
    return results


def print_summary(results: dict[str, Any], console) -> None:
    console.print(
        f"[bold]test[/] ({results['num_samples']} videos, {results['clips']}x{results['crops']} views): "
        f"top-1 {results['top1']:.2f}%  top-5 {results['top5']:.2f}%  mean-class {results['mean_class']:.2f}%"
    )
    for row in results["frame_sweep"]:
        console.print(f"  {row['num_frames']:>3} frames: top-1 {row['top1']:.2f}%  mean-class {row['mean_class']:.2f}%")
    console.print(f"report: {results['report']}")


test_from_config.__test__ = False  # a library function, not a pytest test, when imported into a test module
