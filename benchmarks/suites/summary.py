"""``benchmarks/README.md``: the summary of every suite's results, generated from their ``results.{json,md}``.

No number is typed by hand: each section embeds the suite's own markdown table and links its plot. Regenerated
after every ``python -m benchmarks`` run into the default results folder, or with ``--suite summary``.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import load_note, machine_line

ORDER = [
    ("cost", "Cost: parameters, FLOPs, latency, memory", "cost.png"),
    ("scaling", "Scaling of the attention modules (appendix A1 / A2)", "scaling.png"),
    ("data", "Data pipeline vs model consumption", "data.png"),
    ("compile", "torch.compile and SDPA on CPU", "compile.png"),
    ("onnx", "ONNX Runtime vs PyTorch eager: CPU latency per clip", "onnx.png"),
    ("skeleton_speed", "Skeleton training step: before / after the speed work", None),
    ("gpu", "GPU: training and inference, eager vs torch.compile", None),
    ("ablation", "Attention-module ablation (Table 4)", "ablation.png"),
    ("attention", "Deformable / stride vs full attention at equal budget (App. A1 / A2)", "attention.png"),
    ("tokens", "Cross-modal tokens (Table 5)", "tokens.png"),
    ("windows", "Temporal window x stride (Fig. 7a)", "windows.png"),
    ("frames", "Training frames and test-frame sweep (Fig. 7b, A1)", "frames.png"),
    ("explanations", "Explanations (Figs. 5, 6)", None),
]


def _body(md: str) -> str:
    """A suite's markdown without its H1 title and machine line (the summary states the machine once)."""
    lines = md.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    lines = [ln for ln in lines if not ln.startswith("Machine: ")]
    # demote the suite's own headings below the summary's section heading
    lines = ["#" + ln if ln.startswith("## ") else ln for ln in lines]
    return "\n".join(lines).strip()


def write_summary(results_dir: Path, readme: Path) -> Path:
    results_dir = Path(results_dir)
    rel = Path(results_dir.name) if readme.parent == results_dir.parent else results_dir
    sections = []
    machines = []
    for suite, title, png in ORDER:
        d = results_dir / suite
        if not (d / "results.json").is_file():
            sections.append(f"## {title}\n\nNot run yet: `python -m benchmarks --suite {_command(suite)}`.")
            continue
        payload = json.loads((d / "results.json").read_text())
        if payload.get("machine"):
            machines.append(payload["machine"])
        dur = payload.get("duration_s")
        head = f"## {title}\n\n`python -m benchmarks --suite {_command(suite)}`" + (
            f" — this run took {dur / 60:.1f} min; measured {payload['machine']['date_utc']} UTC "
            f"({load_note(payload['machine'])})." if dur and payload.get("machine") else "."
        )
        body = _body((d / "results.md").read_text())
        img = f"\n\n![{suite}]({rel / suite / png})" if png and (d / png).is_file() else ""
        if suite == "explanations":
            pngs = sorted(p.name for p in d.glob("*.png"))
            img = "\n\n" + "\n".join(f"![{p}]({rel / suite / p})" for p in pngs if p.endswith(
                ("deformable.png", "joints.png")))
            body = body.replace("](", f"]({rel / suite}/")
        sections.append(f"{head}\n\n{body}{img}")
    machine = machine_line(machines[-1]) if machines else "No results yet."
    text = "\n\n".join([
        "# Benchmarks and the paper's studies",
        how_to_run(),
        "Every number below is read from `benchmarks/results/<suite>/results.json`, written by the command shown "
        "with its section (regenerate this page with `python -m benchmarks --suite summary`). Latencies are medians "
        "over repeated runs with the inter-quartile range (IQR); study accuracies are medians over seeds with half "
        "the min..max range.",
        f"{machine} Each suite gives the 1-minute load average at its start: above the core count the benchmark "
        "got only part of the CPU. Parameters, FLOPs, memory, FLOP exponents and accuracies do not depend on the "
        "load; latencies, time exponents and latency ratios do -- read those as upper bounds there and rerun the "
        "suite on an idle machine for clean timings.",
        "GPU: no GPU on this machine. The cost suite's GPU path (CUDA, bf16 autocast, SDPA, `torch.compile`) runs "
        "automatically where `torch.cuda.is_available()`; here its column reads \"not measured: no GPU\".",
        *sections,
    ])
    readme.write_text(text.rstrip() + "\n")
    if readme.parent.name == "benchmarks":  # the repository's own results: keep the project README in step
        update_project_readme(results_dir, readme.parent.parent / "README.md")
    return readme


