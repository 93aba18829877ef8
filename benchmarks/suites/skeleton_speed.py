"""``python -m benchmarks --suite skeleton_speed``: the skeleton model's training step before / after the speed work.

The Penn Action skeleton model (16 frames x 13 joints, pose only) is trained for a few steps (forward +
cross-entropy + backward + AdamW) at batch 16 and 64 with 2 torch threads, in these variants:

- **v5 recipe, original code** -- the recipe when the speed work began (width 96, joint windows of 7, frame
  windows of 8), run through the original attention code kept in ``benchmarks/reference_attention.py``
  (windows gathered with index tensors and scattered back with ``index_add``, SDPA everywhere);
- **v10 recipe, original code** and **v10 recipe, shipped code** -- the recipe before the current one (width 128),
  through the original and the shipped attention code (the same function: the code's own speed-up);
- **recipe, shipped code** -- ``configs/pennaction_pose.yaml`` as it is now, the model as shipped (the *after*);
- **v14 / v15 model, shipped code** -- the cheaper model tried for the speed target (width 64, 2 heads, one
  window over all joints and all frames), which is not the recipe (README: 0.6 points lower on the test split).

All variants run round by round (each variant's steps, then the next, ...), so a busy CPU slows them alike and
their ratios stay comparable; each round also times an fp32 matmul (2048 x 2048) to give the machine's matmul rate
under the same load. Model FLOPs per step are counted by ``FlopCounterMode`` over a forward and backward (a
multiply-add counts 2; elementwise ops not counted); GFLOP/s = FLOPs per clip x clips/s.
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
# The model sections of earlier recipes, as changes to the current one (README, "Penn Action": the recipes table).
# Every field an earlier recipe set differently is named, so a later recipe change leaves these as they were.
STRIDE_WINDOWS = {"joint_attention": "stride", "joint_window": 7, "temporal_attention": "stride", "temporal_window": 8}
EARLIER_RECIPES = {
    "v5": {"dim": 96, "heads": 4, "depth": 3, **STRIDE_WINDOWS},
    "v10": {"dim": 128, "heads": 4, "depth": 3, **STRIDE_WINDOWS},
    # the cheaper model tried for the speed target (README, v14 / v15; not the recipe: 0.6 points lower)
    "v14": {"dim": 64, "heads": 2, "depth": 3, "joint_attention": "full", "temporal_attention": "full"},
}
# (name, recipe (None = the config's), through the original attention code?)
VARIANTS = (
    ("v5 recipe, original code", "v5", True),
    ("v10 recipe, original code", "v10", True),
    ("v10 recipe, shipped code", "v10", False),
    ("recipe, shipped code", None, False),
    ("v14 / v15 model, shipped code", "v14", False),
)
BEFORE, AFTER = "v10 recipe, original code", "recipe, shipped code"


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
    model_cfg: dict[str, Any], batch: int, rounds: int, steps: int, warmup: int, matmul_size: int,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every variant's training steps at one batch size, round by round; per-step wall and CPU seconds.
    ``overrides`` change every variant's model (tests: smaller models)."""
    runs = {}
    for name, recipe, original in VARIANTS:
        cfg = {**model_cfg, **(EARLIER_RECIPES[recipe] if recipe else {}), **(overrides or {})}
        torch.manual_seed(0)
        model = build_model(cfg, NUM_CLASSES).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
        data = make_batch(model, batch)

        def step(model=model, optimizer=optimizer, data=data, original=original) -> None:
            if original:
                with reference_attention(model):
                    train_step(model, optimizer, data)
            else:
                train_step(model, optimizer, data)

        runs[name] = {"step": step, "flops": step_flops(model, data), "model": cfg}
    for run in runs.values():
        for _ in range(warmup):
            run["step"]()
    times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in runs}
    matmul: list[float] = []
    for _ in range(rounds):
        matmul.append(matmul_gflops(matmul_size))
        for name, run in runs.items():
            wall, cpu = _timed_steps(run["step"], steps)
            times[name]["wall"] += wall
            times[name]["cpu"] += cpu
    peak = max(matmul)
    rows = {}
    for name, t in times.items():
        wall = statistics.median(t["wall"])
        flops = runs[name]["flops"]
        rows[name] = {
            "model": runs[name]["model"],
            "step_flops": flops,
            "flops_per_clip": flops / batch,
            "median_step_s": wall,
            "median_step_cpu_s": statistics.median(t["cpu"]),
            "min_step_s": min(t["wall"]),
            "q1_step_s": statistics.quantiles(t["wall"], n=4)[0] if len(t["wall"]) > 1 else wall,
            "q3_step_s": statistics.quantiles(t["wall"], n=4)[2] if len(t["wall"]) > 1 else wall,
            "clips_per_s": batch / wall,
            "gflops_per_s": flops / wall / 1e9,
            "fraction_of_matmul_peak": flops / wall / 1e9 / peak,
            "steps": t["wall"],
        }
    before = rows[BEFORE]
    for row in rows.values():
        row["speedup_wall"] = before["median_step_s"] / row["median_step_s"]
        row["speedup_cpu"] = before["median_step_cpu_s"] / row["median_step_cpu_s"]
    return {
        "batch": batch,
        "matmul_gflops_per_round": matmul,
        "matmul_peak_gflops": peak,
        "variants": rows,
        "speedup_wall": rows[AFTER]["speedup_wall"],
        "speedup_cpu": rows[AFTER]["speedup_cpu"],
    }


