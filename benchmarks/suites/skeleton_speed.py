"""``python -m benchmarks --suite skeleton_speed``: the skeleton model's training step before / after the speed work.

The Penn Action recipe's model (``configs/pennaction_pose.yaml``: pose only, d = 96, 3 blocks, 16 frames x 13
joints) is trained for a few steps (forward + cross-entropy + backward + AdamW) at batch 16 and 64 with 2 torch
threads, alternately with

- **before** -- the original attention code, kept in ``benchmarks/reference_attention.py`` (windows gathered
  with index tensors and scattered back with ``index_add``, SDPA everywhere);
- **after** -- the model as shipped (window slices, explicit softmax attention for these short windows).

Both run on the same model and weights, round by round (before, after, before, after, ...), so a busy CPU slows
both alike and their ratio stays comparable; each round also times an fp32 matmul (2048 x 2048) to give the
machine's matmul rate under the same load. Model FLOPs per step are counted by ``FlopCounterMode`` over a forward
and backward (a multiply-add counts 2; elementwise ops not counted); GFLOP/s = FLOPs per clip x clips/s.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import machine_info, machine_line, markdown_table, suite_dir, write_results
from benchmarks.reference_attention import reference_attention
from deformer3d.config import load_config
from deformer3d.models import build_model

CONFIG = "configs/pennaction_pose.yaml"
NUM_CLASSES = 15  # Penn Action


def penn_model_config(config: str = CONFIG) -> dict[str, Any]:
    """The ``model:`` section of the Penn Action skeleton recipe."""
    return copy.deepcopy(dict(load_config(config).model))


def make_batch(model: torch.nn.Module, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Realistic skeleton clips ``pose (B, T, R, 3)`` (joints inside the frame, ~5% missing) and labels."""
    g = torch.Generator().manual_seed(seed)
    c = model.config  # type: ignore[attr-defined]
    pose = torch.rand(batch, c.num_frames, c.num_joints * c.max_persons, 3, generator=g)
    pose[..., :2] = 0.2 + 0.6 * pose[..., :2]
    pose[..., 2] = (pose[..., 2] > 0.05).float()
    return {"pose": pose, "labels": torch.randint(0, NUM_CLASSES, (batch,), generator=g)}


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> None:
    loss = F.cross_entropy(model(pose=batch["pose"]).logits, batch["labels"], label_smoothing=0.1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def step_flops(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """FLOPs of one forward + backward of ``batch``, SDPA's CPU kernels (forward and backward) included through
    the model package's counter mapping."""
    from deformer3d.models.flops import _custom_mapping

    counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
    with counter:
        loss = F.cross_entropy(model(pose=batch["pose"]).logits, batch["labels"])
        loss.backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def matmul_gflops(size: int = 2048, repeats: int = 3) -> float:
    """Best fp32 ``size x size`` matmul rate of ``repeats`` runs (GFLOP/s) with the current torch threads."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    torch.mm(a, b)  # warm-up: thread pool, first-touch pages
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def _timed_steps(step, steps: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def measure_batch(
    model_cfg: dict[str, Any], batch: int, rounds: int, steps: int, warmup: int, matmul_size: int
) -> dict[str, Any]:
    """Interleaved before / after training steps of one batch size; per-step wall and CPU seconds."""
    torch.manual_seed(0)
    model = build_model(model_cfg, NUM_CLASSES).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    data = make_batch(model, batch)
    flops = step_flops(model, data)

    def before() -> None:
        with reference_attention(model):
            train_step(model, optimizer, data)

    def after() -> None:
        train_step(model, optimizer, data)

    variants = {"before": before, "after": after}
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in variants}
    matmul: list[float] = []
    for _ in range(rounds):
        matmul.append(matmul_gflops(matmul_size))
        for name, fn in variants.items():
            wall, cpu = _timed_steps(fn, steps)
            times[name]["wall"] += wall
            times[name]["cpu"] += cpu
    rows = {}
    for name, t in times.items():
        wall = statistics.median(t["wall"])
        rows[name] = {
            "median_step_s": wall,
            "median_step_cpu_s": statistics.median(t["cpu"]),
            "min_step_s": min(t["wall"]),
            "q1_step_s": statistics.quantiles(t["wall"], n=4)[0] if len(t["wall"]) > 1 else wall,
            "q3_step_s": statistics.quantiles(t["wall"], n=4)[2] if len(t["wall"]) > 1 else wall,
            "clips_per_s": batch / wall,
            "gflops_per_s": flops / wall / 1e9,
            "steps": t["wall"],
        }
    peak = max(matmul)
    for row in rows.values():
        row["fraction_of_matmul_peak"] = row["gflops_per_s"] / peak
    return {
        "batch": batch,
        "step_flops": flops,
        "flops_per_clip": flops / batch,
        "matmul_gflops_per_round": matmul,
        "matmul_peak_gflops": peak,
        "variants": rows,
        "speedup_wall": rows["before"]["median_step_s"] / rows["after"]["median_step_s"],
        "speedup_cpu": rows["before"]["median_step_cpu_s"] / rows["after"]["median_step_cpu_s"],
    }


def verdict(r: dict[str, Any]) -> str:
    """One sentence per batch size for the summary pages."""
    a, b = r["variants"]["after"], r["variants"]["before"]
    return (f"batch {r['batch']}: {a['clips_per_s']:.1f} clips/s after vs {b['clips_per_s']:.1f} before "
            f"({r['speedup_wall']:.2f}x wall, {r['speedup_cpu']:.2f}x CPU time), {a['gflops_per_s']:.0f} model GFLOP/s "
            f"= {100 * a['fraction_of_matmul_peak']:.0f}% of the matmul rate measured in the same rounds "
            f"({r['matmul_peak_gflops']:.0f} GFLOP/s).")


def skeleton_speed_markdown(payload: dict[str, Any]) -> str:
    rows = []
    for r in payload["results"]:
        for name in ("before", "after"):
            v = r["variants"][name]
            rows.append([
                str(r["batch"]), name, f"{v['clips_per_s']:.1f}", f"{v['median_step_s'] * 1e3:.0f}",
                f"{v['q1_step_s'] * 1e3:.0f}..{v['q3_step_s'] * 1e3:.0f}", f"{v['median_step_cpu_s'] * 1e3:.0f}",
                f"{v['gflops_per_s']:.1f}", f"{100 * v['fraction_of_matmul_peak']:.0f}%",
                f"**{r['speedup_wall']:.2f}x** (CPU time {r['speedup_cpu']:.2f}x)" if name == "after" else "1.00x",
            ])  # fmt: skip
    first = payload["results"][0]
    peaks = ", ".join(f"batch {r['batch']}: {r['matmul_peak_gflops']:.0f}" for r in payload["results"])
    return "\n\n".join([
        f"# Skeleton training step: before / after\n\n{machine_line(payload['machine'])}",
        f"Model: `{payload['config']}` (`{payload['model']}`), {first['flops_per_clip'] / 1e9:.2f} GFLOPs per clip "
        f"for forward + backward; {payload['threads']} torch threads; {payload['rounds']} rounds x "
        f"{payload['steps']} steps per variant, interleaved, after {payload['warmup']} warm-up steps each.",
        markdown_table(
            ["batch", "variant", "clips/s", "median step ms", "IQR ms", "median CPU ms / step", "model GFLOP/s",
             "of matmul peak", "speed-up"],
            rows,
        ),
        f"Matmul peak (fp32 {payload['matmul_size']}^3, best per round, max over rounds, GFLOP/s): {peaks}. "
        "Before = the original attention code (`benchmarks/reference_attention.py`), after = the model as shipped; "
        "same weights, same batch, alternated round by round, so the speed-up is comparable even on a busy CPU "
        "(absolute clips/s are then lower bounds of what an idle machine gives). CPU time per step is the process's "
        "CPU seconds (all threads): steadier than wall time when other work shares the cores.",
        "**Verdict.** " + " ".join(payload["verdict"]),
    ])  # fmt: skip


def run_skeleton_speed(
    out: Path,
    batches: tuple[int, ...] = (16, 64),
    rounds: int = 4,
    steps: int = 3,
    warmup: int = 2,
    threads: int = 2,
    matmul_size: int = 2048,
    model_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure and write ``<out>/skeleton_speed/results.{json,md}``; returns the payload."""
    t0 = time.perf_counter()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model_cfg = {**penn_model_config(), **(model_overrides or {})}
        machine = machine_info()
        results = [measure_batch(model_cfg, b, rounds, steps, warmup, matmul_size) for b in batches]
    finally:
        torch.set_num_threads(previous)
    payload = {
        "suite": "skeleton_speed",
        "machine": machine,
        "config": CONFIG,
        "model": model_cfg,
        "threads": threads,
        "rounds": rounds,
        "steps": steps,
        "warmup": warmup,
        "matmul_size": matmul_size,
        "results": results,
        "duration_s": time.perf_counter() - t0,
        "title": "Skeleton training step",
        "verdict": [verdict(r) for r in results],
    }
    write_results(suite_dir(out, "skeleton_speed"), payload, skeleton_speed_markdown(payload))
    return payload
