"""``deformer3d demo`` / ``make demo``: SynthActions -> train a tiny RGB + pose model -> evaluate -> export.

Output folder (``--out``, default ``runs/demo``)::

    data/     the generated SynthActions clips (MP4) + synthactions.pkl (reused when the settings match)
    run/      checkpoints, TensorBoard logs, history, config.yaml
    run/eval/ report.md, results.json, confusion matrix, training curves, frame sweep
    model/    the exported model (config.json, model.safetensors, labels.json) for predict / serve
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from deformer3d.config import ConfigError, load_config, project_root
from deformer3d.data.synthetic import ANN_FILE, ensure_synthactions

DEMO_CONFIG = Path("configs") / "synth_demo.yaml"  # relative to the checkout's root

# The demo's dataset: sized so that `make demo` (venv included) ends within 15 minutes on a 2-core CPU. 32 px is
# enough (the held objects have reserved saturated colours) and costs half of 48 px per step for the same accuracy
# per epoch; 2000 clips (1400 train) give more distinct samples than more epochs, and a 300-clip test split.
DEMO_CLIPS = 2000
DEMO_SIZE = 32
DEMO_FRAMES = (24, 40)


def demo_overrides(out: Path, *, epochs: int | None, seed: int) -> list[str]:
    overrides = [f"data.root={out / 'data'}", f"trainer.out_dir={out / 'run'}", f"trainer.seed={seed}"]
    if epochs:
        overrides.append(f"trainer.max_epochs={epochs}")
    return overrides


def example_video(data_dir: Path) -> Path | None:
    """The first test-split video of the generated SynthActions, for the printed ``predict`` example."""
    from deformer3d.data.formats.pyskl import read_pyskl

    data = read_pyskl(data_dir / ANN_FILE)
    test = set(data["split"].get("test", []))
    for ann in data["annotations"]:
        if ann["frame_dir"] in test and ann.get("filename"):
            return data_dir / ann["filename"]
    return None


def bundled_model_lines() -> list[str]:
    """The bundled Penn Action model on a real clip (``realdata/wild/squat.mp4``), as panel lines: what a user gets
    out of the box on their own videos. Says what is missing instead when the pose extra or the clip is absent."""
    from deformer3d.config import realdata_root
    from deformer3d.errors import UserError
    from deformer3d.pretrained import DEFAULT_MODEL, resolve_model

    clip = realdata_root() / "wild" / "squat.mp4"
    head = f"[bold]real video[/], the bundled model '{DEFAULT_MODEL}' (15 Penn Action classes, poses by MediaPipe):"
    if not clip.is_file():
        return [head, f"  (no real clip at {clip}; try: deformer3d predict YOUR_VIDEO.mp4)"]
    try:
        from deformer3d.serve.predictor import Predictor

        predictor = Predictor(resolve_model(None))
        try:
            result = predictor.predict(clip, top_k=3)
        finally:
            predictor.close()
    except UserError as exc:  # e.g. MediaPipe not installed
        return [head, f"  skipped: {exc}", "  install the pose extra with `make pose`"]
    top = ", ".join(f"{label} {p:.2f}" for label, p in result.top_k)
    return [head, f"  deformer3d predict {clip}", f"  -> {top}  ({sum(result.timings.values()):.1f} s)"]


def run_demo(out: str | Path = "runs/demo", clips: int | None = None, epochs: int | None = None,
             seed: int = 0) -> dict[str, Any]:
    """The whole demo; returns the test results plus the paths it wrote.

    ``clips``: SynthActions clips to generate (default :data:`DEMO_CLIPS`); ``epochs``: override the config's max_epochs.
    """
    from deformer3d.engine.export import export_checkpoint
    from deformer3d.engine.train import train_from_config

    console = Console()
    out = Path(out).resolve()
    root = project_root()
    config = root / DEMO_CONFIG if root else None
    if config is None or not config.is_file():
        raise ConfigError(f"demo config {DEMO_CONFIG} not found: run the demo inside a clone of the repository "
                          f"(working directory {Path.cwd()})")
    t0 = time.perf_counter()
    console.rule("[bold]1/4 SynthActions")
    made = ensure_synthactions(out / "data", num_clips=clips or DEMO_CLIPS, seed=seed, size=DEMO_SIZE,
                               frame_range=DEMO_FRAMES)
    console.print(("generated" if made else "reusing") + f" {out / 'data'}  ({time.perf_counter() - t0:.0f} s)")

    console.rule("[bold]2/4 train (tiny 3D deformable transformer, RGB + pose)")
    cfg = load_config(config, demo_overrides(out, epochs=epochs, seed=seed))
    t1 = time.perf_counter()
    run = train_from_config(None, cfg=cfg)
    train_s = time.perf_counter() - t1

    console.rule("[bold]3/4 export")
    best = run["best"] if run["best"] and run["best"].is_file() else run["last"]
    model_dir = export_checkpoint(best, out / "model")

    console.rule("[bold]4/4 done")
    results = run["results"]
    video = example_video(out / "data")
    eval_dir = Path(run["run_dir"]) / "eval"
    video_arg = video or "path/to/video.mp4"
    lines = [
        f"test top-1 [bold]{results['top1']:.1f}%[/]  top-5 {results['top5']:.1f}%  "
        f"mean-class {results['mean_class']:.1f}%  ({results['num_samples']} test videos)",
        f"time: {time.perf_counter() - t0:.0f} s in all, {train_s:.0f} s training + evaluation",
        "",
        f"report:   {eval_dir / 'report.md'}",
        f"plots:    {eval_dir / 'confusion_matrix.png'}, {eval_dir / 'training_curves.png'}",
        f"model:    {model_dir}",
        f"TensorBoard: tensorboard --logdir {Path(run['run_dir']) / 'tb'}",
        "",
        "predict a test video (its skeleton read from the SynthActions pkl; without --skeleton MediaPipe",
        "estimates it, which fits SynthActions' stick figures less well than their own skeletons):",
        f"  deformer3d predict {video_arg} --model {model_dir} --skeleton {out / 'data' / ANN_FILE}",
        "serve the web page (http://127.0.0.1:8501):",
        f"  deformer3d serve --model {model_dir}",
    ]
    lines += ["", *bundled_model_lines()]
    console.print(Panel("\n".join(lines), title="deformer3d demo", expand=False))
    return {**results, "model_dir": str(model_dir), "run_dir": str(run["run_dir"]), "seconds": time.perf_counter() - t0}
