"""Run a server child process the way a server should run: `deformer3d serve` starts Streamlit through this.

* The port is checked before the child starts: out of range, or already taken, is a :class:`UserError` with the
  reason (not a traceback, not a child that dies later with a log line nobody reads).
* SIGTERM, SIGINT and SIGHUP to the parent stop the child (terminate, then kill after ``grace`` seconds); the child
  runs in its own session, so the parent alone decides when it stops, and on Linux it also dies with the parent
  (``PR_SET_PDEATHSIG``) should the parent be killed outright.
* A child that exits before it listens on the port is a failed start: :class:`UserError` naming its exit code.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from deformer3d.errors import UserError

STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None)


def check_port(host: str, port: int) -> None:
    """Refuse a port outside 1..65535, a host that cannot be listened on, or a port someone already listens on."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: a TCP port is a number from 1 to 65535 (e.g. --port 8501)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    busy = UserError(
        f"port {port} on {host} is already in use (another `deformer3d serve`, or another server); "
        "stop it or choose another with --port"
    )
    if listening(host, port):
        raise busy
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # SO_REUSEADDR as Streamlit (tornado) binds: a port in TIME_WAIT after a stopped server is free to reuse
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise busy from None
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror})") from None


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _death_signal_setter():
    """A function for the child (between fork and exec) asking Linux to SIGTERM it when its parent dies; looked
    up here, in the parent, so the forked child only makes the system call."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return set_death_signal


def start_server(cmd: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
    """Start ``cmd`` in its own session (a terminal's Ctrl-C reaches the parent only, which stops the child)."""
    return subprocess.Popen(list(cmd), env=env, start_new_session=True, preexec_fn=_death_signal_setter())


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop(proc: subprocess.Popen, grace: float = 5.0) -> int:
    """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds; -> the child's exit code."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
    return proc.wait()


def supervise(proc: subprocess.Popen, host: str, port: int, start_timeout: float = 300.0, grace: float = 5.0) -> int:
    """Wait for ``proc`` while forwarding stop signals; -> 0 after a requested stop, else the child's exit code.

    Raises :class:`UserError` when the child exits (or hangs ``start_timeout`` seconds) before it ever listened on
    ``host:port``. The signal handler only signals the child: waiting and escalating happen in the polling loop
    here (a handler that waited on the child could deadlock on the wait the main loop is in)."""
    stop_asked: list[float] = []

    def on_signal(_signum, _frame):
        if not stop_asked:
            stop_asked.append(time.monotonic())
            _signal_group(proc, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    started = hung = False
    deadline = time.monotonic() + start_timeout
    try:
        while proc.poll() is None:
            if stop_asked:
                if time.monotonic() - stop_asked[0] > grace:
                    _signal_group(proc, signal.SIGKILL)
            elif not started:
                started = listening(host, port)
                if not started and time.monotonic() > deadline:
                    hung = True
                    on_signal(None, None)
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            stop(proc, grace)
    if hung:
        raise UserError(f"the web page did not start listening on {host}:{port} in {start_timeout:.0f} s (see above)")
    if stop_asked:
        return 0
    if not started and proc.returncode != 0:
        raise UserError(
            f"the web page did not start: Streamlit exited with code {proc.returncode} before listening on "
            f"{host}:{port} (its messages are above)"
        )
    return proc.returncode
