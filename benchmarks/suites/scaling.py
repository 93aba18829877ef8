"""``python -m benchmarks --suite scaling``: how the attention modules' cost grows (the paper's appendix A1 / A2 as curves).

The model's own modules (``deformer3d.models.attention``) at paper width (d = 256, 8 heads), batch 1, random
tokens, ``torch.inference_mode``:

- **space-time**: :class:`DeformableAttention3D` in ``deformable`` mode (kernel (3, 7, 7), stride (1, 3, 3), the
  paper preset) vs ``full`` mode (every RGB token attends to every RGB token), on a 14 x 14 token grid (a 112 px
  clip; 224 px would make full attention at T = 64 a 50k-token sequence) plus M_RGB and M_CLS per frame, as T
  grows 8..64;
- **temporal**: :class:`TemporalStrideAttention` with a window of 4 frames (stride 2) vs one window over all T
  frames, D_n = 14 x 14 + 17 + 3 tokens per frame, T = 8..64;
- **joint**: :class:`JointStrideAttention` with a window of 8 joints (stride 4) vs all joints, 12 frames, 17 joints
  per person plus M_pose and M_CLS, persons 1..8.

For each point: attention FLOPs (the ``Q K^T`` and ``A V`` products inside SDPA, from the FLOP counter), the
module's total FLOPs, CPU time (median of repeats) and peak extra RSS of a forward. The growth exponent is the
slope of a least-squares line in log-log space; it is checked against the complexity claimed for each module
(stride attention linear, full attention quadratic) within ``TOLERANCE``. The 3D deformable module's keys are a
strided grid that also grows with T, so its attention is quadratic in T too, with a constant factor
``h w / (h~ w~)`` fewer keys than full attention: we check exponent 2 and report the measured ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmarks.common import (
    exponent_check,
    fit_power_law,
    machine_info,
    machine_line,
    markdown_table,
    peak_rss,
    si,
    suite_dir,
    time_fn,
    write_results,
)
from deformer3d.plotting import new_figure, save_figure

DIM = 256  # paper width d
HEADS = 8
GRID = 14  # RGB token grid h = w (112 px clip / 8)
JOINTS = 17
TOLERANCE = 0.25  # |measured exponent - claimed exponent| allowed for the FLOP check
FRAMES = [8, 16, 24, 32, 48, 64]
PERSONS = [1, 2, 3, 4, 6, 8]
POSE_FRAMES = 12


@dataclass
class Curve:
    """One module variant measured along one axis."""

    name: str  # e.g. "3D deformable"
    group: str  # space-time | temporal | joint
    axis: str  # "T" or "persons"
    claimed: float  # claimed growth exponent of the attention FLOPs
    claim_text: str
    build: Callable[[], nn.Module]
    inputs: Callable[[int], dict[str, torch.Tensor]]
    values: list[int]


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def curves(frames: list[int] | None = None, persons: list[int] | None = None, grid: int = GRID) -> list[Curve]:
    from deformer3d.models.attention import (
        DeformableAttention3D,
        JointStrideAttention,
        TemporalStrideAttention,
    )

    frames = frames or FRAMES
    persons = persons or PERSONS
    per_frame = grid * grid + JOINTS + 3  # D_n = h*w + R + 3 modal tokens

    def spacetime(t: int) -> dict[str, torch.Tensor]:
        return {"z": _rand(1, t, grid, grid, DIM), "side": _rand(1, t, 2, DIM)}

    def temporal(t: int) -> dict[str, torch.Tensor]:
        return {"tokens": _rand(1, t, per_frame, DIM)}

    def joint(p: int) -> dict[str, torch.Tensor]:
        return {"pose": _rand(1, POSE_FRAMES, p * JOINTS, DIM), "side": _rand(1, POSE_FRAMES, 2, DIM)}

    return [
        Curve("3D deformable", "space-time", "T", 2.0, "quadratic, ~h w / (h~ w~) x fewer keys than full",
              lambda: DeformableAttention3D(DIM, HEADS, "deformable", (3, 7, 7), (1, 3, 3)), spacetime, frames),
        Curve("full space-time", "space-time", "T", 2.0, "quadratic",
              lambda: DeformableAttention3D(DIM, HEADS, "full"), spacetime, frames),
        Curve("temporal stride (w=4)", "temporal", "T", 1.0, "linear",
              lambda: TemporalStrideAttention(DIM, HEADS, 4), temporal, frames),
        Curve("full temporal", "temporal", "T", 2.0, "quadratic",
              lambda: TemporalStrideAttention(DIM, HEADS, None), temporal, frames),
        Curve("joint stride (w=8)", "joint", "persons", 1.0, "linear",
              lambda: JointStrideAttention(DIM, HEADS, 8), joint, persons),
        Curve("full joint", "joint", "persons", 2.0, "quadratic",
              lambda: JointStrideAttention(DIM, HEADS, None), joint, persons),
    ]


def measure_point(
    module: nn.Module, inputs: dict[str, torch.Tensor], budget_s: float, min_repeats: int = 3
) -> dict[str, Any]:
    """FLOPs (attention core and total), time and peak memory of one forward of ``module(**inputs)``."""
    from deformer3d.models.flops import count_flops_by_op

    by_op = count_flops_by_op(module, **inputs)
    attn = sum(n for op, n in by_op.items() if "attention" in op)

    def fwd():
        with torch.inference_mode():
            module(**inputs)

    fwd()  # warm-up (allocator, kernels)
    with peak_rss() as mem:
        fwd()
    timing = time_fn(fwd, warmup=0, budget_s=budget_s, min_repeats=min_repeats, max_repeats=15)
    return {
        "attention_flops": attn,
        "total_flops": sum(by_op.values()),
        "time": timing.to_dict(),
        "peak_mib": mem.peak_mib,
        "memory_method": mem.method,
    }


def fit_curve(xs: list[int], points: list[dict[str, Any]]) -> dict[str, Any]:
    """Log-log exponents of attention FLOPs, total FLOPs, time and memory along the curve."""
    out: dict[str, Any] = {}
    series = {
        "attention_flops": [p["attention_flops"] for p in points],
        "total_flops": [p["total_flops"] for p in points],
        "time": [p["time"]["median_ms"] for p in points],
        "memory": [p["peak_mib"] for p in points],
    }
    for key, ys in series.items():
        keep = [(x, y) for x, y in zip(xs, ys, strict=True) if y and y > 0]
        if len({x for x, _ in keep}) >= 2:
            fit = fit_power_law([x for x, _ in keep], [y for _, y in keep])
            out[key] = {"exponent": fit.exponent, "r2": fit.r2, "log_c": fit.log_c}
        else:
            out[key] = None
    return out


def scaling_markdown(results: list[dict[str, Any]], machine: dict[str, Any], spacetime_ratio: list) -> str:
    head = ["module", "axis", "claimed", "attention-FLOPs exponent", f"check (±{TOLERANCE})",
            "total-FLOPs exp.", "time exp.", "memory exp.", "attention FLOPs at max", "time at max (median, IQR)"]
    rows = []
    for r in results:
        f = r["fit"]
        last = r["points"][-1]
        exp = f["attention_flops"]["exponent"] if f["attention_flops"] else float("nan")

        def e(key, f=f):
            return f"{f[key]['exponent']:.2f} (R²={f[key]['r2']:.2f})" if f.get(key) else "—"

        rows.append([
            r["name"], f"{r['axis']} {r['values'][0]}..{r['values'][-1]}", f"{r['claimed']:.0f} ({r['claim_text']})",
            f"{exp:.2f}", "pass" if r["pass"] else "FAIL", e("total_flops"), e("time"), e("memory"),
            si(last["attention_flops"]), f"{last['time']['median_ms'] / 1e3:.3g} s (IQR {last['time']['iqr_ms'] / 1e3:.2g})",
        ])
    lines = [
        "# Scaling of the attention modules (paper appendix A1 / A2)",
        "",
        machine_line(machine),
        "",
        f"Modules of `deformer3d.models.attention` at paper width d={DIM}, {HEADS} heads, batch 1. Space-time and "
        f"temporal curves: {GRID}x{GRID} RGB tokens per frame (112 px clip); joint curves: {POSE_FRAMES} frames, "
        f"{JOINTS} joints per person. Exponent = slope of a least-squares line in log-log space; the check compares "
        f"the attention-FLOPs exponent (QK^T and AV inside SDPA) with the claimed complexity, tolerance ±{TOLERANCE}.",
        "",
        markdown_table(head, rows),
        "",
        "Time and total FLOPs also contain the parts that are linear in the token count (projections, FFN, offset "
        "net), so their exponents sit between 1 and the attention exponent at these sizes. Memory: peak extra RSS "
        "of a forward; `F.scaled_dot_product_attention` on CPU runs a flash-attention kernel that never "
        "materialises the N x N matrix, so memory grows linearly even for full attention.",
        "",
        "3D deformable vs full space-time attention, per T (attention FLOPs ratio full / deformable):",
        "",
        markdown_table(["T", "full / deformable attention FLOPs", "full / deformable time"], spacetime_ratio),
    ]
    return "\n".join(lines)


def scaling_plot(results: list[dict[str, Any]], path: Path) -> Path:
    groups = ["space-time", "temporal", "joint"]
    metrics = [("attention_flops", "attention GFLOPs", 1e-9), ("time", "CPU time (ms)", 1.0),
               ("memory", "peak extra RSS (MiB)", 1.0)]
    fig, axes = new_figure(ncols=3, nrows=3, width=4.3, height=3.3)
    colors = {"stride": "#4c72b0", "deformable": "#4c72b0", "full": "#c44e52"}
    for col, group in enumerate(groups):
        for row, (key, label, scale) in enumerate(metrics):
            ax = axes[row][col]
            for r in [r for r in results if r["group"] == group]:
                xs = np.asarray(r["values"], dtype=float)
                if key == "time":
                    ys = np.asarray([p["time"]["median_ms"] for p in r["points"]])
                    lo = ys - np.asarray([p["time"]["q1_ms"] for p in r["points"]])
                    hi = np.asarray([p["time"]["q3_ms"] for p in r["points"]]) - ys
                    err = [lo, hi]
                elif key == "memory":
                    ys, err = np.asarray([p["peak_mib"] for p in r["points"]]), None
                else:
                    ys, err = np.asarray([p[key] for p in r["points"]]) * scale, None
                keep = ys > 0  # a log axis cannot show a zero (e.g. memory below the RSS page resolution)
                xs, ys = xs[keep], ys[keep]
                if err is not None:
                    err = [err[0][keep], err[1][keep]]
                color = colors["full"] if r["name"].startswith("full") else colors["stride"]
                fit = r["fit"].get(key)
                tag = f" (slope {fit['exponent']:.2f})" if fit else ""
                ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, color=color, capsize=3, label=r["name"] + tag)
                if fit:
                    ax.plot(xs, np.exp(fit["log_c"]) * xs ** fit["exponent"] * (scale if key == "attention_flops"
                            else 1.0), ls="--", lw=0.8, color=color)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(r["values"], [str(v) for v in r["values"]])
            ax.minorticks_off()
            ax.set_xlabel("persons" if group == "joint" else "frames T")
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
            if row == 0:
                ax.set_title(f"{group} attention", fontsize=10)
    return save_figure(fig, path)


def run_scaling(out: Path, frames: list[int] | None = None, persons: list[int] | None = None,
                budget_s: float = 4.0, grid: int = GRID, min_repeats: int = 3) -> dict[str, Any]:
    """Measure every curve and write ``out/scaling/results.{json,md}`` + ``scaling.png``."""
    from rich.progress import Progress

    machine = machine_info()
    t0 = time.perf_counter()
    torch.manual_seed(0)
    results = []
    all_curves = curves(frames, persons, grid)
    with Progress(transient=True) as progress:
        task = progress.add_task("scaling", total=sum(len(c.values) for c in all_curves))
        for c in all_curves:
            module = c.build().eval()
            points = []
            for v in c.values:
                progress.update(task, description=f"scaling: {c.name} {c.axis}={v}")
                points.append({c.axis: v, **measure_point(module, c.inputs(v), budget_s, min_repeats)})
                progress.advance(task)
            fit = fit_curve(c.values, points)
            exp = fit["attention_flops"]["exponent"] if fit["attention_flops"] else float("nan")
            results.append({
                "name": c.name, "group": c.group, "axis": c.axis, "values": c.values, "claimed": c.claimed,
                "claim_text": c.claim_text, "points": points, "fit": fit,
                "pass": exponent_check(exp, c.claimed, TOLERANCE),
            })
            print(f"{c.name:>24}: attention-FLOPs exponent {exp:.2f} (claimed {c.claimed:.0f}) "
                  f"-> {'pass' if results[-1]['pass'] else 'FAIL'}; time exponent "
                  f"{fit['time']['exponent'] if fit['time'] else float('nan'):.2f}")
    deform = next(r for r in results if r["name"] == "3D deformable")
    full = next(r for r in results if r["name"] == "full space-time")
    ratios = [
        [pd["T"], pf["attention_flops"] / max(pd["attention_flops"], 1),
         pf["time"]["median_ms"] / pd["time"]["median_ms"]]
        for pd, pf in zip(deform["points"], full["points"], strict=True)
    ]
    payload = {
        "suite": "scaling", "machine": machine, "dim": DIM, "heads": HEADS, "grid": grid, "tolerance": TOLERANCE,
        "results": results, "spacetime_ratio": [dict(zip(["T", "flops_ratio", "time_ratio"], r, strict=True))
                                                for r in ratios],
        "all_pass": all(r["pass"] for r in results), "duration_s": time.perf_counter() - t0,
    }
    d = suite_dir(out, "scaling")
    write_results(d, payload, scaling_markdown(results, machine, ratios))
    scaling_plot(results, d / "scaling.png")
    return payload
