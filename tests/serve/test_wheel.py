"""The built wheel is a complete library: installed into a fresh virtual environment and run from a folder
outside the checkout, ``deformer3d --help``, ``synth``, ``train`` (a tiny config), ``export``, ``predict`` and
``serve`` work.

The wheel is built from a copy of the checkout's files (what git tracks or would track: a stale ``build/`` folder
cannot lend the wheel a file the sources lack) and installed with ``--no-deps`` into a fresh venv, so everything of
``deformer3d`` that runs is the wheel's own. The dependencies are the ones the wheel declares (its ``Requires-Dist``,
with the ``app`` extra for ``serve``), installed the way ``make`` does (torch first, pinned by
``constraints-cpu.txt`` and ``requirements-lock.txt``) into a dependency-only venv that the fresh venv reads
through a ``site.addsitedir`` line. That venv is built once per set of requirements and pins (minutes, from pip's
cache) and reused: a wheel that misses a module or a data file (every file of ``src/deformer3d`` must be in it),
or that forgets to declare a dependency (``pip check``, the commands below), still fails."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from deformer3d.config import project_root

# builds a wheel, then trains and serves through it: minutes on a 2-core CPU (longer when the CPU is shared)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

EXTRAS = ("app",)  # serve needs streamlit
PINS = ("constraints-cpu.txt", "requirements-lock.txt")
DEPS_HOME_ENV = "DEFORMER3D_WHEEL_TEST_DEPS"  # where the dependency-only venvs are kept


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_sources(root: Path, dest: Path) -> Path:
    """The files a fresh clone (plus this session's new, not ignored files) has, copied to ``dest``."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                  env=dict(os.environ)).stdout
    for rel in filter(None, listed.split("\0")):
        src = root / rel
        if src.is_file():  # a tracked file deleted in the working tree is not copied
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _declared_requirements(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` for the base install plus ``EXTRAS``, markers evaluated for this Python."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(zf.read(meta).decode())
    wanted = []
    for line in message.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *EXTRAS)):
            req.marker = None
            wanted.append(str(req))
    return sorted(wanted)


def _python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _site_packages(venv: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(_run([str(_python_of(venv)), "-c", code], cwd=venv, env={"PATH": "/usr/bin:/bin"}).stdout.strip())


def _dependency_venv(root: Path, requirements: list[str]) -> Path:
    """A venv holding ``requirements`` only (never deformer3d), built once per requirements + pins + Python."""
    pins = [root / name for name in PINS]
    key = hashlib.sha256("\n".join([sys.version, *requirements, *(p.read_text() for p in pins)]).encode())
    home = Path(os.environ.get(DEPS_HOME_ENV) or Path.home() / ".cache" / "deformer3d" / "wheel-test-deps")
    venv = home / key.hexdigest()[:16]
    done = venv / "complete"
    if not done.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=dict(os.environ))
        pip = [sys.executable, "-m", "pip", "--python", str(_python_of(venv)), "install", "-q"]
        for p in pins:
            pip += ["-c", str(p)]
        torch = [r for r in requirements if Requirement(r).name == "torch"]
        # torch first, on its own: the pins keep it the CPU build (an unpinned resolve pulls a CUDA one)
        _run(pip + torch, cwd=root, env=dict(os.environ), timeout=1800)
        _run(pip + requirements, cwd=root, env=dict(os.environ), timeout=1800)
        done.write_text("\n".join(requirements) + "\n")
    probe = subprocess.run([str(_python_of(venv)), "-c", "import deformer3d"], capture_output=True, cwd=venv)
    assert probe.returncode != 0, f"{venv} holds deformer3d: the test would not read the wheel's own files"
    return venv


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv bin dir, environment)`` of a fresh venv holding only the wheel built from this checkout."""
    root = project_root()
    base = tmp_path_factory.mktemp("wheel")
    sources = _copy_sources(root, base / "src")
    _run([sys.executable, "-m", "pip", "wheel", str(sources), "--no-deps", "--no-build-isolation", "-q", "-w",
          str(base / "dist")], cwd=base, env=dict(os.environ))
    (wheel,) = (base / "dist").glob("deformer3d-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.startswith("deformer3d/")}
    package = {str(f.relative_to(sources / "src")) for f in (sources / "src" / "deformer3d").rglob("*") if f.is_file()}
    assert package - shipped == set(), "files of src/deformer3d that the wheel leaves out"
    deps = _dependency_venv(root, _declared_requirements(wheel))

    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base, env=dict(os.environ))
    py = _python_of(venv)
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)], cwd=base,
         env=dict(os.environ))
    # the dependencies after the venv's own site-packages (which holds deformer3d and nothing else)
    (_site_packages(venv) / "deps.pth").write_text(f"import site; site.addsitedir({str(_site_packages(deps))!r})\n")
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(base), "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "Agg", "DEFORMER3D_REALDATA": str(base / "no-realdata")}
    where = _run([str(py), "-c", "import deformer3d; print(deformer3d.__file__)"], cwd=base, env=env).stdout
    assert Path(where.strip()).is_relative_to(venv), where  # the wheel's copy, not the checkout's
    # every requirement the wheel declares is met (pip reads the venv's sys.path, dependencies included)
    _run([sys.executable, "-m", "pip", "--python", str(py), "check"], cwd=base, env=dict(os.environ))
    return venv / "bin", env


def test_the_installed_cli_works_from_any_folder(installed, tmp_path):
    bin_dir, env = installed
    work = tmp_path / "elsewhere"  # outside the checkout: no pyproject.toml above it
    work.mkdir()
    d3 = str(bin_dir / "deformer3d")
    assert "Usage" in _run([d3, "--help"], cwd=work, env=env).stdout

    _run([d3, "synth", "synth", "--clips", "42", "--size", "32", "--frames", "8..12", "--workers", "1"], cwd=work,
         env=env)
    (work / "tiny.yaml").write_text(
        "name: tiny\n"
        "model: {name: deformer3d, preset: tiny, modality: pose, dim: 32, heads: 2, depth: 1}\n"
        "data: {format: synth, root: synth, num_frames: 4, image_size: 32, resize_short: 32, flip: false,\n"
        "       batch_size: 8, num_workers: 0}\n"
        "trainer: {max_epochs: 1, accelerator: cpu, devices: 1, out_dir: run, progress: false, seed: 0}\n"
        "eval: {frame_sweep: []}\n"
    )
    _run([d3, "train", "tiny.yaml"], cwd=work, env=env)
    results = json.loads((work / "run" / "eval" / "results.json").read_text())
    assert results["num_samples"] > 0 and 0 <= results["top1"] <= 100
    ckpt = next((work / "run" / "checkpoints").glob("*.ckpt"))
    _run([d3, "export", str(ckpt), "model"], cwd=work, env=env)

    video = next((work / "synth" / "videos").glob("*.mp4"))
    out = _run([d3, "predict", str(video), "--model", "model", "--skeleton", "synth/synthactions.pkl", "--json"],
               cwd=work, env=env).stdout
    payload = json.loads(out[out.index("{"):])
    assert len(payload["top_k"]) == 5 and payload["video"].endswith(video.name)
    # the bundled model (package data: config.json, model.safetensors) is the default
    assert "penn-action-pose (default)" in _run([d3, "models"], cwd=work, env={**env, "COLUMNS": "250"}).stdout
    out = _run([d3, "predict", str(video), "--skeleton", "synth/synthactions.pkl", "--json"], cwd=work,
               env=env).stdout
    assert len(json.loads(out[out.index("{"):])["top_k"]) == 5

    port = _free_port()
    server = subprocess.Popen([d3, "serve", "--model", "model", "--port", str(port)], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline, body = time.monotonic() + 240, ""
        while time.monotonic() < deadline and not body:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    body = resp.read().decode(errors="replace") if resp.status == 200 else ""
            except OSError:
                time.sleep(1)
        assert "<html" in body.lower(), "the page did not answer"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)

    bench = subprocess.run([d3, "bench", "--suite", "cost"], cwd=work, env=env, capture_output=True, text=True,
                           timeout=120)
    assert bench.returncode == 2 and "clone of the deformer3d repository" in " ".join(bench.stderr.split())