START, END = "<!-- bench:start -->", "<!-- bench:end -->"
README_SKIPS = ("compile", "onnx", "explanations")  # summary page only: tables of ratios / a gallery (onnx: README's Deploy)


def update_project_readme(results_dir: Path, readme: Path) -> bool:
    """Replace the block between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` of the project README with the
    machine line, the cost table, the scaling checks and the studies' verdicts. False when the markers are absent."""
    if not readme.is_file():
        return False
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    parts = []
    machine = None
    for suite in [name for name, _, _ in ORDER if name not in README_SKIPS]:
        d = results_dir / suite
        if not (d / "results.json").is_file():
            continue
        payload = json.loads((d / "results.json").read_text())
        machine = machine or payload.get("machine")
        md = (d / "results.md").read_text()
        table = [ln for ln in md.splitlines() if ln.startswith("|")]
        if suite == "cost":
            parts.append("Cost per clip (batch 1, CPU; median latency and IQR over repeated runs; "
                         f"{load_note(payload['machine'])}; FLOPs / parameters / memory are exact):\n\n"
                         + "\n".join(table))
        elif suite == "scaling":
            res = payload["results"]
            checks = ", ".join(f"{r['name']} {r['fit']['attention_flops']['exponent']:.2f} (claimed {r['claimed']:.0f})"
                               for r in res)
            parts.append(f"Scaling (attention-FLOPs growth exponents, log-log fit, tolerance ±{payload['tolerance']}): "
                         f"{sum(r['pass'] for r in res)} of {len(res)} curves agree with the claimed complexity — "
                         f"{checks}.")
        elif suite == "data":
            parts.append(f"Data loading: {payload['verdict']}")
        else:
            verdict = payload.get("verdict") or []
            parts.append(f"{payload.get('title', suite)}: " + " ".join(verdict))
    lines = [START, "", machine_line(machine) if machine else "No benchmark results yet.", "", *[p + "\n" for p in parts],
             "All suites, plots and methods: [benchmarks/README.md](benchmarks/README.md).", "", END]
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + "\n".join(lines) + tail)
    return True


def _command(suite: str) -> str:
    return "explain" if suite == "explanations" else suite


def how_to_run() -> str:
    """The page's "how to run" paragraph; the suite names come from the runner."""
    from benchmarks.runner import GROUPS, SUITES

    suites = ", ".join(f"`{name}`" for name in [*SUITES, *GROUPS])
    return (
        "Run from the repository root (the benchmarks are not installed with the package): "
        "`python -m benchmarks --suite NAME` (also `make bench SUITE=NAME`, or `deformer3d bench --suite NAME` "
        f"inside the checkout; several suites comma-separated). Suites: {suites}. `--out DIR` writes elsewhere "
        "(default `benchmarks/results`, summed up on this page), `--no-train` reports the studies' cached runs only, "
        "`--jobs N` trains N study runs at a time; `bash benchmarks/run_all.sh` runs every suite. Code: "
        "`benchmarks/runner.py` (the suites by name), `benchmarks/common.py` (machine, timing, memory, result files), "
        "`benchmarks/suites/` (one module per measurement), `benchmarks/studies/` (the paper's studies: catalogue, "
        "runs and their process pool, verdicts, report), `benchmarks/configs/study.yaml` (the studies' base "
        "experiment). Generated data and trained study runs are cached under `runs/bench/`."
    )
