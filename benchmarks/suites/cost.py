"""``python -m benchmarks --suite cost``: parameters, FLOPs, latency and peak memory of every model at its standard input.

Each model is measured in a fresh Python subprocess (``python -m benchmarks.suites.cost --worker SPEC``) so
its peak memory is not mixed with another model's and a crash in one does not lose the others. Inside it:

1. build the model (random init, eval mode) and a batch-1 input of the model's standard size;
2. count parameters and FLOPs (``deformer3d.models.flops``: ``torch.utils.flop_counter``; 1 multiply-add = 2 FLOPs);
3. CPU latency: warm-up, then repeated ``torch.inference_mode`` forwards, as many as fit in a time budget
   (at least 3); median and inter-quartile range;
4. CPU peak memory: the kernel's resident-set high-water mark during one forward, minus the RSS before it
   (see :func:`benchmarks.common.peak_rss`) — activations and workspace, not the weights;
5. with CUDA: the same on the GPU in bf16 autocast (SDPA attention), eager and ``torch.compile``, timed with
   synchronisation, peak from ``torch.cuda.max_memory_allocated``. Without CUDA these columns say so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    fmt,
    machine_info,
    machine_line,
    markdown_table,
    si,
    suite_dir,
    write_results,
)
from benchmarks.paths import repo_root
from deformer3d.plotting import new_figure, save_figure

NUM_CLASSES = 60  # NTU RGB+D 60 head for every model, so the heads are comparable


@dataclass
class CostSpec:
    """One model at one input: ``video (1, 3, T, S, S)`` and/or ``pose (1, T, R, 3)``."""

    label: str
    model_cfg: dict[str, Any]
    frames: int
    image_size: int
    joints: int = 0  # R = persons x joints; 0 = the model takes no pose
    budget_s: float = 40.0  # latency budget (repeats = budget / one forward, >= 3)
    extra: dict[str, Any] = field(default_factory=dict)


def default_specs() -> list[CostSpec]:
    """The models of the comparison at their standard inputs (paper preset: 12 frames, 224 px, NTU 2 x 25 joints)."""
    return [
        CostSpec("deformer3d-tiny", {"name": "deformer3d", "preset": "tiny"}, 8, 112, 17, budget_s=20),
        CostSpec("deformer3d-paper", {"name": "deformer3d", "preset": "paper", "num_joints": 25}, 12, 224, 50,
                 budget_s=45),
        CostSpec("timesformer-base", {"name": "timesformer", "preset": "base"}, 8, 224, 0, budget_s=45),
        CostSpec("vivit-b", {"name": "vivit", "preset": "base"}, 32, 224, 0, budget_s=90),
    ]


# --------------------------------------------------------------------------------------------------- worker


def _gpu_measure(spec: CostSpec, model, kwargs) -> dict[str, Any]:
    """bf16 autocast + SDPA on CUDA, eager and torch.compile."""
    import torch

    from benchmarks.common import time_fn

    model = model.cuda()
    kwargs = {k: v.cuda() for k, v in kwargs.items()}
    res: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "dtype": "bf16 autocast"}
    for variant, m in (("eager", model), ("compile", torch.compile(model))):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()

        def fwd(m=m):
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                m(**kwargs)

        timing = time_fn(fwd, warmup=3, budget_s=10, min_repeats=10, max_repeats=200, sync=torch.cuda.synchronize)
        res[variant] = {
            **timing.to_dict(),
            "peak_mib": (torch.cuda.max_memory_allocated() - base) / 2**20,
        }
    return res


def measure_one(spec: CostSpec) -> dict[str, Any]:
    """Measure one model in this process (the worker's body)."""
    import torch

    from benchmarks.common import peak_rss, random_clip, time_fn
    from deformer3d.models import build_model
    from deformer3d.models.flops import count_flops, count_params

    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = build_model(dict(spec.model_cfg), NUM_CLASSES).eval()
    build_s = time.perf_counter() - t0
    kwargs = random_clip(model, 1, spec.frames, spec.image_size, spec.joints)
    params = count_params(model)
    with torch.inference_mode():
        flops = count_flops(model, **kwargs)

    def fwd():
        with torch.inference_mode():
            model(**kwargs)

    with peak_rss() as mem:  # the FLOP count already ran one forward: this one is warm
        fwd()
    # warm-up = the two forwards above (FLOP count, memory); the budget sets the number of timed repeats
    timing = time_fn(fwd, warmup=0, budget_s=spec.budget_s, min_repeats=3, max_repeats=30)
    result: dict[str, Any] = {
        "label": spec.label,
        "spec": asdict(spec),
        "params": params,
        "flops": flops,
        "build_s": build_s,
        "input": {k: list(v.shape) for k, v in kwargs.items()},
        "cpu": {**timing.to_dict(), "peak_mib": mem.peak_mib, "memory_method": mem.method},
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        result["gpu"] = _gpu_measure(spec, model, kwargs)
    else:
        result["gpu"] = {"note": "not measured: no GPU"}
    return result


def _run_worker(spec: CostSpec, timeout_s: float = 1800) -> dict[str, Any]:
    """Run :func:`measure_one` in a fresh interpreter; returns its JSON or an error record."""
    cmd = [sys.executable, "-m", "benchmarks.suites.cost", "--worker", json.dumps(asdict(spec))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=repo_root())
    except subprocess.TimeoutExpired:
        return {"label": spec.label, "error": f"timed out after {timeout_s:.0f} s"}
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"label": spec.label, "error": f"worker exited {proc.returncode}: " + " | ".join(tail)}


# --------------------------------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def cost_markdown(results: list[dict[str, Any]], machine: dict[str, Any], reference: str) -> str:
    ref = next((r for r in results if r.get("label") == reference and "error" not in r), None)
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["label"], *["—"] * 9, f"failed: {r['error']}"])
            continue
        cpu = r["cpu"]
        shape = " + ".join(f"{k} {'x'.join(map(str, v[1:]))}" for k, v in r["input"].items())
        rows.append(
            [
                r["label"],
                shape,
                si(r["params"]),
                si(r["flops"]),
                _ms(cpu["median_ms"]),
                f"{_ms(cpu['iqr_ms'])} (n={cpu['n']})",
                f"{cpu['peak_mib']:.0f}",
                fmt(_ratio(r["params"], ref and ref["params"])),
                fmt(_ratio(r["flops"], ref and ref["flops"])),
                fmt(_ratio(cpu["median_ms"], ref and ref["cpu"]["median_ms"])),
                _gpu_cell(r["gpu"]),
            ]
        )
    head = [
        "model",
        "input (batch 1)",
        "params",
        "FLOPs",
        "CPU latency (median)",
        "IQR",
        "CPU peak MiB",
        f"params / {reference}",
        f"FLOPs / {reference}",
        f"latency / {reference}",
        "GPU (bf16, eager / compile)",
    ]
    return "\n".join(
        [
            "# Cost: parameters, FLOPs, latency, memory (batch 1)",
            "",
            machine_line(machine),
            "",
            markdown_table(head, rows),
            "",
            "FLOPs from `torch.utils.flop_counter` (a multiply-add counts 2). Latency: repeated forwards in "
            "`torch.inference_mode` after warm-up, median and inter-quartile range over n runs. Peak memory: the "
            "resident-set high-water mark during one forward minus the RSS before it (activations and workspace, "
            "weights excluded), each model in a fresh subprocess. Other work on the CPU shows in the latencies: read "
            "the IQR and the load average above (with a load above the core count they are upper bounds); "
            "parameters, FLOPs and memory do not depend on the load.",
        ]
    )


