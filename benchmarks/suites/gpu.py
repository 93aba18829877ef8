"""``python -m benchmarks --suite gpu`` (or ``bash benchmarks/gpu.sh``): the GPU figures, in one command.

On one CUDA GPU, for the ``paper`` preset (RGB + pose, 12 x 224 x 224 + 2 x 25 joints) and TimeSformer-base
(8 x 224 x 224) at the same batch, in bf16 autocast, each **eager** and **torch.compile**:

- training: clips/s of forward + cross-entropy + backward + AdamW (median step over timed steps after warm-up;
  the compile variant's first step, which compiles, is reported as its compile time), peak GPU memory
  (``torch.cuda.max_memory_allocated`` over the training steps, weights and optimizer state included);
- inference: batch-1 latency in ``torch.inference_mode`` (median, inter-quartile range), peak memory.

A time budget (default 420 s of measurement, so the whole script stays under 8 minutes with start-up) is
checked before every phase: what does not fit is recorded as skipped, never silently dropped. Without CUDA the
suite writes a "not measured: no GPU" record; ``--dry-run`` runs the same code on the CPU with tiny models and
shapes, fp32, and torch.compile's ``eager`` backend (graph capture without code generation) -- what the tests run.
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import (
    machine_info,
    machine_line,
    markdown_table,
    random_clip,
    suite_dir,
    time_fn,
    write_results,
)

NUM_CLASSES = 60  # NTU RGB+D 60 head, as in the cost suite


@dataclass
class GpuSpec:
    """One model at one clip: ``video (B, 3, T, S, S)`` and, with ``joints`` > 0, ``pose (B, T, joints, 3)``."""

    label: str
    model_cfg: dict[str, Any]
    frames: int
    image_size: int
    joints: int = 0


def default_specs() -> list[GpuSpec]:
    return [
        GpuSpec("deformer3d-paper", {"name": "deformer3d", "preset": "paper", "num_joints": 25}, 12, 224, 50),
        GpuSpec("timesformer-base", {"name": "timesformer", "preset": "base"}, 8, 224),
    ]


def dry_run_specs() -> list[GpuSpec]:
    return [
        GpuSpec("deformer3d-mini", {"name": "deformer3d", "preset": "tiny", "depth": 1, "num_frames": 4,
                                    "image_size": 32}, 4, 32, 17),
        GpuSpec("timesformer-mini", {"name": "timesformer", "preset": "tiny", "num_hidden_layers": 1}, 4, 32),
    ]  # fmt: skip


@dataclass
class Settings:
    device: str
    dtype: torch.dtype | None  # autocast dtype; None = fp32
    batch: int
    train_steps: int
    warmup: int
    infer_budget_s: float
    compile_backend: str
    budget_s: float


class _Memory:
    """Peak memory of a phase: CUDA's allocator high-water mark, or (CPU dry run) not measured."""

    def __init__(self, device: str):
        self.device = device

    def reset(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_mib(self) -> float | None:
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        return None


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else None


def _autocast(s: Settings):
    if s.dtype is None:
        return torch.autocast(s.device, enabled=False)
    return torch.autocast(s.device, dtype=s.dtype)


def measure_variant(spec: GpuSpec, variant: str, s: Settings, deadline: float) -> dict[str, Any]:
    """Train and inference figures of one model in one variant (``eager`` / ``compile``)."""
    from deformer3d.models import build_model

    torch.manual_seed(0)
    model = build_model(dict(spec.model_cfg), NUM_CLASSES).to(s.device).train()
    run = torch.compile(model, backend=s.compile_backend) if variant == "compile" else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=s.device == "cuda")
    x = random_clip(model, s.batch, spec.frames, spec.image_size, spec.joints, s.device)
    labels = torch.arange(s.batch, device=s.device) % NUM_CLASSES
    memory, sync = _Memory(s.device), _sync(s.device)

    def step() -> None:
        with _autocast(s):
            logits = run(**x).logits
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    out: dict[str, Any] = {"variant": variant}
    memory.reset()
    t0 = time.perf_counter()
    step()  # the compile variant compiles here
    if sync:
        sync()
    out["first_step_s"] = time.perf_counter() - t0
    if time.monotonic() > deadline:
        out["train"] = {"skipped": "over the time budget"}
    else:
        timing = time_fn(step, warmup=s.warmup, repeats=s.train_steps, sync=sync)
        out["train"] = {**timing.to_dict(), "clips_per_s": s.batch / (timing.median_ms / 1e3),
                        "peak_mib": memory.peak_mib()}  # fmt: skip
    optimizer.state.clear()  # inference is measured without the training state
    model.zero_grad(set_to_none=True)
    model.eval()
    x1 = {k: v[:1] for k, v in x.items()}

    def infer() -> None:
        with torch.inference_mode(), _autocast(s):
            run(**x1)

    if time.monotonic() > deadline:
        out["inference"] = {"skipped": "over the time budget"}
    else:
        memory.reset()
        t0 = time.perf_counter()
        infer()  # batch 1 and inference mode: the compile variant compiles again here
        if sync:
            sync()
        out["first_inference_s"] = time.perf_counter() - t0
        timing = time_fn(infer, warmup=s.warmup, budget_s=s.infer_budget_s, min_repeats=5, max_repeats=200, sync=sync)
        out["inference"] = {**timing.to_dict(), "peak_mib": memory.peak_mib()}
    return out


