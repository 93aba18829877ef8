"""The built wheel is a complete library: installed into a fresh virtual environment and run from a folder
outside the checkout, ``deformer3d --help``, ``synth``, ``train`` (a tiny config), ``export``, ``predict`` and
``serve`` work. The venv gets only the wheel; its dependencies come from the project's .venv through a ``.pth``
line (so nothing is downloaded), and the test checks that the package itself is imported from the wheel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from deformer3d.config import project_root

# builds a wheel, then trains and serves through it: minutes on a 2-core CPU (longer when the CPU is shared)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv bin dir, environment)`` of a fresh venv holding only the wheel built from this checkout."""
    root = project_root()
    base = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation", "-q", "-w",
          str(base / "dist")], cwd=base, env=dict(os.environ))
    (wheel,) = (base / "dist").glob("deformer3d-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base, env=dict(os.environ))
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)], cwd=base,
         env=dict(os.environ))
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base,
                     env={"PATH": "/usr/bin:/bin"}).stdout.strip())
    # the dependencies (torch, lightning, ...) from the project's venv, after the venv's own site-packages
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(base), "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "Agg", "DEFORMER3D_REALDATA": str(base / "no-realdata")}
    where = _run([str(py), "-c", "import deformer3d; print(deformer3d.__file__)"], cwd=base, env=env).stdout
    assert Path(where.strip()).is_relative_to(venv), where  # the wheel's copy, not the checkout's
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