def _ms(value: float) -> str:
    return f"{value / 1e3:.3g} s" if value >= 1000 else f"{value:.3g} ms"


def _gpu_cell(gpu: dict[str, Any]) -> str:
    if "eager" not in gpu:
        return gpu.get("note", "—")
    return f"{gpu['eager']['median_ms']:.3g} / {gpu['compile']['median_ms']:.3g} ms"


def cost_plot(results: list[dict[str, Any]], path: Path) -> Path:
    ok = [r for r in results if "error" not in r]
    fig, axes = new_figure(ncols=3, width=4.2, height=3.6)
    labels = [r["label"] for r in ok]
    series = [
        ("GFLOPs per clip", [r["flops"] / 1e9 for r in ok], None),
        ("CPU latency (s), median + IQR", [r["cpu"]["median_ms"] / 1e3 for r in ok],
         [[(r["cpu"]["median_ms"] - r["cpu"]["q1_ms"]) / 1e3 for r in ok],
          [(r["cpu"]["q3_ms"] - r["cpu"]["median_ms"]) / 1e3 for r in ok]]),
        ("CPU peak memory (MiB)", [r["cpu"]["peak_mib"] for r in ok], None),
    ]
    colors = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974"]
    for ax, (title, vals, err) in zip(axes[0], series, strict=True):
        ax.bar(range(len(vals)), vals, yerr=err, color=colors[: len(vals)], capsize=4)
        ax.set_xticks(range(len(vals)), labels, rotation=25, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        for i, v in enumerate(vals):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=7)
    return save_figure(fig, path)


def run_cost(out: Path, specs: list[CostSpec] | None = None, reference: str = "timesformer-base") -> dict:
    """Measure every spec (each in a subprocess) and write ``out/cost/results.{json,md}`` + ``cost.png``."""
    from rich.progress import Progress

    specs = specs if specs is not None else default_specs()
    machine = machine_info()
    results = []
    t0 = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task("cost", total=len(specs))
        for spec in specs:
            progress.update(task, description=f"cost: {spec.label}")
            results.append(_run_worker(spec))
            progress.advance(task)
    payload = {
        "suite": "cost",
        "machine": machine,
        "reference": reference,
        "num_classes": NUM_CLASSES,
        "results": results,
        "duration_s": time.perf_counter() - t0,
    }
    d = suite_dir(out, "cost")
    write_results(d, payload, cost_markdown(results, machine, reference))
    if any("error" not in r for r in results):
        cost_plot(results, d / "cost.png")
    return payload


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", required=True, help="JSON CostSpec")
    args = parser.parse_args()
    spec = CostSpec(**json.loads(args.worker))
    print(json.dumps(measure_one(spec)))


if __name__ == "__main__":
    _main()
