"""The bad-input contract: run a CLI command in-process; a refusal is exit code 2, one ``error:`` line, no traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from deformer3d.cli import app


class Outcome:
    """What a command did: its exit code, what it printed (``text``: rich's line wrapping undone)."""

    def __init__(self, exit_code: int, output: str, stdout: str = "", stderr: str = "") -> None:
        self.exit_code = exit_code
        self.output = output
        self.stdout = stdout
        self.stderr = stderr
        self.text = output.replace("\n", "")

    def mentions(self, words: object) -> bool:
        """``words`` in the output, however rich wrapped it (a folded path, or a line broken at a space)."""
        words = str(words)
        return words in self.text or words in self.output.replace("\n", " ") or words in " ".join(self.output.split())


def run_cli(*args: object, columns: int | None = None) -> Outcome:
    """``deformer3d ARGS`` in-process; ``columns``: the width of consoles the command creates (tables)."""
    env = {"COLUMNS": str(columns)} if columns else None
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}\n{result.output}")
    return Outcome(result.exit_code, result.output, result.stdout, result.stderr)


def refused(*args: object, names: list[object]) -> Outcome:
    """Run ``deformer3d ARGS``; assert exit code 2, no traceback, one ``error:`` message naming each of ``names``."""
    out = run_cli(*args)
    assert out.exit_code == 2, f"exit code {out.exit_code}, expected 2:\n{out.output}"
    assert "Traceback" not in out.output, out.output
    assert out.output.count("error:") == 1, out.output
    for name in names:
        assert out.mentions(name), f"'{name}' not in the message:\n{out.output}"
    return out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to assert that nothing was written or lost)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