def verdict(r: dict[str, Any]) -> str:
    """One sentence per batch size for the summary pages: every variant's clips/s against the v10 recipe through
    the original code."""
    v = r["variants"]
    a, b = v[AFTER], v[BEFORE]
    others = "; ".join(f"{name}: {x['clips_per_s']:.1f} ({x['speedup_wall']:.2f}x)"
                       for name, x in v.items() if name not in (AFTER, BEFORE))
    return (f"batch {r['batch']}: {a['clips_per_s']:.1f} clips/s with the recipe as shipped vs {b['clips_per_s']:.1f} "
            f"for the v10 recipe through the original code (**{r['speedup_wall']:.2f}x** wall, "
            f"{r['speedup_cpu']:.2f}x CPU time); {others}. The recipe as shipped runs at {a['gflops_per_s']:.0f} "
            f"model GFLOP/s = {100 * a['fraction_of_matmul_peak']:.0f}% of the matmul rate measured in the same "
            f"rounds ({r['matmul_peak_gflops']:.0f} GFLOP/s).")


def _model_line(cfg: dict[str, Any]) -> str:
    """The fields the recipes differ in, defaults of the preset filled in (a window is listed only when used)."""
    from deformer3d.models.deformer import PRESETS, Deformer3DConfig

    model = Deformer3DConfig()  # the dataclass defaults under the preset's
    full = {**vars(model), **PRESETS.get(cfg.get("preset") or "paper", {}), **cfg}
    parts = [f"width {full['dim']}", f"{full['heads']} heads", f"{full['depth']} blocks"]
    for axis, unit in (("joint", "joints"), ("temporal", "frames")):
        mode = full[f"{axis}_attention"]
        parts.append(f"{axis} windows of {full[f'{axis}_window']} {unit}" if mode == "stride" else f"{axis} attention {mode}")
    return ", ".join(parts)


def skeleton_speed_markdown(payload: dict[str, Any]) -> str:
    rows = []
    for r in payload["results"]:
        for name, v in r["variants"].items():
            rows.append([
                str(r["batch"]), name, f"{v['flops_per_clip'] / 1e9:.2f}", f"{v['clips_per_s']:.1f}",
                f"{v['median_step_s'] * 1e3:.0f}", f"{v['q1_step_s'] * 1e3:.0f}..{v['q3_step_s'] * 1e3:.0f}",
                f"{v['median_step_cpu_s'] * 1e3:.0f}", f"{v['gflops_per_s']:.1f}",
                f"{100 * v['fraction_of_matmul_peak']:.0f}%",
                f"{v['speedup_wall']:.2f}x",
            ])  # fmt: skip
    first = payload["results"][0]["variants"]
    models = "; ".join(f"{name}: {_model_line(v['model'])}" for name, v in first.items())
    peaks = ", ".join(f"batch {r['batch']}: {r['matmul_peak_gflops']:.0f}" for r in payload["results"])
    return "\n\n".join([
        f"# Skeleton training step: before / after\n\n{machine_line(payload['machine'])}",
        f"Config: `{payload['config']}`; models: {models}. {payload['threads']} torch threads; "
        f"{payload['rounds']} rounds x {payload['steps']} steps per variant, round by round, after "
        f"{payload['warmup']} warm-up steps each.",
        markdown_table(
            ["batch", "variant", "GFLOPs per clip (fwd + bwd)", "clips/s", "median step ms", "IQR ms",
             "median CPU ms / step", "model GFLOP/s", "of matmul peak", f"clips/s / {BEFORE}'s"],
            rows,
        ),
        f"Matmul peak (fp32 {payload['matmul_size']}^3, best per round, max over rounds, GFLOP/s): {peaks}. "
        "Original code = the attention code before the speed work (`benchmarks/reference_attention.py`), shipped "
        "code = the model as shipped; the recipes are the README's (Penn Action, the recipes table). Every variant "
        "runs in every round, so the ratios are comparable even on a busy CPU (absolute clips/s are then lower "
        "bounds of what an idle machine gives). CPU time per step is the process's CPU seconds (all threads): "
        "steadier than wall time when other work shares the cores.",
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
        base = penn_model_config()
        model_cfg = {**base, **(model_overrides or {})}
        machine = machine_info()
        results = [measure_batch(base, b, rounds, steps, warmup, matmul_size, model_overrides) for b in batches]
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
