"""The ``deformer3d`` command line (typer).

Each command is a thin wrapper: it parses options and calls one function of the library, imported lazily so
``deformer3d --help`` stays fast. Library errors that are the user's to fix (a missing file, a bad config, a bad
video) derive from :class:`deformer3d.errors.UserError` and end the command with a clear message and exit code 2.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deformer3d.errors import UserError
from deformer3d.pretrained import bundled_models, resolve_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched at run time unless the user unsets this

app = typer.Typer(
    name="deformer3d",
    help="Action recognition from video: the cross-modal 3D deformable transformer, TimeSformer and ViViT.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


def user_errors(fn):
    """Turn :class:`UserError` (config errors included) into a red one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            from rich.markup import escape

            # escaped: a message holding "[/path]" or "[cpu]" is text, not rich markup (which would raise or vanish)
            console.print(f"[bold red]error:[/] {escape(error_message(exc))}")
            raise typer.Exit(code=2) from None

    return wrapper


def error_message(exc: BaseException) -> str:
    """The one-line message of a user error, also when a DataLoader worker raised it.

    A worker's exception reaches the main process re-built by torch as ``Type("Caught Type in DataLoader worker
    process N.\nOriginal Traceback ...\npkg.Type: <message>")``: the message the user needs is the last part.
    """
    text = str(exc)
    if "Original Traceback" in text:
        marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
        at = text.rfind(marker)
        text = text[at + len(marker):] if at >= 0 else text.rstrip().splitlines()[-1]
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip()) or type(exc).__name__


Overrides = Annotated[list[str] | None, typer.Argument(help="dot-list overrides, e.g. optim.lr=3e-4")]


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="output folder for data, runs, report and model")] = Path("runs/demo"),
    clips: Annotated[int, typer.Option(help="SynthActions clips to generate")] = 0,
    epochs: Annotated[int, typer.Option(help="training epochs (0 = the demo config's)")] = 0,
    seed: int = 0,
) -> None:
    """SynthActions -> train a tiny 3D deformable transformer (RGB + pose) -> evaluate -> export -> report."""
    from deformer3d.engine.demo import run_demo

    run_demo(out=out, clips=clips or None, epochs=epochs or None, seed=seed)


@app.command()
@user_errors
def synth(
    out: Annotated[Path, typer.Argument(help="output folder (videos/ + synthactions.pkl)")],
    clips: Annotated[int, typer.Option(help="number of clips")] = 1000,
    seed: int = 0,
    size: Annotated[int, typer.Option(help="frame size in pixels (square)")] = 112,
    frames: Annotated[str, typer.Option(help="clip length range, e.g. 24..64")] = "24..64",
    workers: Annotated[int, typer.Option(help="worker processes")] = 2,
) -> None:
    """Generate the SynthActions dataset (MP4 clips + a pyskl-format pkl with exact 2D joints)."""
    from deformer3d.data.synthetic import write_synthactions

    lo, _, hi = frames.partition("..")
    try:
        frange = (int(lo), int(hi or lo))
    except ValueError:
        raise UserError(f"--frames '{frames}': expected MIN..MAX, e.g. 24..64") from None
    write_synthactions(out, num_clips=clips, seed=seed, size=size, frame_range=frange, workers=workers)


@app.command()
@user_errors
def train(
    config: Annotated[Path, typer.Argument(help="experiment YAML (configs/*.yaml)")],
    overrides: Overrides = None,
    resume: Annotated[Path | None, typer.Option(help="checkpoint to resume from ('last' = the run's last)")] = None,
) -> None:
    """Train a model from an experiment config, then evaluate it on the test split."""
    from deformer3d.engine.train import train_from_config

    train_from_config(config, overrides or [], resume=resume)


@app.command("test")
@user_errors
def test_cmd(
    config: Annotated[Path, typer.Argument(help="experiment YAML used for training")],
    overrides: Overrides = None,
    checkpoint: Annotated[Path | None, typer.Option(help="checkpoint (default: the run's best)")] = None,
) -> None:
    """Evaluate a trained model: top-1/top-5/mean-class, confusion matrix, multi-clip, frame sweep."""
    from deformer3d.engine.evaluate import test_from_config

    test_from_config(config, overrides or [], checkpoint=checkpoint)


