"""``python -m benchmarks --suite onnx``: CPU latency per clip, PyTorch eager vs ONNX Runtime, same model, same run.

Three models, each written as a model folder and exported with ``deformer3d export --onnx``'s code
(:func:`deformer3d.models.onnx.export_onnx`: dynamo exporter, opset 20, dynamic batch):

- **tiny** -- the ``tiny`` preset, RGB + pose (the demo model's kind; 8 frames x 112 px, 17 joints), random weights;
- **pose** -- the bundled Penn Action skeleton model (``src/deformer3d/pretrained/penn-action-pose``, trained weights,
  ``configs/pennaction_pose.yaml`` geometry: pose only, d = 96, 3 blocks, 16 frames x 13 joints); the recipe's model
  randomly initialised where the package lacks it;
- **paper** -- the ``paper`` preset with NTU skeletons as in the cost suite (RGB + pose, 12 frames x 224 px, 2 persons
  x 25 joints = 50 pose tokens), random weights.

One clip (batch 1) per call: PyTorch is ``model(video=..., pose=...)`` in ``torch.inference_mode`` (what
``predict --runtime torch`` runs), ONNX Runtime is :class:`deformer3d.serve.onnx_runtime.OnnxModel` (what
``predict --runtime onnx`` runs: input checks + ``InferenceSession.run`` on the CPU execution provider, default graph
optimisations). Both get the same number of threads (``torch.set_num_threads`` / ``intra_op_num_threads``). After
warm-up the two runtimes alternate call by call (round r: torch then ONNX for even r, ONNX then torch for odd r), so a
change in the machine's load hits both alike; the table gives the median, the inter-quartile range and min..max of
the same rounds, and the median of the per-round ratios (paired, the most load-robust figure). Every round's logits
of the two runtimes are compared (max abs difference), so a speed-up never comes from computing something else.
The 1/5/15-minute load averages are recorded before each model and at the end (``os.getloadavg``, = ``uptime``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    load_note,
    machine_info,
    machine_line,
    markdown_table,
    random_clip,
    si,
    suite_dir,
    summarize,
    write_results,
)

SUITE = "onnx"
PENN_CONFIG = "configs/pennaction_pose.yaml"
PENN_CLASSES = 15
BUNDLED_POSE = "penn-action-pose"

# label -> how to get the model, and the rounds (one torch + one ONNX call each) it is timed for
MODELS: dict[str, dict[str, Any]] = {
    "tiny": {"model": {"name": "deformer3d", "preset": "tiny", "modality": "rgb_pose"}, "num_classes": 60,
             "rounds": 30, "warmup": 3},
    "pose": {"bundled": BUNDLED_POSE, "rounds": 30, "warmup": 3},
    "paper": {"model": {"name": "deformer3d", "preset": "paper", "modality": "rgb_pose", "num_joints": 25},
              "preprocessing": {"layout": "ntu25", "max_persons": 2}, "num_classes": 60, "rounds": 5, "warmup": 1},
}
# --dry-run sizes: the same code path on models small enough for a unit test
DRY_RUN: dict[str, dict[str, Any]] = {
    "tiny-mini": {"model": {"name": "deformer3d", "preset": "tiny", "modality": "rgb_pose", "depth": 1,
                            "num_frames": 4, "image_size": 32}, "num_classes": 5, "rounds": 2, "warmup": 1},
    "pose-mini": {"model": {"name": "deformer3d", "preset": "tiny", "modality": "pose", "depth": 1,
                            "num_frames": 4, "num_joints": 13}, "num_classes": 5, "rounds": 2, "warmup": 1},
}


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _model_folder(spec: dict[str, Any], folder: Path) -> tuple[torch.nn.Module, str]:
    """Write the model folder the export reads; ``(model, where its weights come from)``."""
    from deformer3d.models import build_model
    from deformer3d.models.hub import (
        default_preprocessing,
        folder_config,
        load_model_folder,
        save_model_folder,
    )

    if "bundled" in spec:
        from deformer3d.pretrained import bundled_models

        bundled = bundled_models().get(spec["bundled"])
        if bundled is not None and (bundled / "model.safetensors").is_file():
            shutil.copytree(bundled, folder)  # export_onnx writes into the folder: the package stays as shipped
            model, _ = load_model_folder(folder)
            return model, f"bundled {spec['bundled']} (trained)"
        from deformer3d.config import load_config

        torch.manual_seed(0)
        model = build_model(dict(load_config(PENN_CONFIG).model), PENN_CLASSES).eval()
        save_model_folder(model, folder)
        return model, f"{PENN_CONFIG} model, random weights ({spec['bundled']} not in this installation)"
    torch.manual_seed(0)
    model = build_model(dict(spec["model"]), int(spec["num_classes"])).eval()
    pre = {**default_preprocessing(*folder_config(model)), **spec.get("preprocessing", {})}  # the clip traced
    save_model_folder(model, folder, preprocessing=pre)
    return model, "random (seed 0)"


def _timing(times_ms: list[float]) -> dict[str, Any]:
    t = summarize(times_ms)
    return {**t.to_dict(), "max_ms": max(times_ms)}


def measure_model(label: str, spec: dict[str, Any], threads: int, work: Path) -> dict[str, Any]:
    """Export one model and time it in both runtimes, interleaved; returns its record."""
    import onnxruntime as ort

    from deformer3d.models.flops import count_params
    from deformer3d.models.onnx import export_onnx
    from deformer3d.serve.onnx_runtime import OnnxModel

    load_before = _loadavg()
    folder = work / label
    model, weights = _model_folder(spec, folder)
    t0 = time.perf_counter()
    path = export_onnx(model, folder)
    export_s = time.perf_counter() - t0
    entry = json.loads((folder / "config.json").read_text())["onnx"]
    runner = OnnxModel(path, entry, threads=threads)
    x = random_clip(model, 1, entry["num_frames"], entry["image_size"], entry.get("num_tokens") or 1)

    def run_torch() -> torch.Tensor:
        with torch.inference_mode():
            return model(**x).logits

    def run_onnx() -> torch.Tensor:
        return runner(**x).logits

    calls = {"torch": run_torch, "onnx": run_onnx}
    for _ in range(int(spec["warmup"])):
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {"torch": [], "onnx": []}
    max_diff = 0.0
    for r in range(int(spec["rounds"])):
        out = {}
        for name in (("torch", "onnx") if r % 2 == 0 else ("onnx", "torch")):
            t = time.perf_counter()
            out[name] = calls[name]()
            times[name].append((time.perf_counter() - t) * 1e3)
        max_diff = max(max_diff, float((out["onnx"] - out["torch"]).abs().max()))
    ratios = [a / b for a, b in zip(times["torch"], times["onnx"], strict=True)]
    return {
        "label": label,
        "model": model.config.to_dict(),  # type: ignore[union-attr]
        "weights": weights,
        "params": count_params(model),
        "input": {k: list(v.shape) for k, v in x.items()},
        "onnx_file_mib": path.stat().st_size / 2**20,
        "opset": entry["opset"],
        "export_s": export_s,
        "rounds": int(spec["rounds"]),
        "warmup": int(spec["warmup"]),
        "torch": _timing(times["torch"]),
        "onnx": _timing(times["onnx"]),
        "speedup_of_medians": statistics.median(times["torch"]) / statistics.median(times["onnx"]),
        "speedup_paired_median": statistics.median(ratios),
        "max_abs_logit_diff": max_diff,
        "load_avg_before": load_before,
        "onnxruntime": ort.__version__,
    }


def _cell(t: dict[str, Any]) -> str:
    return (f"{t['median_ms']:.1f} ({t['q1_ms']:.1f}..{t['q3_ms']:.1f}; {t['min_ms']:.1f}..{t['max_ms']:.1f}, "
            f"n={t['n']})")


def onnx_markdown(payload: dict[str, Any]) -> str:
    machine = payload["machine"]
    rows = []
    for r in payload["results"]:
        rows.append([
            r["label"], r["weights"], ", ".join(f"{k} {'x'.join(map(str, v[1:]))}" for k, v in r["input"].items()),
            si(r["params"]), _cell(r["torch"]), _cell(r["onnx"]), f"{r['speedup_of_medians']:.2f}x",
            f"{r['speedup_paired_median']:.2f}x", f"{r['max_abs_logit_diff']:.1e}",
            f"{r['export_s']:.0f} s, {r['onnx_file_mib']:.1f} MiB",
        ])
    loads = "; ".join(f"before {r['label']}: {r['load_avg_before']}" for r in payload["results"])
    dry = "**DRY RUN** (mini models, 2 rounds: checks the code path; the figures mean nothing). " \
        if payload.get("dry_run") else ""
    return "\n".join([
        "# ONNX Runtime vs PyTorch eager: CPU latency per clip (batch 1)",
        "",
        machine_line(machine),
        "",
        f"{dry}{payload['threads']} thread{'s' * (payload['threads'] != 1)} for each runtime (torch.set_num_threads / ORT intra_op_num_threads); "
        f"onnxruntime {payload['onnxruntime']}, CPUExecutionProvider; torch {machine['torch']}. Load averages "
        f"(1, 5, 15 min) {loads}; at the end: {payload['load_avg_end']}.",
        "",
        markdown_table(["model", "weights", "input (batch 1)", "params", "PyTorch eager ms: median (IQR; min..max, n)",
                        "ONNX Runtime ms: median (IQR; min..max, n)", "speed-up (medians)",
                        "speed-up (paired, median of rounds)", "max |logit diff|", "export, model.onnx"], rows),
        "",
        "Per clip = one forward of batch 1 after warm-up. The two runtimes alternate call by call (torch first in "
        "even rounds, ONNX first in odd ones), so both see the same load; the paired speed-up is the median over "
        "rounds of torch time / ONNX time. ONNX Runtime is timed through the toolkit's runner (input checks + "
        "InferenceSession.run), PyTorch through the model in inference mode. With a load average above the core "
        "count the figures are upper bounds.",
    ])


def onnx_plot(payload: dict[str, Any], path: Path) -> Path:
    from deformer3d.plotting import new_figure, save_figure

    results = payload["results"]
    fig, axes = new_figure(ncols=len(results), width=3.2, height=3.2)
    for ax, r in zip(axes[0], results, strict=True):
        med = [r[k]["median_ms"] for k in ("torch", "onnx")]
        err = [[r[k]["median_ms"] - r[k]["q1_ms"] for k in ("torch", "onnx")],
               [r[k]["q3_ms"] - r[k]["median_ms"] for k in ("torch", "onnx")]]
        ax.bar([0, 1], med, yerr=err, color=["#4c72b0", "#55a868"], capsize=4)
        ax.set_xticks([0, 1], ["PyTorch\neager", "ONNX\nRuntime"])
        ax.set_ylabel("ms per clip (median, IQR)")
        ax.set_title(f"{r['label']} ({si(r['params'])} params)", fontsize=10)
        for i, v in enumerate(med):  # inside the bar: the IQR whisker sits on its top
            ax.annotate(f"{v:.0f} ms", (i, v / 2), ha="center", va="center", fontsize=8, color="white")
    return save_figure(fig, path)


def run_onnx_latency(out: Path, models: dict[str, dict[str, Any]] | None = None, threads: int = 2,
                     dry_run: bool = False) -> dict[str, Any]:
    """Measure every model; write ``out/onnx/results.{json,md}`` + ``onnx.png``. ``dry_run``: mini models, 2
    rounds (the test's path)."""
    import onnxruntime as ort

    specs = models or (DRY_RUN if dry_run else MODELS)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        machine = machine_info()  # after set_num_threads: it records the torch threads the timing used
        t0 = time.perf_counter()
        results = []
        with tempfile.TemporaryDirectory(prefix="onnx-bench-") as tmp:
            for label, spec in specs.items():
                print(f"onnx: {label} ...", flush=True)
                results.append(measure_model(label, spec, threads, Path(tmp)))
    finally:
        torch.set_num_threads(previous)
    payload = {"suite": SUITE, "machine": machine, "threads": threads, "dry_run": dry_run,
               "onnxruntime": ort.__version__, "results": results, "load_avg_end": _loadavg(),
               "load_note": load_note(machine), "duration_s": time.perf_counter() - t0}
    d = suite_dir(out, SUITE)
    write_results(d, payload, onnx_markdown(payload))
    onnx_plot(payload, d / "onnx.png")
    return payload


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.suites.onnx_latency [--dry-run] [--out DIR]`` (the suite runner calls
    :func:`run_onnx_latency` directly)."""
    import argparse

    from benchmarks.paths import results_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="mini models, 2 rounds")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    run_onnx_latency(args.out or results_dir(), threads=args.threads, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
