"""The Penn Action skeleton model: seeds, the development clips, and the bundled model's card.

    python -m benchmarks.penn_action seeds runs/pennaction_pose/seed0 runs/pennaction_pose/seed1 ...
        per-seed test top-1 / mean-class / wall time and the median -> benchmarks/results/penn_action/seeds.{json,md}
    python -m benchmarks.penn_action wild [--model FOLDER]
        `deformer3d predict` (MediaPipe poses, the predictor's windows) on the development clips
        (realdata wild/*.mp4 + videos/stgcn_clean_and_jerk.mp4): top-5 and timings per clip, and the share of the
        timeline's windows that are right, with its segments -> wild.{json,md}
    python -m benchmarks.penn_action ensemble RUN_DIR RUN_DIR ...
        the mean softmax of several runs on the test split, beside each run's own figures -> ensemble.{json,md}
    python -m benchmarks.penn_action rotation FOLDER FOLDER ...
        test top-1 with every test skeleton turned by fixed angles (camera roll, inclined bodies: a push-up against
        a bench, a sit-up on a slope), 1 clip x 2 views -> rotation.{json,md,png}
    python -m benchmarks.penn_action phase FOLDER FOLDER ...
        test top-1 with every test clip started elsewhere in its motion (a window of a set of squats starts
        anywhere in a repetition), overall and on the classes done in repetitions -> phase.{json,md,png}
    python -m benchmarks.penn_action epoch-time [--recipes v10,v14 --epochs 3 --repeats 2]
        wall seconds per training epoch of Penn Action recipes (earlier ones by name, 'now' = the config), each
        trained alone in a fresh process, alternately, without the test -> epoch_time.{json,md}
    python -m benchmarks.penn_action ship RUN_DIR
        export RUN_DIR's last checkpoint into src/deformer3d/pretrained/penn-action-pose, record its evaluation
        (test split, per class; the development clips) in config.json and write the model card

The development clips are a development set: the model is also checked on other real clips that are not here.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from benchmarks.paths import repo_root
from deformer3d.config import realdata_root

app = typer.Typer(add_completion=False, no_args_is_help=True)
OUT = Path("benchmarks/results/penn_action")
BUNDLED = Path("src/deformer3d/pretrained/penn-action-pose")
PUBLISHED = {"UNIK": 97.9, "Pr-VIPE": 97.5, "HDM-BG": 93.4}


def dev_clips() -> list[Path]:
    root = realdata_root()
    return sorted((root / "wild").glob("*.mp4")) + [root / "videos" / "stgcn_clean_and_jerk.mp4"]


def expected_label(clip: Path) -> str:
    return clip.stem.removeprefix("stgcn_")


def _out(name: str) -> Path:
    out = repo_root() / OUT
    out.mkdir(parents=True, exist_ok=True)
    return out / name


def seed_rows(run_dirs: list[Path]) -> list[dict]:
    rows = []
    for run in run_dirs:
        results = json.loads((run / "eval" / "results.json").read_text())
        started = (run / "config.yaml").stat().st_mtime
        ended = (run / "eval" / "results.json").stat().st_mtime
        seed = yaml.safe_load((run / "config.yaml").read_text())["trainer"]["seed"]
        rows.append({"run": str(run), "seed": seed, "top1": round(results["top1"], 2),
                     "mean_class": round(results["mean_class"], 2), "top5": round(results["top5"], 2),
                     "wall_min": round((ended - started) / 60, 1), "clips": results["clips"],
                     "per_class": {r["class"]: round(r["accuracy"], 1) for r in results.get("per_class", [])}})
    return rows


@app.command()
def seeds(run_dirs: list[Path]) -> None:
    """Per-seed figures and the median of a recipe's runs."""
    rows = seed_rows(run_dirs)
    median = statistics.median(r["top1"] for r in rows)
    summary = {"rows": rows, "median_top1": median, "published": PUBLISHED}
    _out("seeds.json").write_text(json.dumps(summary, indent=2))
    lines = ["| seed | test top-1 | mean-class | top-5 | wall time (min) |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['seed']} | {r['top1']:.2f} | {r['mean_class']:.2f} | {r['top5']:.2f} | {r['wall_min']:.0f} |"
              for r in rows]
    lines.append(f"| **median** | **{median:.2f}** | | | |")
    _out("seeds.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def recipe_overrides(recipe: str | None) -> list[str]:
    """Dot-list overrides that turn the Penn Action config into an earlier recipe of the skeleton_speed suite
    (None: none, the config as it is)."""
    from benchmarks.suites.skeleton_speed import EARLIER_RECIPES

    return [f"model.{k}={v}" for k, v in (EARLIER_RECIPES[recipe] if recipe else {}).items()]


def recipe_epoch_times(recipe: str | None, epochs: int, out_dir: Path) -> list[float]:
    """``time/epoch_s`` of each epoch of the Penn Action recipe (``recipe``: an earlier one of the skeleton_speed
    suite, e.g. ``"v10"``; None = the config as it is), trained in a fresh process without the test."""
    import subprocess

    from benchmarks.suites.skeleton_speed import CONFIG

    overrides = recipe_overrides(recipe) + [f"trainer.max_epochs={epochs}", "trainer.check_val_every_n_epoch=1000", f"trainer.out_dir={out_dir}"]
    code = ("import sys; from deformer3d.engine.train import train_from_config; "
            "train_from_config(sys.argv[1], sys.argv[2:], evaluate=False)")
    subprocess.run([sys.executable, "-c", code, str(repo_root() / CONFIG), *overrides], check=True,
                   cwd=repo_root(), stdout=subprocess.DEVNULL)
    history = json.loads((out_dir / "history.json").read_text())
    return [r["time/epoch_s"] for r in history]


@app.command("epoch-time")
def epoch_time(
    recipes: Annotated[str, typer.Option(help="comma-separated: earlier recipes of the skeleton_speed suite "
                                              "(v5, v10, v14) and 'now' (the config as it is)")] = "v10,v14",
    epochs: int = 3,
    repeats: int = 2,
) -> None:
    """Training epoch wall time of Penn Action recipes: the median over epochs after the first (the first also
    starts the loader worker and warms up) and over ``repeats`` rounds, the recipes alternating."""
    import tempfile

    from benchmarks.common import machine_info, machine_line
    from benchmarks.suites.skeleton_speed import CONFIG
    from deformer3d.config import load_config

    names = [r.strip() for r in recipes.split(",") if r.strip()]
    machine = machine_info()  # before the trainings: its load average is the machine's, not ours
    threads = load_config(repo_root() / CONFIG).trainer.num_threads
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for name in names:
                run = Path(tmp) / f"{name}_{i}"
                times[name] += recipe_epoch_times(None if name == "now" else name, epochs, run)[1:]
    medians = {k: statistics.median(v) for k, v in times.items()}
    first = names[0]
    summary = {"machine": machine, "trainer_threads": threads, "epochs": epochs, "repeats": repeats,
               "epoch_s": times, "median_epoch_s": medians,
               "speedup_vs_first": {k: medians[first] / m for k, m in medians.items()}}
    _out("epoch_time.json").write_text(json.dumps(summary, indent=2))
    lines = [machine_line(summary["machine"]), "",
             f"| recipe | epoch wall time (median) | epochs timed | range | {first}'s time / this |",
             "|---|---:|---:|---|---:|"]
    lines += [f"| {k} | {medians[k]:.1f} s | {len(v)} | {min(v):.1f}..{max(v):.1f} s | "
              f"{summary['speedup_vs_first'][k]:.2f}x |" for k, v in times.items()]
    lines += ["", f"One epoch = the 1,258 training videos at the recipe's batch size, {threads} torch thread(s) "
              "(`trainer.num_threads`), one loader worker; each recipe trained alone in a fresh process, the recipes "
              "alternating; the machine line's load average is from before the first training."]
    _out("epoch_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def predict_dev(model: Path) -> list[dict]:
    from deformer3d.serve.predictor import Predictor

    predictor = Predictor(model)
    rows = []
    try:
        for clip in dev_clips():
            if not clip.is_file():
                continue
            result = predictor.predict(clip, top_k=5)
            top, p = result.top_k[0]
            rows.append({"clip": f"{clip.parent.name}/{clip.name}", "expected": expected_label(clip), "top1": top,
                         "probability": round(p, 4), "correct": top == expected_label(clip),
                         "top5": [[label, round(q, 4)] for label, q in result.top_k],
                         "seconds": round(sum(result.timings.values()), 2),
                         **window_agreement(predictor, clip)})
            r = rows[-1]
            print(f"{r['clip']:32s} {top:16s} {p:.2f} {'ok' if r['correct'] else 'WRONG'}  windows right "
                  f"{r['windows_right']:.0%} of {r['windows']}, segments {' / '.join(r['segments'])}", flush=True)
    finally:
        predictor.close()
    return rows


def window_agreement(predictor, clip: Path) -> dict:
    """The clip as ``deformer3d predict --timeline`` sees it: the share of its windows (where someone is seen) whose
    top-1 is the clip's action, and the timeline's segment labels. A whole-clip label averages every window; this
    says how often a single window is right, which is what a timeline of an untrimmed video shows. The poses are
    estimated again: the timeline's windows (every stride) are not the frames the predictor's windows sample."""
    import numpy as np

    from deformer3d.serve.timeline import run_timeline

    tl = run_timeline(predictor, clip, progress=False)
    tw = tl.windows[None]
    seen = np.asarray(tw.seen, bool)
    top = np.asarray(tw.probs).argmax(1)[seen]
    right = float((top == tl.labels.index(expected_label(clip))).mean()) if len(top) else 0.0
    return {"windows": int(seen.sum()), "windows_right": round(right, 4), "segments": [s.label for s in tl.segments]}


@app.command()
def wild(model: Annotated[Path | None, typer.Option(help="model folder (default: the bundled model)")] = None) -> None:
    """The predictor (MediaPipe poses, windows) on the development clips."""
    write_wild(predict_dev(model or repo_root() / BUNDLED))


def write_wild(rows: list[dict]) -> None:
    _out("wild.json").write_text(json.dumps(rows, indent=2))
    lines = ["| clip | expected | top-1 | probability | | windows right | timeline segments |",
             "|---|---|---|---:|---|---:|---|"]
    lines += [f"| {r['clip']} | {r['expected']} | {r['top1']} | {r['probability']:.2f} | {'ok' if r['correct'] else 'wrong'} "
              f"| {r['windows_right']:.0%} of {r['windows']} | {' / '.join(r['segments'])} |" for r in rows]
    lines.append(f"\n{sum(r['correct'] for r in rows)} / {len(rows)} correct; a window is right for "
                 f"{sum(r['windows_right'] * r['windows'] for r in rows) / max(sum(r['windows'] for r in rows), 1):.0%} "
                 "of the windows with a person (`windows right`: the timeline's windows of the clip whose top-1 is "
                 "its action)")
    _out("wild.md").write_text("\n".join(lines) + "\n")


@app.command()
def ship(run: Path, out: Annotated[Path | None, typer.Option(help="model folder")] = None) -> None:
    """Export ``run``'s last checkpoint as the bundled model, with its evaluation in config.json."""
    from deformer3d.engine.export import export_checkpoint
    from deformer3d.models.hub import WEIGHTS_NAME, compact_weights, update_config

    folder = out or repo_root() / BUNDLED
    export_checkpoint(run / "checkpoints" / "last.ckpt", folder)
    compact_weights(folder / WEIGHTS_NAME)  # package data: int8 matrices, ~1/4 of float32
    row = seed_rows([run])[0]
    shipped = evaluate_folder(folder, clips=row["clips"])  # the shipped (compact) weights, not the run's
    dev = predict_dev(folder)
    write_wild(dev)
    update_config(folder, evaluation={
        "dataset": "Penn Action, official test split (1,068 videos), the dataset's own 2D joints",
        "views": f"{row['clips']} clips x 2 (mirrored), softmax averaged",
        "seed": row["seed"], **shipped, "training_run_top1": row["top1"],
        "dev_clips": [{k: r[k] for k in ("clip", "expected", "top1", "probability")} for r in dev],
    })
    card = folder / "README.md"
    card.write_text(card.read_text() + penn_card_section(folder))
    print(f"shipped {run} -> {folder}")


def test_probs(folder: Path, clips: int = 5, angles: tuple[float, ...] = (0.0,), phases: tuple[float, ...] = (0.0,)):
    """Softmax over the Penn Action test split of a model folder through its own preprocessing, ``clips`` x 2
    views averaged -> ``(probs (N, K), labels (N,), class names)``; with several ``angles`` (degrees, see
    :func:`rotate_pose`) or ``phases`` (see :func:`shift_phase`) ``probs`` is ``(A, N, K)``, one per setting."""
    import torch

    from deformer3d.data import build_dataset
    from deformer3d.data.preprocessing import data_config_from
    from deformer3d.models.hub import load_model_folder

    model, info = load_model_folder(folder)
    cfg = data_config_from(info["data"])
    cfg.format, cfg.root, cfg.ann_file, cfg.flip = "pennaction", str(realdata_root() / "pennaction"), "labels", True
    cfg.splits = {"test": "test"}
    ds = build_dataset(cfg, "test", need_video=False, need_pose=True, num_clips=clips, flip_views=True)
    settings = [(a, f) for a in angles for f in phases]
    preds, labels = [], []
    with torch.inference_mode():
        for batch in torch.utils.data.DataLoader(ds, batch_size=64):
            views = batch["pose"].flatten(0, 1)
            probs = torch.stack([model(pose=shift_phase(rotate_pose(views, a), f)).logits.softmax(-1)
                                 .unflatten(0, batch["pose"].shape[:2]).mean(1) for a, f in settings])
            preds.append(probs)
            labels.append(batch["label"])
    probs = torch.cat(preds, dim=1)
    return (probs[0] if len(settings) == 1 else probs), torch.cat(labels), ds.class_names


def shift_phase(pose, phase: float):
    """Model-input skeletons ``pose (..., T, J, C)`` played forwards and back in a loop from ``phase`` (0-1) of the
    way round it (``back_and_forth``): 0 = as they are, 0.5 = backwards, in between = starting mid-clip. A trimmed
    clip starts where the action does; a window of an untrimmed video of repetitions starts anywhere in one."""
    from deformer3d.data.sampling import back_and_forth

    if not phase:
        return pose
    return pose[..., back_and_forth(pose.shape[-3], phase), :, :]


def rotate_pose(pose, degrees: float):
    """Model-input skeletons ``pose (..., T, J, 3)`` (person coordinates x, y centred on 0.5, presence) turned by
    ``degrees`` about the person's centre, clockwise on screen (y points down); missing joints stay (0, 0)."""
    import torch

    if not degrees:
        return pose
    t = torch.tensor(degrees * torch.pi / 180)
    rot = torch.stack([torch.stack([t.cos(), -t.sin()]), torch.stack([t.sin(), t.cos()])]).to(pose.dtype)
    xy, present = pose[..., :2], pose[..., 2:] > 0
    turned = torch.where(present, (xy - 0.5) @ rot.T + 0.5, torch.zeros_like(xy))
    return torch.cat([turned, pose[..., 2:]], dim=-1)


ANGLES = (-60.0, -45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0, 60.0)


@app.command()
def rotation(folders: list[Path], clips: int = 1) -> None:
    """Test top-1 of each model folder with every test skeleton turned by fixed angles -> rotation.{json,md,png}.

    Penn Action films its classes from a few typical views; ordinary videos are filmed tilted, and people do the
    same exercise on inclines (an incline push-up is a push-up turned by ~45 degrees). The row at 0 is the plain
    test split at ``clips`` x 2 views."""
    rows = []
    for folder in folders:
        probs, y, names = test_probs(folder, clips, ANGLES)
        top1 = {f"{a:+.0f}": accuracy(p, y, names)["top1"] for a, p in zip(ANGLES, probs, strict=True)}
        rows.append({"model": str(folder), "top1_by_angle": top1})
        print(folder, " ".join(f"{a}: {v:.1f}" for a, v in top1.items()), flush=True)
    _out("rotation.json").write_text(json.dumps({"clips": clips, "rows": rows}, indent=2))
    head = " | ".join(f"{a:+.0f} deg" for a in ANGLES)
    lines = [f"| model | {head} |", "|---" + "|---:" * len(ANGLES) + "|"]
    lines += [f"| {_short_name(r['model'])} | " + " | ".join(f"{v:.1f}" for v in r["top1_by_angle"].values()) + " |"
              for r in rows]
    _out("rotation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot_rotation(rows, clips)


PHASES = (0.0, 0.1, 0.2, 0.3, 0.4)
# Penn Action's classes done in sets of repetitions (the recipe's data.repeated_classes when it has them)
REPEATED = ("bench_press", "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat")


@app.command()
def phase(folders: list[Path], clips: int = 1) -> None:
    """Test top-1 of each model folder with every test clip started elsewhere in its motion -> phase.{json,md,png}.

    Penn Action's clips are trimmed to start where the action starts; a window of an untrimmed video (the timeline,
    ``watch``) of a set of squats starts anywhere in a repetition. Each test clip is played forwards and back in a
    loop from ``phase`` of the way round it (:func:`shift_phase`); the figure that matters is the accuracy on the
    classes done in repetitions (:data:`REPEATED`), the one people film as sets of them."""
    rows = []
    for folder in folders:
        probs, y, names = test_probs(folder, clips, phases=PHASES)
        rep = [names.index(c) for c in REPEATED]
        by_phase = {}
        for f, p in zip(PHASES, probs, strict=True):
            a = accuracy(p, y, names)
            by_phase[f"{f:.1f}"] = {"top1": a["top1"],
                                    "repeated": round(statistics.fmean(a["per_class"][names[i]] for i in rep), 1)}
        rows.append({"model": str(folder), "by_phase": by_phase})
        print(folder, " ".join(f"{k}: {v['top1']:.1f} / {v['repeated']:.1f}" for k, v in by_phase.items()), flush=True)
    _out("phase.json").write_text(json.dumps({"clips": clips, "repeated": list(REPEATED), "rows": rows}, indent=2))
    head = " | ".join(f"{f:.1f}" for f in PHASES)
    lines = [f"Test top-1 % (all classes / mean over the repeated classes: {', '.join(REPEATED)}), each test clip "
             f"started at a phase of its back-and-forth loop ({clips} clip x 2 views)\n",
             f"| model | {head} |", "|---" + "|---:" * len(PHASES) + "|"]
    lines += [f"| {_short_name(r['model'])} | " + " | ".join(f"{v['top1']:.1f} / {v['repeated']:.1f}"
                                                           for v in r["by_phase"].values()) + " |" for r in rows]
    _out("phase.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot_phase(rows, clips)


def plot_phase(rows: list[dict], clips: int) -> None:
    """Accuracy on the repeated classes against the phase, one line per model -> phase.png."""
    from deformer3d.plotting import new_figure, save_figure

    fig, axes = new_figure(width=6.4, height=3.6)
    ax = axes[0, 0]
    for r in rows:
        ax.plot(PHASES, [v["repeated"] for v in r["by_phase"].values()], marker="o", label=_short_name(r["model"]))
    ax.set(xlabel="where the clip starts (fraction of its forwards-and-back loop)",
           ylabel="mean accuracy, repeated classes (%)",
           title=f"Penn Action test split, started mid-motion ({clips} clip x 2 views)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, _out("phase.png"))


def accuracy(probs, y, class_names: list[str]) -> dict:
    """Top-1, mean-class, top-5 and per-class accuracy (%) of ``probs (N, K)`` against ``y (N,)``, by the metrics
    ``deformer3d test`` reports, rounded for the tables."""
    from deformer3d.engine.evaluate import classification_metrics, per_class_rows

    m = classification_metrics(probs, y, len(class_names))
    rows = per_class_rows(m["confusion"], class_names)
    return {"top1": round(m["top1"], 2), "mean_class": round(m["mean_class"], 2), "top5": round(m["top5"], 2),
            "per_class": {r["class"]: round(r["accuracy"], 1) for r in rows}}


def evaluate_folder(folder: Path, clips: int = 5) -> dict:
    """Test-split accuracy of a Penn Action model folder through its own preprocessing, ``clips`` x 2 views."""
    return accuracy(*test_probs(folder, clips))


@app.command()
def ensemble(run_dirs: list[Path], clips: int = 5) -> None:
    """The mean softmax of several runs' last checkpoints on the test split (reported beside the single models,
    never instead of them) -> ensemble.{json,md}."""
    from deformer3d.engine.export import export_checkpoint

    probs, members = [], []
    for run in run_dirs:
        folder = run / "export_last"
        if not (folder / "config.json").is_file():
            export_checkpoint(run / "checkpoints" / "last.ckpt", folder)
        p, y, names = test_probs(folder, clips)
        probs.append(p)
        members.append({"run": str(run), **{k: v for k, v in accuracy(p, y, names).items() if k != "per_class"}})
    result = {"members": members, "ensemble": accuracy(sum(probs) / len(probs), y, names), "clips": clips}
    _out("ensemble.json").write_text(json.dumps(result, indent=2))
    lines = ["| model | test top-1 | mean-class | top-5 |", "|---|---:|---:|---:|"]
    lines += [f"| {m['run']} | {m['top1']:.2f} | {m['mean_class']:.2f} | {m['top5']:.2f} |" for m in members]
    e = result["ensemble"]
    lines.append(f"| **mean softmax of the {len(members)}** | **{e['top1']:.2f}** | {e['mean_class']:.2f} | {e['top5']:.2f} |")
    _out("ensemble.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _short_name(model: str) -> str:
    """``runs/recipe/seed0/export_last`` -> ``recipe/seed0``: what tells the models of one table apart."""
    return "/".join(p for p in Path(model).parts[-3:] if p != "export_last")


def plot_rotation(rows: list[dict], clips: int) -> None:
    """Test top-1 against the angle, one line per model -> rotation.png."""
    from deformer3d.plotting import new_figure, save_figure

    fig, axes = new_figure(width=6.4, height=3.6)
    ax = axes[0, 0]
    for r in rows:
        ax.plot(ANGLES, list(r["top1_by_angle"].values()), marker="o", label=_short_name(r["model"]))
    ax.set(xlabel="every test skeleton turned by (degrees, clockwise)", ylabel="test top-1 (%)",
           title=f"Penn Action test split, turned ({clips} clip x 2 views)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, _out("rotation.png"))


def penn_card_section(folder: Path) -> str:
    """What the generic card cannot know: the data's terms, the recipe, per-class and real-clip results, limits."""
    config = json.loads((folder / "config.json").read_text())
    ev = config["evaluation"]
    per_class = "\n".join(f"| {name} | {acc:.1f} |" for name, acc in ev["per_class"].items())
    dev = "\n".join(f"| {r['clip']} | {r['expected']} | {r['top1']} | {r['probability']:.2f} |" for r in ev["dev_clips"])
    hits = sum(r["top1"] == r["expected"] for r in ev["dev_clips"])
    return f"""
## Penn Action skeleton model (bundled with deformer3d)

- **Data**: Penn Action (Zhang, Zhu, Derpanis, ICCV 2013), the dataset's own 13 annotated 2D joints; official split,
  all 1,258 training videos, tested on the 1,068 test videos. No pretraining, no frames. **Penn Action is for
  research use**: this model inherits its terms; do not use it commercially without clearing them.
- **Recipe** (`configs/pennaction_pose.yaml`, seed {ev['seed']}): the 3D deformable transformer in `modality: pose`
  (joint stride + temporal stride attention, {config['depth']} blocks, width {config['dim']}), inputs = joint, bone
  and motion of each joint in person-centric coordinates (centred on the body, scaled by its size), joint presence
  instead of visibility; random rotation / scale / shear / translation, jitter, dropped joints, temporal crops
  (tempo changes), mirroring; AdamW, cosine, label smoothing; the last epoch is shipped (no model selection).
  Rebuild: `deformer3d train configs/pennaction_pose.yaml trainer.seed={ev['seed']}` then
  `python -m benchmarks.penn_action ship runs/pennaction_pose/seed{ev['seed']}`.
- **Test split**: top-1 **{ev['top1']:.2f}%**, mean-class {ev['mean_class']:.2f}%, top-5 {ev['top5']:.2f}% ({ev['views']}).
  Published skeleton-only: UNIK 97.9, Pr-VIPE 97.5, HDM-BG 93.4.

| class | test accuracy (%) |
|---|---:|
{per_class}

- **Ordinary videos** (MediaPipe poses mapped to Penn's 13 joints, `deformer3d predict CLIP`, windows of 2 s averaged
  over long videos): {hits} / {len(ev['dev_clips'])} development clips right. They are a development set (the
  recipe was looked at on them), not a measure of real-world accuracy.

| clip | action | top-1 | probability |
|---|---|---|---:|
{dev}

- **Limits**: 15 sports / exercise classes only; everything else gets one of them. One main person (MediaPipe's
  pose is single-person; `--persons N` tracks several). Trained on Penn Action's camera views: views far from them
  (incline variants, top-down, heavy occlusion), very small or partly visible people and poor pose estimates cost
  accuracy. Probabilities are not calibrated on real videos.
"""


if __name__ == "__main__":
    sys.exit(app())
