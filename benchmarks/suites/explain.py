"""``python -m benchmarks --suite explain``: the paper's explanation figures (5: deformable sampling points, 6: joint attention).

The model is the studies' full model (seed 0, trained by ``python -m benchmarks --suite ablation``, exported with the engine's
``export_checkpoint``); if that run is missing it is trained first (same cached run). Clips:

- SynthActions test clips of a few classes, with their exact skeletons from the pkl;
- the real clips of ``realdata_root()/videos`` (skipped with a note when absent), skeletons from the MediaPipe
  backend (``deformer3d.pose``) — the figures show where a SynthActions-trained model looks on real footage; its
  class guesses there mean nothing (it knows only the studies' synthetic actions).

Each clip goes through :class:`deformer3d.serve.predictor.Predictor` (the ``predict`` / web-page path) with
``explain=True``; the figures are drawn by ``deformer3d.serve.figures`` and written to ``<out>/explanations/``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from deformer3d.errors import UserError

SYNTH_CLASSES = ("sit_down", "stand_up", "drink", "phone_call")  # classes of the studies' subset
REAL_VIDEOS = ("stgcn_ta_chi.mp4", "stgcn_clean_and_jerk.mp4", "S001C001P001R001A001_rgb.avi")


def explain_model(runs_dir: Path | None = None, train: bool = True) -> tuple[Path, str]:
    """Export the studies' full model (seed 0); returns (exported directory, which checkpoint it is).

    The finished run when there is one (trained first if ``train``); with ``train=False`` and the run still in
    progress, its latest ``last.ckpt`` (an unfinished schedule, said so in the results)."""
    import torch

    from benchmarks.studies.runs import ensure_data, run_key, study_runs, train_run
    from deformer3d.engine.export import export_checkpoint

    runs_dir = runs_dir or study_runs()
    data_dir = ensure_data(runs_dir / "data")
    finished = train_run([], 0, data_dir, runs_dir, train=train) is not None
    run_dir = runs_dir / run_key([], 0)
    ckpt = run_dir / "checkpoints" / ("best.ckpt" if (run_dir / "checkpoints" / "best.ckpt").is_file() else "last.ckpt")
    if not ckpt.is_file():
        raise UserError(f"no checkpoint of the studies' full model under {run_dir}: run `python -m benchmarks --suite "
                        "ablation` (or `--suite explain` with training) first")
    if finished:
        out, what = run_dir / "exported", "finished run"
    else:  # name the export after the checkpoint's epoch: a later, further-trained one must not reuse it
        epoch = torch.load(ckpt, map_location="cpu", weights_only=True).get("epoch", -1) + 1
        out, what = run_dir / f"exported_epoch{epoch}", f"unfinished run: checkpoint after epoch {epoch}"
    if not (out / "model.safetensors").is_file():
        export_checkpoint(ckpt, out)
    return out, what


def synth_clips(data_dir: Path, classes=SYNTH_CLASSES) -> list[tuple[str, Path, tuple]]:
    """(name, video path, (keypoints, scores)) of the first test clip of each class in ``classes``."""
    from benchmarks.studies.catalogue import SUBSET_ANN
    from deformer3d.data import read_pyskl

    data = read_pyskl(data_dir / SUBSET_ANN)
    names = data.get("class_names") or []
    test = set(data["split"]["test"])
    out = []
    for cls in classes:
        label = names.index(cls)
        ann = next(a for a in data["annotations"] if a["frame_dir"] in test and a["label"] == label)
        video = data_dir / ann.get("filename", f"videos/{ann['frame_dir']}.mp4")
        out.append((f"synth_{cls}", video, (ann["keypoint"], ann["keypoint_score"])))
    return out


def save_figures(prediction, stem: Path) -> list[str]:
    from deformer3d.plotting import plt, save_figure
    from deformer3d.serve.figures import explanation_figures

    written = []
    for name, fig in explanation_figures(prediction).items():
        if name in ("deformable", "joints", "frames"):
            written.append(save_figure(fig, stem.parent / f"{stem.name}_{name}.png").name)
        else:
            plt.close(fig)
    return written


def run_explain(out: Path, runs_dir: Path | None = None, train: bool = True) -> dict[str, Any]:
    from benchmarks.common import machine_info, suite_dir, write_results
    from benchmarks.studies.catalogue import DATA
    from benchmarks.studies.runs import study_runs
    from deformer3d.config import realdata_root
    from deformer3d.serve.predictor import Predictor

    t0 = time.perf_counter()
    model_dir, which = explain_model(runs_dir, train)
    predictor = Predictor(model_dir)
    d = suite_dir(out, "explanations")
    clips: list[dict[str, Any]] = []
    sources = [(n, v, s, "SynthActions (exact skeleton)") for n, v, s in synth_clips((runs_dir or study_runs()) / "data")]
    root = realdata_root()
    note = None
    for name in REAL_VIDEOS:
        if (root / "videos" / name).is_file():
            sources.append((f"real_{Path(name).stem}", root / "videos" / name, None, "real (MediaPipe skeleton)"))
    if not any(s[3].startswith("real") for s in sources):
        note = f"real clips skipped: {root}/videos not found (set DEFORMER3D_REALDATA)"
    for name, video, skeleton, kind in sources:
        try:
            pred = predictor.predict(video, skeleton=skeleton, explain=True, top_k=3)
        except Exception as exc:  # e.g. MediaPipe not installed: note it, keep the other clips
            clips.append({"name": name, "video": video.name, "kind": kind, "error": str(exc).splitlines()[0]})
            continue
        files = save_figures(pred, d / name)
        clips.append({"name": name, "video": video.name, "kind": kind, "files": files,
                      "top3": [[label, round(p, 4)] for label, p in pred.top_k]})
    lines = ["# Explanations (paper figs. 5 and 6)", "",
             f"Model: the studies' full model ({len(DATA['classes'])}-class SynthActions subset at {DATA['size']} px, "
             f"seed 0; {which}), "
             f"`{os.path.relpath(model_dir)}`.",
             "",
             "| clip | kind | top-3 | figures |", "|---|---|---|---|"]
    for c in clips:
        if "error" in c:
            lines.append(f"| {c['video']} | {c['kind']} | — | error: {c['error']} |")
        else:
            top = ", ".join(f"{label} {p:.2f}" for label, p in c["top3"])
            lines.append(f"| {c['video']} | {c['kind']} | {top} | " + ", ".join(
                f"[{f.split('_')[-1][:-4]}]({f})" for f in c["files"]) + " |")
    lines += ["", "Deformable figure: the last block's sampling points on the frames nearest their t, colour and size "
              "= attention the point received. Joint figure: attention mass per joint and frame (last block).",
              "Real clips: the model was trained on SynthActions only, so its labels there are meaningless; the "
              "figures show the mechanisms on real footage."]
    if note:
        lines.append(note)
    payload = {"suite": "explain", "machine": machine_info(), "model_dir": str(model_dir), "checkpoint": which,
               "clips": clips,
               "note": note, "duration_s": time.perf_counter() - t0}
    write_results(d, payload, "\n".join(lines))
    print(json.dumps([{k: c.get(k) for k in ("name", "top3", "error")} for c in clips], indent=1))
    return payload
