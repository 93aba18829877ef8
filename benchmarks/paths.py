"""Where the benchmarks read and write, all below the repository root (the checkout that holds the working
directory, found by :func:`deformer3d.config.project_root`): the suites run from a source checkout only."""

from __future__ import annotations

from pathlib import Path

from deformer3d.config import project_root
from deformer3d.errors import UserError


def repo_root() -> Path:
    """The checkout's root; a :class:`UserError` saying what to do outside one."""
    root = project_root()
    if root is None or not (root / "benchmarks").is_dir():
        raise UserError(f"the benchmarks run from a clone of the deformer3d repository: cd into it (working "
                        f"directory {Path.cwd()}) and run `python -m benchmarks --suite NAME`")
    return root


def results_dir() -> Path:
    """``benchmarks/results``: the default output folder, whose summary page is ``benchmarks/README.md``."""
    return repo_root() / "benchmarks" / "results"


def bench_runs() -> Path:
    """``runs/bench``: generated data and trained runs of the benchmarks (cached, never committed)."""
    return repo_root() / "runs" / "bench"


def study_config() -> Path:
    """``benchmarks/configs/study.yaml``: the experiment every study run starts from."""
    return repo_root() / "benchmarks" / "configs" / "study.yaml"