@app.command()
@user_errors
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Lightning checkpoint (.ckpt), or an older model folder to rewrite")],
    out: Annotated[Path, typer.Argument(help="output model folder (config.json, model.safetensors, README.md)")],
    onnx: Annotated[bool, typer.Option("--onnx", help="also write model.onnx (opset 20, dynamic batch)")] = False,
) -> None:
    """Export a checkpoint to a model folder (from_pretrained, Predictor, predict --model, push_to_hub)."""
    from deformer3d.engine.export import export_checkpoint

    export_checkpoint(checkpoint, out, onnx=onnx)


@app.command()
@user_errors
def predict(
    video: Annotated[Path, typer.Argument(help="video file or frame folder")],
    model: Annotated[str | None, typer.Option(help="model folder or bundled model name (default: penn-action-pose)")]
    = None,
    skeleton: Annotated[Path | None, typer.Option(help="pose file instead of automatic extraction")] = None,
    top_k: int = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    explain: Annotated[Path | None, typer.Option(help="write the explanation figure here (PNG)")] = None,
    timeline: Annotated[bool, typer.Option(help="sliding windows over a long video -> segments (JSON, CSV, PNG)")]
    = False,
    window: Annotated[float | None, typer.Option(help="timeline window in seconds (default: the model's clip)")]
    = None,
    stride: Annotated[float | None, typer.Option(help="timeline stride in seconds (default: half the window)")]
    = None,
    persons: Annotated[int, typer.Option(help="detect and track up to N people, a label each (1 = main person)")]
    = 1,
    out: Annotated[Path | None, typer.Option(help="timeline files prefix (default: the video's name)")] = None,
    runtime: Annotated[str, typer.Option(help="torch | onnx (the folder's model.onnx on ONNX Runtime)")] = "torch",
    resample_skeleton: Annotated[
        bool, typer.Option(help="stretch a --skeleton with another frame count over the video (else: an error)")
    ] = False,
) -> None:
    """Predict the top-k actions of a video (--timeline: of every part of a long video; --persons: of each person)."""
    if timeline or persons > 1:
        from deformer3d.serve.timeline import timeline_cli

        timeline_cli(video, model_dir=resolve_model(model), window_s=window, stride_s=stride, persons=persons, top_k=top_k,
                     out=out, as_json=as_json, timeline=timeline)
        return
    from deformer3d.serve.predictor import predict_cli

    predict_cli(video, model_dir=resolve_model(model), skeleton=skeleton, top_k=top_k, as_json=as_json, explain=explain,
                runtime=runtime, resample_skeleton=resample_skeleton)


@app.command()
@user_errors
def watch(
    source: Annotated[str, typer.Argument(help="webcam index (0), rtsp:// or http:// URL, or a video file")],
    model: Annotated[str | None, typer.Option(help="model folder or bundled model name (default: penn-action-pose)")]
    = None,
    window: Annotated[float | None, typer.Option(help="window in seconds (default: the model's clip)")] = None,
    stride: Annotated[float | None, typer.Option(help="seconds between updates (default: half the window)")] = None,
    persons: Annotated[int, typer.Option(help="detect and track up to N people, a label each")] = 1,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    out: Annotated[Path | None, typer.Option(help="write the annotated video here (MP4)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per update")] = False,
) -> None:
    """Live: a rolling label with latency and FPS; drops frames when behind so the lag never grows."""
    from deformer3d.serve.live import watch_cli

    watch_cli(source, model_dir=resolve_model(model), window_s=window, stride_s=stride, persons=persons, seconds=seconds, out=out,
              as_json=as_json)


@app.command()
@user_errors
def serve(
    model: Annotated[list[str] | None, typer.Option(help="model folder or bundled model name (repeat for several; "
                                                    "default: every bundled model)")] = None,
    host: str = "127.0.0.1",
    port: int = 8501,
    max_upload_mb: int = 200,
) -> None:
    """Serve the Streamlit web page: upload a video, see the top-5 actions and where the model looked."""
    from deformer3d.serve.app import serve as serve_app

    code = serve_app(model_dirs=[resolve_model(m) for m in model] if model else list(bundled_models().values()), host=host, port=port, max_upload_mb=max_upload_mb)
    if code:  # the page stopped on its own with an error (a requested stop by SIGTERM / Ctrl-C is 0)
        raise typer.Exit(code=int(code))


