"""Train-step speed of the ``tiny`` Deformer3D on CPU: median ms per forward + backward + AdamW step.

    .venv/bin/python benchmarks/train_step_speed.py                      # rgb_pose, T=8, 64 and 112 px, batch 16
    .venv/bin/python benchmarks/train_step_speed.py --sizes 64 --batch 8 --steps 10 --profile

Prints one line per configuration (median / min ms per step and per clip over ``--steps`` timed steps after
``--warmup`` untimed ones); ``--profile`` also prints the torch.profiler table (self CPU time) of one step.
No pass/fail: timings depend on the machine and its load. To compare two versions of the model under the same
load, run this script alternately with ``PYTHONPATH=<other checkout>/src`` and compare medians; with
``--threads 1`` the CPU-time median is the steadiest figure while other processes share the cores.
Measured on the shared 2-core box: when other processes keep the cores busy, ``--threads 2`` can be 2-7x
slower than ``--threads 1`` (OpenMP threads spin at barriers while their partner waits for a core);
``OMP_WAIT_POLICY=PASSIVE`` in the environment removes most of that penalty.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from deformer3d.models import Deformer3D, Deformer3DConfig


def make_batch(model: Deformer3D, batch: int, frames: int, size: int, num_classes: int) -> dict[str, torch.Tensor]:
    """Random clip batch of the model's modality: ``video (B, 3, T, S, S)``, ``pose (B, T, 17, 3)``, labels."""
    g = torch.Generator().manual_seed(0)
    out = model.example_inputs(batch_size=batch, num_frames=frames, image_size=size)
    if "pose" in out:
        # realistic poses: joints inside the frame, most of them visible
        pose = torch.rand(batch, frames, model.config.num_joints, 3, generator=g)
        pose[..., :2] = 0.2 + 0.6 * pose[..., :2]
        pose[..., 2] = (pose[..., 2] > 0.1).float() * (0.5 + 0.5 * pose[..., 2])
        out["pose"] = pose
    out["labels"] = torch.randint(0, num_classes, (batch,), generator=g)
    return out


def setup(modality: str, size: int, batch: int, frames: int):
    """``(model, optimizer, batch)``: the tiny preset of ``modality`` at ``frames`` x ``size``, seeded."""
    torch.manual_seed(0)
    cfg = Deformer3DConfig.preset("tiny", num_classes=10, modality=modality, num_frames=frames, image_size=size)
    model = Deformer3D(cfg).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = make_batch(model, batch, frames, size, cfg.num_classes)
    return model, optimizer, data


def train_step(model: Deformer3D, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> None:
    logits = model(video=batch.get("video"), pose=batch.get("pose")).logits
    loss = F.cross_entropy(logits, batch["labels"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def measure(
    modality: str, size: int, batch: int, frames: int, steps: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds per train step, ``steps`` of them after ``warmup``. CPU time is the
    steadier number on a shared machine (it does not count time the process waits for a core)."""
    model, optimizer, data = setup(modality, size, batch, frames)
    for _ in range(warmup):
        train_step(model, optimizer, data)
    times, cpu_times = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        train_step(model, optimizer, data)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    return times, cpu_times


def profile(modality: str, size: int, batch: int, frames: int, rows: int) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    model, optimizer, data = setup(modality, size, batch, frames)
    train_step(model, optimizer, data)
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(model, optimizer, data)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modality", default="rgb_pose", choices=["rgb_pose", "rgb", "pose"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 112])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="also print a torch.profiler table per size")
    parser.add_argument("--rows", type=int, default=30, help="profiler table rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for size in args.sizes:
        times, cpu_times = measure(args.modality, size, args.batch, args.frames, args.steps, args.warmup)
        med, cpu = statistics.median(times), statistics.median(cpu_times)
        print(
            f"{args.modality} T={args.frames} {size}px batch={args.batch} threads={args.threads}: "
            f"median {med * 1e3:.0f} ms/step ({med * 1e3 / args.batch:.1f} ms/clip), "
            f"min {min(times) * 1e3:.0f} ms/step, CPU time median {cpu * 1e3:.0f} ms/step over {len(times)} steps",
            flush=True,
        )
        if args.profile:
            profile(args.modality, size, args.batch, args.frames, args.rows)


if __name__ == "__main__":
    main()
