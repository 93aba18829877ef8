"""The package's import structure: no import circle, every module importable in a fresh interpreter, and serving
(the predictor, the page, the figures) standing on models + data alone: nothing of ``deformer3d.engine`` is loaded,
not even while a prediction runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import deformer3d
from deformer3d.data.video import write_video
from exported_models import make_exported

PACKAGE = Path(deformer3d.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path], lazy: bool) -> set[str]:
    """The package modules ``name`` imports: at module level, or anywhere (``lazy``: function-level too)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append([*stack[stack.index(n):], n])
            elif n not in state:
                visit(n, stack)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return cycles


def test_no_import_circle():
    modules = _modules()
    assert len(modules) > 40  # the walk found the package
    top = {m: _imports(m, p, modules, lazy=False) for m, p in modules.items()}
    assert _cycles(top) == [], "module-level import circle"
    # imports inside functions too, except a module's use of its own package (``from deformer3d.models import
    # register_model`` in a module the package's registry loads on demand): e.g. evaluate <-> train is refused
    lazy = {m: {n for n in _imports(m, p, modules, lazy=True) if not m.startswith(n + ".")}
            for m, p in modules.items()}
    assert _cycles(lazy) == [], "import circle through function-level imports"


def _run(code: str, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd,
                          timeout=1800, env={"HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_module_imports_in_a_fresh_interpreter(tmp_path):
    names = sorted(_modules())
    out = _run(f"""
        import importlib, json
        failed = {{}}
        for name in {names!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed[name] = repr(exc)
        print(json.dumps(failed))
    """, tmp_path)
    assert out == {}


def test_serving_loads_nothing_of_the_engine(tmp_path):
    """Import every ``deformer3d.serve`` module, load an exported model and predict a clip with a skeleton, all
    in a fresh interpreter: ``sys.modules`` then holds no ``deformer3d.engine`` module."""
    model_dir = make_exported(tmp_path / "model", "rgb_pose")
    frames = np.repeat(np.random.default_rng(0).integers(0, 255, (4, 64, 80, 3), dtype=np.uint8), 4, axis=0)
    clip = tmp_path / "clip.mp4"
    write_video(clip, frames, fps=10)
    serve_modules = sorted(m for m in _modules() if m.startswith("deformer3d.serve"))
    out = _run(f"""
        import importlib, json, sys
        import numpy as np
        for name in {serve_modules!r}:
            importlib.import_module(name)
        from deformer3d.serve import Predictor
        predictor = Predictor({str(model_dir)!r})
        skeleton = (np.full((1, 16, 17, 2), 32.0, np.float32), np.ones((1, 16, 17), np.float32))
        result = predictor.predict({str(clip)!r}, skeleton=skeleton, explain=True)
        from deformer3d.serve.figures import explanation_figures
        explanation_figures(result)
        print(json.dumps({{"top": result.top_k[0][0],
                           "engine": sorted(m for m in sys.modules if m.startswith("deformer3d.engine"))}}))
    """, tmp_path)
    assert out["top"] and out["engine"] == []
