"""The bad-input contract: run a CLI command in-process; a refusal is exit code 2, one ``error:`` line, no traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from deformer3d.cli import app


class Outcome:
    """What a command did: its exit code, what it printed (``text``: rich's line wrapping undone)."""

    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code = exit_code
        self.output = output
        self.text = output.replace("\n", "")


def run_cli(*args: object) -> Outcome:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}\n{result.output}")
    return Outcome(result.exit_code, result.output)


def refused(*args: object, names: list[object]) -> Outcome:
    """Run ``deformer3d ARGS``; assert exit code 2, no traceback, one ``error:`` message naming each of ``names``."""
    out = run_cli(*args)
    assert out.exit_code == 2, f"exit code {out.exit_code}, expected 2:\n{out.output}"
    assert "Traceback" not in out.output, out.output
    assert out.output.count("error:") == 1, out.output
    for name in names:
        assert str(name) in out.text, f"'{name}' not in the message:\n{out.output}"
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to assert that nothing was written or lost)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
