"""Shared pieces of the benchmark suites: the machine, robust timing, peak memory, power-law fits, writers.

Every suite writes ``<out>/<suite>/results.json`` (all numbers, the machine, the method), ``results.md`` (the
tables) and one or more PNG plots. Numbers are never hard-coded: each one comes from a measurement in the run
that wrote the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deformer3d.config import project_root

# --------------------------------------------------------------------------------------------------- machine


def _lscpu_model() -> str:
    """The CPU model name from lscpu (falls back to /proc/cpuinfo, then platform)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        root = project_root() or Path.cwd()
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, RAM, torch / python versions, GPU if any."""
    import torch

    info: dict[str, Any] = {
        "cpu_model": _lscpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gib": _ram_gib(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    try:
        info["load_avg_1m_at_start"] = round(os.getloadavg()[0], 2)  # the CPU is shared: say how busy it was
    except OSError:
        pass
    return info


def machine_line(info: dict[str, Any]) -> str:
    """One markdown line describing the machine, for the top of every table."""
    gpu = info.get("gpu") or "no GPU"
    return (
        f"Machine: {info['cpu_model']}, {info['cpu_cores']} cores ({info['torch_threads']} torch threads), "
        f"{info['ram_gib']} GiB RAM, {gpu}; torch {info['torch']}, Python {info['python']}; "
        f"commit {info.get('git_commit')}; {info['date_utc']} UTC; {load_note(info)}."
    )


def load_note(info: dict[str, Any]) -> str:
    """How busy the CPU was when a suite started: timings taken with a load above the core count are upper
    bounds (parameters, FLOPs, memory and accuracies do not depend on it)."""
    load = info.get("load_avg_1m_at_start")
    if load is None:
        return "load average unknown"
    if load > (info.get("cpu_cores") or 1):
        return f"1-min load average at start {load}: the CPU was busy with other work, timings are upper bounds"
    return f"1-min load average at start {load}: otherwise idle CPU"


# --------------------------------------------------------------------------------------------------- inputs


def random_clip(model: Any, batch: int, frames: int, image_size: int, joints: int, device: str = "cpu") -> dict:
    """Seeded random inputs of what ``model`` reads: ``video (B, 3, T, S, S)`` and / or ``pose (B, T, joints, 3)``
    (x, y in [0, 1), confidence 1), on ``device``."""
    import torch

    from deformer3d.models.inputs import uses_pose, uses_video

    g = torch.Generator().manual_seed(0)
    out: dict[str, torch.Tensor] = {}
    if uses_video(model):
        out["video"] = torch.randn(batch, 3, frames, image_size, image_size, generator=g)
    if uses_pose(model):
        xy = torch.rand(batch, frames, joints, 2, generator=g)
        out["pose"] = torch.cat([xy, torch.ones(batch, frames, joints, 1)], dim=-1)
    return {k: v.to(device) for k, v in out.items()}


# --------------------------------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Robust summary of repeated runs, in milliseconds: median and inter-quartile range (q1..q3)."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    n: int
    times_ms: list[float] = field(default_factory=list)

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_ms": self.median_ms,
            "q1_ms": self.q1_ms,
            "q3_ms": self.q3_ms,
            "iqr_ms": self.iqr_ms,
            "min_ms": self.min_ms,
            "n": self.n,
            "times_ms": self.times_ms,
        }


def summarize(times_ms: Sequence[float]) -> Timing:
    """Median / quartiles of a list of durations (ms). Needs at least one value."""
    if not times_ms:
        raise ValueError("summarize: no timings (repeats must be >= 1)")
    arr = np.asarray(times_ms, dtype=float)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return Timing(float(med), float(q1), float(q3), float(arr.min()), len(arr), [float(t) for t in arr])


def time_fn(
    fn: Callable[[], Any],
    *,
    warmup: int = 1,
    repeats: int | None = None,
    budget_s: float = 30.0,
    min_repeats: int = 3,
    max_repeats: int = 50,
    sync: Callable[[], None] | None = None,
) -> Timing:
    """Time ``fn`` after ``warmup`` calls. Without ``repeats``, as many runs as fit in ``budget_s``
    (estimated from the warm-up, or from the first timed run when ``warmup=0``), clamped to
    ``[min_repeats, max_repeats]``, so slow models get few runs and fast ones many. ``sync`` (e.g. ``torch.cuda.synchronize``) is called around each run for async devices.
    """
    def once() -> float:  # ms
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        return (time.perf_counter() - t0) * 1e3

    warm = [once() for _ in range(warmup)]
    times: list[float] = []
    if repeats is None:
        if not warm:  # no warm-up: the first timed run sizes the rest (the caller warmed up already)
            times.append(once())
        per_run_s = max(min(warm or times) / 1e3, 1e-6)
        repeats = int(min(max(budget_s / per_run_s, min_repeats), max_repeats)) - len(times)
    times += [once() for _ in range(repeats)]
    return summarize(times)


# --------------------------------------------------------------------------------------------------- memory


def _proc_status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@dataclass
class PeakMemory:
    """Peak resident memory added while the block ran, in MiB, and how it was measured."""

    peak_mib: float = float("nan")
    method: str = ""


_MMAP_THRESHOLD_SET = False


def exact_rss_accounting() -> bool:
    """Make freed tensor memory go back to the OS so RSS follows live memory (glibc only).

    glibc keeps freed heap chunks for reuse, so a second forward pass would not raise the RSS at all. We fix
    the mmap threshold at 64 KiB (every larger allocation is its own mapping, unmapped on free) and trim the heap.
    Costs a few page faults per large allocation; applied once per process. Returns False where unsupported.
    """
    global _MMAP_THRESHOLD_SET
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        if not _MMAP_THRESHOLD_SET:
            _MMAP_THRESHOLD_SET = bool(libc.mallopt(-3, 64 * 1024))  # M_MMAP_THRESHOLD = -3
        libc.malloc_trim(0)
        return _MMAP_THRESHOLD_SET
    except (OSError, AttributeError):
        return False


@contextmanager
def peak_rss():
    """Measure the peak extra resident memory (RSS) of the block.

    Torch's CPU allocations bypass ``tracemalloc``, so we read the kernel's RSS high-water mark: reset it via
    ``/proc/self/clear_refs`` (Linux), run the block, and report ``VmHWM - VmRSS(before)``. Where the reset is
    unavailable we fall back to ``ru_maxrss - RSS(before)``, an upper bound that also counts earlier peaks of
    the process (run each measurement in a fresh subprocess then). See :func:`exact_rss_accounting` for why
    freed memory has to be returned to the OS first.
    """
    result = PeakMemory()
    glibc = exact_rss_accounting()
    before = _proc_status_kib("VmRSS")
    exact = _reset_peak_rss()
    try:
        yield result
    finally:
        if exact and before is not None:
            hwm = _proc_status_kib("VmHWM") or 0
            result.peak_mib = max(hwm - before, 0) / 1024
            result.method = "VmHWM - VmRSS(before), HWM reset via /proc/self/clear_refs" + (
                ", glibc mmap threshold 64 KiB + malloc_trim" if glibc else ""
            )
        else:
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            result.peak_mib = max(maxrss - (before or 0), 0) / 1024
            result.method = "ru_maxrss - RSS(before) (upper bound; no clear_refs)"


# --------------------------------------------------------------------------------------------------- fits


@dataclass
class PowerFit:
    """y ~ c * x**exponent fitted by least squares in log-log space."""

    exponent: float
    log_c: float
    r2: float

    def predict(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        return np.exp(self.log_c) * np.asarray(x, dtype=float) ** self.exponent


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerFit:
    """Least-squares line through (log x, log y): the slope is the growth exponent.

    Needs >= 2 distinct positive x and positive y (a zero or negative value has no logarithm).
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"fit_power_law: x and y must be 1-D of equal length, got {xs.shape} and {ys.shape}")
    if len(np.unique(xs)) < 2:
        raise ValueError("fit_power_law: need at least two distinct x values")
    if (xs <= 0).any() or (ys <= 0).any():
        raise ValueError("fit_power_law: x and y must be positive (log-log fit)")
    lx, ly = np.log(xs), np.log(ys)
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + intercept)
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return PowerFit(float(slope), float(intercept), r2)


