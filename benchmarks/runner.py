"""The suites by name: ``python -m benchmarks --suite NAME`` -> JSON + markdown table + PNG under ``<out>/<suite>/``.

Suites (each one command, sized to finish in <= 20 minutes on a 2-core CPU):

=============  ==================================================================================================
``cost``       parameters, FLOPs, CPU latency (median, IQR), peak memory of deformer3d (paper, tiny),
               TimeSformer-base (8x224) and ViViT-B (32x224) at batch 1, ratios to TimeSformer; GPU columns
               (bf16 autocast, SDPA, torch.compile) when CUDA is available
``scaling``    attention FLOPs / time / peak memory as T grows (3D deformable vs full space-time, temporal stride
               vs full temporal) and as persons grow (joint stride vs full joint); log-log growth exponents
``data``       clips/s of decode + sample + transform (+ pose) per loader worker vs the training step's clips/s
``compile``    torch.compile and SDPA vs explicit softmax attention on CPU (tiny and a mid-size model)
``skeleton_speed``  the Penn Action skeleton model's training step, batch 16 and 64: the earlier recipes (v5, v10)
               through the original attention code vs the recipe and code as shipped: clips/s, model GFLOP/s, the
               measured fp32 matmul peak (round by round, same run)
``onnx``       CPU latency per clip, PyTorch eager vs ONNX Runtime (tiny, the Penn Action skeleton model, paper),
               interleaved rounds, 2 threads: median, IQR, min..max, paired speed-up, logit agreement
``gpu``        CUDA only (else a "not measured" record): paper preset vs TimeSformer-base, bf16, eager vs
               torch.compile: training clips/s, peak memory, inference latency (also ``benchmarks/gpu.sh``)
``timeline``   predict --timeline: peak RSS for a 1- vs a 10-minute video, video-seconds per wall-second for the
               skeleton model and the demo's RGB + pose model (each run in a fresh process)
``ablation``   attention-module ablation on SynthActions (paper Table 4)
``attention``  each module replaced by full attention, same budget (accuracy side of paper App. A1 / A2)
``tokens``     cross-modal token configurations (paper Table 5)
``windows``    temporal window size x stride (paper Fig. 7a)
``frames``     number of training frames (Fig. 7b) and the test-frame sweep (Fig. A1)
``explain``    deformable sampling points and per-joint attention figures (paper Figs. 5, 6)
``studies``    ablation + attention + tokens + windows + frames
``summary``    regenerate the summary page (``benchmarks/README.md``) from the results
``all``        every suite above (hours on a 2-core CPU; run the suites one by one instead)
=============  ==================================================================================================

``deformer3d bench ...`` is an alias of ``python -m benchmarks ...`` inside a checkout.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deformer3d.errors import UserError

console = Console(stderr=True)


@dataclass(frozen=True)
class BenchOptions:
    train: bool = True  # studies / explain: train the runs not yet cached (False: report cached runs only)
    jobs: int = 2  # studies: runs trained at a time, one compute thread each


def _measure(name: str) -> Callable[[Path, BenchOptions], None]:
    """A measurement suite: ``run_<name>(out)`` of ``benchmarks/suites/<name>.py``, imported when it runs."""

    def run(out: Path, opts: BenchOptions) -> None:
        getattr(importlib.import_module(f"benchmarks.suites.{name}"), f"run_{name}")(out)

    return run


def _study(name: str) -> Callable[[Path, BenchOptions], None]:
    def run(out: Path, opts: BenchOptions) -> None:
        from benchmarks.studies.study import run_study

        run_study(name, out, train=opts.train, jobs=opts.jobs)

    return run


def _explain(out: Path, opts: BenchOptions) -> None:
    from benchmarks.suites.explain import run_explain

    run_explain(out, train=opts.train)


def _summary(out: Path, opts: BenchOptions) -> None:
    from benchmarks.suites.summary import write_summary

    path = write_summary(out, summary_path(out))
    console.print(f"summary -> {path}")


def summary_path(out: Path) -> Path:
    """Where the summary of ``out`` goes: ``benchmarks/README.md`` for ``benchmarks/results``, else inside ``out``."""
    out = Path(out)
    return out.parent / "README.md" if out.name == "results" and out.parent.name == "benchmarks" else out / "README.md"


SUITES: dict[str, Callable[[Path, BenchOptions], None]] = {
    "cost": _measure("cost"),
    "scaling": _measure("scaling"),
    "data": _measure("data"),
    "compile": _measure("compile"),
    "skeleton_speed": _measure("skeleton_speed"),
    "gpu": _measure("gpu"),
    "onnx": lambda out, opts: importlib.import_module("benchmarks.suites.onnx_latency").run_onnx_latency(out),
    "timeline": _measure("timeline"),
    "ablation": _study("ablation"),
    "attention": _study("attention"),
    "tokens": _study("tokens"),
    "windows": _study("windows"),
    "frames": _study("frames"),
    "explain": _explain,
    "summary": _summary,
}
GROUPS: dict[str, list[str]] = {
    "studies": ["ablation", "attention", "tokens", "windows", "frames"],
    "all": [name for name in SUITES if name != "summary"],
}


def resolve_suites(suite: str) -> list[str]:
    """'cost' -> ['cost']; 'studies' / 'all' -> their members; 'cost,scaling' -> both. Unknown -> UserError."""
    names: list[str] = []
    for part in [p.strip() for p in suite.split(",") if p.strip()]:
        if part in GROUPS:
            names.extend(GROUPS[part])
        elif part in SUITES:
            names.append(part)
        else:
            valid = ", ".join([*SUITES, *GROUPS])
            raise UserError(f"--suite '{part}': unknown suite. Valid suites: {valid}")
    if not names:
        raise UserError("--suite: give at least one suite name, e.g. --suite cost")
    return list(dict.fromkeys(names))  # keep order, drop repeats


def run_bench(out: Path, suite: str = "cost", train: bool = True, jobs: int = 2) -> None:
    """Run one or more benchmark suites, writing results under ``out/<suite>/``. ``train=False``: the studies
    report their cached runs only (nothing is trained); ``jobs``: study runs trained at a time."""
    opts = BenchOptions(train=train, jobs=jobs)
    out = Path(out)
    for name in resolve_suites(suite):
        console.rule(f"[bold]bench: {name}")
        t0 = time.perf_counter()
        SUITES[name](out, opts)
        console.print(f"[green]{name}[/] finished in {time.perf_counter() - t0:.0f} s -> {out / name}")
    if "summary" not in resolve_suites(suite):
        _summary(out, opts)  # keep the summary page in step with the results


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=False)


@app.command()
def bench(
    suite: Annotated[
        str,
        typer.Option(help="cost | scaling | data | compile | ablation | attention | tokens | windows | frames | explain | "
                     "studies | summary | all (comma-separate several)"),
    ] = "cost",
    out: Annotated[Path | None, typer.Option(help="results folder (default: benchmarks/results)")] = None,
    train: Annotated[
        bool, typer.Option(help="studies: train the runs not yet cached (--no-train: report cached runs only)")
    ] = True,
    jobs: Annotated[
        int, typer.Option(min=1, help="studies: runs trained at a time, one compute thread each (~ CPU cores)")
    ] = 2,
) -> None:
    """Benchmarks: cost, scaling, data, compile and the paper's studies; writes JSON, markdown and plots."""
    from benchmarks.paths import results_dir

    try:
        run_bench(out=out or results_dir(), suite=suite, train=train, jobs=jobs)
    except UserError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None


def main(argv: list[str] | None = None, prog_name: str = "python -m benchmarks") -> None:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); exits with its code."""
    typer.main.get_command(app)(args=argv, prog_name=prog_name)