def measure(specs: list[GpuSpec], s: Settings) -> list[dict[str, Any]]:
    deadline = time.monotonic() + s.budget_s
    results = []
    for spec in specs:
        row: dict[str, Any] = {"label": spec.label, "spec": asdict(spec), "variants": []}
        for variant in ("eager", "compile"):
            if time.monotonic() > deadline:
                row["variants"].append({"variant": variant, "skipped": "over the time budget"})
                continue
            try:
                row["variants"].append(measure_variant(spec, variant, s, deadline))
            except Exception as exc:  # one failing variant (OOM, a compile error) must not lose the others
                row["variants"].append({"variant": variant, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            gc.collect()  # the variant's model, optimizer and compiled graphs go before the next one
            if s.device == "cuda":
                torch.cuda.empty_cache()
        results.append(row)
    return results


def _cell(d: dict[str, Any], key: str, fmt: str) -> str:
    v = d.get(key)
    return "—" if v is None else format(v, fmt)


def _verdict(r: dict[str, Any]) -> str:
    parts = []
    for v in r["variants"]:
        t = v.get("train") or {}
        if "clips_per_s" in t:
            parts.append(f"{v['variant']} {t['clips_per_s']:.1f} clips/s training")
        else:
            parts.append(f"{v['variant']} {v.get('error') or v.get('skipped') or t.get('skipped')}")
    return f"{r['label']}: " + ", ".join(parts) + "."


def gpu_markdown(payload: dict[str, Any]) -> str:
    head = f"# GPU: training and inference, eager vs torch.compile\n\n{machine_line(payload['machine'])}"
    if payload.get("note"):
        return f"{head}\n\n{payload['note']}"
    s = payload["settings"]
    rows = []
    for r in payload["results"]:
        for v in r["variants"]:
            problem = v.get("error") or v.get("skipped")
            if problem:
                rows.append([r["label"], v["variant"], problem, "", "", "", "", "", ""])
                continue
            t, i = v["train"], v.get("inference", {})
            rows.append([
                r["label"], v["variant"],
                t.get("skipped") or f"{t['clips_per_s']:.1f}", _cell(t, "median_ms", ".1f"), _cell(t, "peak_mib", ".0f"),
                i.get("skipped") or _cell(i, "median_ms", ".2f"), _cell(i, "iqr_ms", ".2f"), _cell(i, "peak_mib", ".0f"),
                f"{v['first_step_s']:.1f} s",
            ])  # fmt: skip
    return "\n\n".join([
        head,
        f"{'DRY RUN on the CPU (tiny models; not GPU figures). ' if payload['dry_run'] else ''}"
        f"Device {s['device']}, {s['dtype']}, training batch {s['batch']} (the same for every model), "
        f"{s['train_steps']} timed steps after {s['warmup']} warm-up; inference batch 1; torch.compile backend "
        f"`{s['compile_backend']}`.",
        markdown_table(["model", "variant", "train clips/s", "train step ms (median)", "train peak MiB",
                        "inference ms (median)", "IQR ms", "inference peak MiB", "first step (compile)"], rows),
        "Peak memory: `torch.cuda.max_memory_allocated` during the phase (weights, gradients and optimizer state "
        "included for training).",
    ])  # fmt: skip


def run_gpu(out: Path, dry_run: bool = False, batch: int | None = None, budget_s: float = 420.0) -> dict[str, Any]:
    """Measure (or, without CUDA and without ``dry_run``, record that nothing was measured) and write
    ``<out>/gpu/results.{json,md}``; returns the payload."""
    t0 = time.perf_counter()
    machine = machine_info()
    payload: dict[str, Any] = {"suite": "gpu", "machine": machine, "dry_run": dry_run, "title": "GPU"}
    if not dry_run and not torch.cuda.is_available():
        payload["note"] = "Not measured: no CUDA GPU on this machine (run `bash benchmarks/gpu.sh` on one)."
    else:
        if dry_run:
            s = Settings("cpu", None, batch or 2, 2, 1, 0.0, "eager", budget_s)
            specs = dry_run_specs()
        else:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            s = Settings("cuda", torch.bfloat16, batch or 8, 10, 3, 5.0, "inductor", budget_s)
            specs = default_specs()
        payload["settings"] = {**asdict(s), "dtype": "fp32" if s.dtype is None else f"{s.dtype} autocast"}
        payload["results"] = measure(specs, s)
    payload["duration_s"] = time.perf_counter() - t0
    payload["verdict"] = [payload["note"]] if payload.get("note") else [_verdict(r) for r in payload["results"]]
    write_results(suite_dir(out, "gpu"), payload, gpu_markdown(payload))
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/results)")
    parser.add_argument("--dry-run", action="store_true", help="tiny models on the CPU (tests the script)")
    parser.add_argument("--batch", type=int, default=None, help="training batch (default 8; dry run 2)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds of measurement at most")
    args = parser.parse_args()
    from benchmarks.paths import results_dir

    payload = run_gpu(args.out or results_dir(), args.dry_run, args.batch, args.budget)
    print(gpu_markdown(payload))


if __name__ == "__main__":
    main()
