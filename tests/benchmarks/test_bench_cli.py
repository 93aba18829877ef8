"""The benchmarks' command line: ``python -m benchmarks`` in a checkout, ``deformer3d bench`` as its alias there,
and a one-line message (exit 2) outside a checkout or for an unknown suite."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from deformer3d.cli import app
from deformer3d.config import project_root


def test_python_m_benchmarks_refuses_an_unknown_suite_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--suite", "nope"], capture_output=True, text=True,
                          cwd=project_root(), timeout=120)
    assert proc.returncode == 2
    assert "unknown suite" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_alias_lists_the_suites_in_a_checkout(monkeypatch):
    monkeypatch.chdir(project_root())
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    assert "--suite" in result.output and "--no-train" in result.output


def test_bench_alias_outside_a_checkout_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["bench", "--suite", "cost"])
    assert result.exit_code == 2
    assert "inside a clone of the deformer3d repository" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)
