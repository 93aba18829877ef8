"""`deformer3d serve` behaves like a server: bad or busy ports refused, stops (with its Streamlit child) when told."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from deformer3d.serve.process import listening
from exported_models import make_exported

pytestmark = pytest.mark.bad_inputs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_exported(tmp_path_factory.mktemp("serve") / "pose_model", "pose")


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_invalid_port(cli, model_dir, port):
    cli("serve", "--model", model_dir, "--port", port, names=[f"--port {port}", "65535"])


def test_busy_port(cli, model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cli("serve", "--model", model_dir, "--port", port, names=[f"port {port}", "already in use"])


def test_bad_host(cli, model_dir):
    cli("serve", "--model", model_dir, "--host", "no-such-host.invalid", "--port", _free_port(),
        names=["no-such-host.invalid"])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_stops_the_page(model_dir, signum):
    """SIGTERM / SIGINT to the `deformer3d serve` process: nothing listens on the port within 5 s, no process
    of it is left, and the command exits 0 (a requested stop)."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deformer3d.cli", "serve", "--model", str(model_dir), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 240  # Streamlit's start on a loaded 2-core machine
        while not listening("127.0.0.1", port):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the page never started listening"
            time.sleep(0.5)
        children = _children(proc.pid)
        proc.send_signal(signum)
        stopped = time.monotonic() + 5
        while listening("127.0.0.1", port) and time.monotonic() < stopped:
            time.sleep(0.1)
        assert not listening("127.0.0.1", port), "the Streamlit child still serves after the stop signal"
        assert proc.wait(timeout=10) == 0
        time.sleep(0.5)
        assert [pid for pid in children if _alive(pid)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _children(pid: int) -> list[int]:
    """Every process whose session or parent is the serve command's child (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:  # ppid
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
