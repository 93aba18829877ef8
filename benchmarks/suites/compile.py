"""``python -m benchmarks --suite compile``: effect of ``torch.compile`` and of SDPA's fused kernel on our model, on CPU.

For the ``tiny`` preset and a mid-size model (C = 32, d = 128, 4 blocks, 8 x 112 px), batch 1 inference:

- **eager, SDPA** — the model as shipped: ``F.scaled_dot_product_attention`` picks its fused CPU (flash) kernel;
- **eager, explicit attention** — the same call restricted to SDPA's math backend
  (``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``), i.e. ``softmax(Q K^T / sqrt(e)) V`` with the N x M
  matrix materialised, what a hand-written attention does;
- **compiled, SDPA** — ``torch.compile(model)`` (inductor, default mode); compile time reported separately.

Median and inter-quartile range of repeated forwards after warm-up; the outputs of the three variants are checked
to agree (max abs difference reported), so a speed-up never comes from computing something else.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import (
    machine_info,
    machine_line,
    markdown_table,
    peak_rss,
    suite_dir,
    time_fn,
    write_results,
)
from deformer3d.plotting import new_figure, save_figure

MODELS: dict[str, dict[str, Any]] = {
    "tiny": {"name": "deformer3d", "preset": "tiny"},
    "mid": {"name": "deformer3d", "preset": "tiny", "width": 32, "dim": 128, "heads": 4, "depth": 4,
            "deform_kernel": [3, 5, 5], "deform_stride": [1, 2, 2]},
}


def _graph_breaks(model, inputs) -> int | None:
    """Number of graph breaks torch.compile hits on this model (None if explain is unavailable)."""
    try:
        import torch._dynamo

        with torch.inference_mode():
            return int(torch._dynamo.explain(model)(**inputs).graph_break_count)
    except Exception:  # explain's API moves between releases; the count is informative only
        return None


def measure_model(label: str, model_cfg: dict[str, Any], budget_s: float = 20.0) -> dict[str, Any]:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from deformer3d.models import build_model
    from deformer3d.models.flops import count_flops, count_params

    torch.manual_seed(0)
    model = build_model(dict(model_cfg), 60).eval()
    inputs = model.example_inputs(1)
    res: dict[str, Any] = {"label": label, "model_cfg": model_cfg, "params": count_params(model),
                           "flops": count_flops(model, **inputs),
                           "input": {k: list(v.shape) for k, v in inputs.items()}}

    def run(m, math: bool = False):
        def fwd():
            with torch.inference_mode():
                if math:
                    with sdpa_kernel(SDPBackend.MATH):
                        return m(**inputs).logits
                return m(**inputs).logits

        return fwd

    variants: dict[str, Any] = {}
    ref = run(model)()
    for name, fn in (("eager, SDPA", run(model)), ("eager, explicit attention", run(model, math=True))):
        with peak_rss() as mem:
            out = fn()
        t = time_fn(fn, warmup=1, budget_s=budget_s, min_repeats=5, max_repeats=40)
        variants[name] = {**t.to_dict(), "peak_mib": mem.peak_mib, "max_abs_diff": float((out - ref).abs().max())}
    res["graph_breaks"] = _graph_breaks(model, inputs)
    torch._dynamo.reset()
    compiled = torch.compile(model)
    t0 = time.perf_counter()
    fn = run(compiled)
    out = fn()
    compile_s = time.perf_counter() - t0
    with peak_rss() as mem:
        fn()
    t = time_fn(fn, warmup=1, budget_s=budget_s, min_repeats=5, max_repeats=40)
    variants["compiled, SDPA"] = {**t.to_dict(), "peak_mib": mem.peak_mib, "compile_s": compile_s,
                                  "max_abs_diff": float((out - ref).abs().max())}
    res["variants"] = variants
    return res


def compile_markdown(results: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    rows = []
    for r in results:
        base = r["variants"]["eager, SDPA"]["median_ms"]
        for name, v in r["variants"].items():
            rows.append([
                r["label"], name, f"{v['median_ms']:.0f}", f"{v['iqr_ms']:.0f} (n={v['n']})",
                f"{base / v['median_ms']:.2f}x", f"{v['peak_mib']:.0f}", f"{v['max_abs_diff']:.1e}",
                f"{v['compile_s']:.0f} s" if "compile_s" in v else "—",
            ])
    info = "; ".join(
        f"{r['label']}: {r['params'] / 1e6:.2f} M params, {r['flops'] / 1e9:.2f} GFLOPs, input "
        + ", ".join(f"{k} {v}" for k, v in r["input"].items())
        + f", graph breaks under torch.compile: {r['graph_breaks']}"
        for r in results
    )
    return "\n".join([
        "# torch.compile and SDPA vs explicit attention (CPU, batch 1 inference)",
        "",
        machine_line(machine),
        "",
        info + ".",
        "",
        markdown_table(["model", "variant", "median ms", "IQR ms", "speed-up vs eager SDPA", "peak MiB",
                        "max |logit diff|", "compile time"], rows),
        "",
        "Explicit attention = SDPA restricted to its math backend (the N x M attention matrix is materialised, as "
        "in a hand-written softmax(QK^T)V). Peak MiB = extra resident memory of one forward. The three variants "
        "of a model are timed back to back, so their ratios are comparable; absolute times across models are not "
        "when the machine's load changes between them (see the load average above).",
    ])


def compile_plot(results: list[dict[str, Any]], path: Path) -> Path:
    fig, axes = new_figure(ncols=len(results), width=4.2, height=3.4)
    colors = ["#4c72b0", "#c44e52", "#55a868"]
    for ax, r in zip(axes[0], results, strict=False):
        names = list(r["variants"])
        med = [r["variants"][n]["median_ms"] for n in names]
        err = [[r["variants"][n]["median_ms"] - r["variants"][n]["q1_ms"] for n in names],
               [r["variants"][n]["q3_ms"] - r["variants"][n]["median_ms"] for n in names]]
        ax.bar(range(len(names)), med, yerr=err, color=colors, capsize=4)
        ax.set_xticks(range(len(names)), [n.replace(", ", "\n") for n in names], fontsize=8)
        ax.set_ylabel("CPU latency, ms (median, IQR)")
        ax.set_title(f"deformer3d {r['label']} ({r['flops'] / 1e9:.2f} GFLOPs)", fontsize=10)
        for i, v in enumerate(med):
            ax.annotate(f"{v:.0f}", (i, v), ha="center", va="bottom", fontsize=8)
    return save_figure(fig, path)


def run_compile(out: Path, models: dict[str, dict[str, Any]] | None = None, budget_s: float = 20.0) -> dict:
    """Measure every model variant; write ``out/compile/results.{json,md}`` + ``compile.png``."""
    machine = machine_info()
    t0 = time.perf_counter()
    results = []
    for label, cfg in (models or MODELS).items():
        print(f"compile: {label} ...", flush=True)
        results.append(measure_model(label, cfg, budget_s))
    payload = {"suite": "compile", "machine": machine, "results": results, "duration_s": time.perf_counter() - t0}
    d = suite_dir(out, "compile")
    write_results(d, payload, compile_markdown(results, machine))
    compile_plot(results, d / "compile.png")
    return payload