@app.command()
@user_errors
def models(
    model: Annotated[list[Path] | None, typer.Option(help="also describe these model folders (repeatable)")] = None,
) -> None:
    """List the bundled models (the default first) and any given model folders: kind, inputs, classes, clip."""
    from rich.table import Table

    from deformer3d.models.hub import read_model_folder
    from deformer3d.pretrained import DEFAULT_MODEL

    table = Table(title="models")
    for col in ("name", "kind", "inputs", "classes", "clip", "folder"):
        table.add_column(col)
    entries = [(name + (" (default)" if name == DEFAULT_MODEL else ""), path) for name, path in bundled_models().items()]
    entries += [(str(path), path) for path in model or []]
    for name, path in entries:
        folder = read_model_folder(path)
        cfg, pre = folder.model_config, folder.preprocessing
        modality = cfg.get("modality", "rgb")
        inputs = {"rgb_pose": "RGB + pose", "rgb": "RGB", "pose": "pose"}.get(modality, modality)
        clip = f"{pre.get('num_frames')} frames"
        if modality != "rgb":
            clip += f", {pre.get('layout')}"
        if modality != "pose":
            clip += f", {pre.get('image_size')} px"
        names = ", ".join(folder.labels[:4]) + (", ..." if len(folder.labels) > 4 else "")
        table.add_row(name, folder.model_type, inputs, f"{len(folder.labels)}: {names}", clip, str(path))
    Console().print(table)


@app.command("extract-poses")
@user_errors
def extract_poses(
    video_dir: Annotated[Path, typer.Argument(help="folder of videos (class sub-folders allowed)")],
    out: Annotated[Path, typer.Argument(help="output pyskl pkl")],
    workers: int = 1,
    backend: str = "mediapipe",
) -> None:
    """Extract 2D poses (COCO-17) for every video of a folder into a pyskl pkl; resumable."""
    from deformer3d.pose.extract import extract_folder

    extract_folder(video_dir, out, workers=workers, backend=backend)


@app.command()
@user_errors
def validate(
    config: Annotated[Path, typer.Argument(help="experiment YAML whose data section to scan")],
    overrides: Overrides = None,
) -> None:
    """Scan a dataset: unreadable videos, missing skeletons, frame-count mismatches, label problems."""
    from deformer3d.data.validate import validate_from_config

    ok = validate_from_config(config, overrides or [])
    raise typer.Exit(code=0 if ok else 1)


@app.command()
@user_errors
def cache(
    config: Annotated[Path, typer.Argument(help="experiment YAML; data.cache_dir is where the frames go")],
    overrides: Overrides = None,
    stages: Annotated[str, typer.Option(help="comma-separated stages to cache")] = "train,val,test",
) -> None:
    """Decode a dataset's videos once into data.cache_dir (lossless, resumable); training then reads them there."""
    from deformer3d.data.cache_build import cache_dataset

    cache_dataset(config, overrides or [], [s.strip() for s in stages.split(",") if s.strip()])


@app.command()
@user_errors
def info(
    preset: Annotated[str, typer.Option(help="model preset: paper | tiny")] = "paper",
    modality: str = "rgb_pose",
    num_classes: int = 60,
    model: Annotated[str, typer.Option(help="deformer3d | timesformer | vivit")] = "deformer3d",
) -> None:
    """Print a model's parameters and FLOPs (per clip) for a preset."""
    from deformer3d.models.flops import print_model_info

    print_model_info(name=model, preset=preset, modality=modality, num_classes=num_classes)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
             add_help_option=False)
@user_errors
def bench(ctx: typer.Context) -> None:
    """Benchmarks of a source checkout: an alias of `python -m benchmarks` run from the repository (see
    benchmarks/README.md); `deformer3d bench --help` lists the suites."""
    import sys

    from deformer3d.config import project_root

    root = project_root()
    if root is None or not (root / "benchmarks" / "runner.py").is_file():
        raise UserError("bench: the benchmarks are not installed with the package; run `deformer3d bench` (or "
                        "`python -m benchmarks`) inside a clone of the deformer3d repository")
    sys.path.insert(0, str(root))
    from benchmarks.runner import main

    main(list(ctx.args), prog_name="deformer3d bench")


if __name__ == "__main__":  # pragma: no cover
    app()