def exponent_check(measured: float, expected: float, tolerance: float) -> bool:
    """True when the measured exponent is within ``tolerance`` of the expected one."""
    return abs(measured - expected) <= tolerance


# --------------------------------------------------------------------------------------------------- writers


def fmt(value: Any, digits: int = 3) -> str:
    """Compact number formatting for tables (None / NaN -> '—'): 3 significant digits, thousands separated."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        if abs(value) >= 10 ** digits:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def si(value: float | None, unit: str = "") -> str:
    """1.23e9 -> '1.23 G' (FLOPs, parameters)."""
    if value is None or value != value:
        return "—"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells are formatted with :func:`fmt` unless already strings."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c if isinstance(c, str) else fmt(c) for c in row) + " |")
    return "\n".join(lines)


def suite_dir(out: Path, suite: str) -> Path:
    d = Path(out) / suite
    d.mkdir(parents=True, exist_ok=True)
    return d


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):  # configs nested in a payload (data.pose_augment)
        return _jsonable(dataclasses.asdict(obj))
    return obj


def write_results(directory: Path, payload: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``directory``; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    jpath = directory / "results.json"
    mpath = directory / "results.md"
    jpath.write_text(json.dumps(_jsonable(payload), indent=2) + "\n")
    mpath.write_text(markdown.rstrip() + "\n")
    return jpath, mpath


def median_spread(values: Sequence[float]) -> tuple[float, float]:
    """(median, half the min..max range): the spread we print for a handful of seeds."""
    vals = [float(v) for v in values]
    if not vals:
        return float("nan"), float("nan")
    return statistics.median(vals), (max(vals) - min(vals)) / 2
