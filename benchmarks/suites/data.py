"""``python -m benchmarks --suite data``: is loading the bottleneck? Loader clips/s per worker next to the model's clips/s.

Loader side (one DataLoader worker = one process with one torch thread, so we time ``dataset[i]`` in this
process with ``torch.set_num_threads(1)``): decode (PyAV) + sample (frame sampler, padding chain) + transform
(keypoint-aware crop / resize / flip / normalise) + pose (joints from the annotation, heatmaps are built inside the
model) for

- SynthActions (generated once into ``runs/bench/data``, the demo's clip size) in the train stage (random crop,
  flip) with video + pose, with pose only, and in the test stage;
- the real clips of the shared real-data folder (``deformer3d.config.realdata_root()/videos`` and ``frames``),
  through :func:`deformer3d.data.load_clip` (the predict / serve path), at the demo's crop size and at 224 px;
- MediaPipe pose extraction (done once per video, offline: ``deformer3d extract-poses``), frames/s, when installed;
- pre-decoded frames (``deformer3d cache``, ``data.cache_dir``): the training pipeline (``dataset[i]``, random
  crops) on each real video, decoding it vs reading its cache entry (written into ``runs/bench/frame_cache``).

Model side: the demo model's training step (forward + backward + AdamW step) at the demo's batch size, clips/s
with all torch threads, and its inference forward. Verdict: workers needed = training clips/s / loader clips/s.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import (
    machine_info,
    machine_line,
    markdown_table,
    suite_dir,
    time_fn,
    write_results,
)
from benchmarks.paths import bench_runs, repo_root
from deformer3d.config import DataConfig, ExperimentConfig, load_config, realdata_root
from deformer3d.data.synthetic import ANN_FILE, ensure_synthactions
from deformer3d.plotting import new_figure, save_figure

BENCH_CLIPS = 56  # 4 per SynthActions class: enough distinct clips for a loader rate


def demo_config() -> ExperimentConfig:
    """The demo's experiment config (configs/synth_demo.yaml), or the defaults with the synth format."""
    from deformer3d.engine.demo import DEMO_CONFIG

    path = repo_root() / DEMO_CONFIG
    if path.is_file():
        return load_config(path)
    cfg = load_config(None)
    cfg.data.format = "synth"
    return cfg


def ensure_synth(data_dir: Path | None = None, clips: int = BENCH_CLIPS) -> tuple[Path, float | None]:
    """SynthActions at the demo's settings in ``data_dir`` (default ``runs/bench/data``; reused if present);
    returns (dir, generation clips/s)."""
    from deformer3d.engine.demo import DEMO_FRAMES, DEMO_SIZE

    data_dir = data_dir or bench_runs() / "data"
    t0 = time.perf_counter()
    made = ensure_synthactions(data_dir, num_clips=clips, seed=0, size=DEMO_SIZE, frame_range=DEMO_FRAMES)
    rate = clips / (time.perf_counter() - t0) if made else None
    return data_dir, rate


def loader_rate(ds, n: int, budget_s: float = 20.0) -> dict[str, Any]:
    """Clips/s of ``ds[i]`` in one thread (what one DataLoader worker delivers), median over passes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        idx = [i % len(ds) for i in range(n)]
        ds[idx[0]]  # open files, warm caches

        def one_pass():
            for i in idx:
                ds[i]

        timing = time_fn(one_pass, warmup=0, budget_s=budget_s, min_repeats=2, max_repeats=5)
    finally:
        torch.set_num_threads(threads)
    per_clip_ms = timing.median_ms / n
    return {"clips_per_s": 1e3 / per_clip_ms, "ms_per_clip": per_clip_ms, "clips_per_pass": n,
            "q1_ms_per_clip": timing.q1_ms / n, "q3_ms_per_clip": timing.q3_ms / n, "passes": timing.n}


def synth_rows(cfg: DataConfig, root: Path) -> list[dict[str, Any]]:
    from deformer3d.data import build_dataset

    data = replace(cfg, format="synth", root=str(root), ann_file=ANN_FILE)
    rows = []
    for label, stage, video, pose in (
        ("SynthActions train: video + pose", "train", True, True),
        ("SynthActions train: pose only", "train", False, True),
        ("SynthActions train: video only", "train", True, False),
        ("SynthActions test: video + pose", "test", True, True),
    ):
        ds = build_dataset(data, stage, need_video=video, need_pose=pose)
        n = min(len(ds), 24)
        rows.append({"source": label, "frames": data.num_frames, "size": data.image_size,
                     **loader_rate(ds, n)})
    return rows


def real_rows(cfg: DataConfig) -> tuple[list[dict[str, Any]], str | None]:
    """load_clip on every real video / frame folder, at the demo crop and at 224 px."""
    from deformer3d.data import load_clip
    from deformer3d.data.video import open_video

    root = realdata_root()
    sources = sorted((root / "videos").glob("*")) if (root / "videos").is_dir() else []
    sources += sorted(p for p in (root / "frames").glob("*") if p.is_dir()) if (root / "frames").is_dir() else []
    if not sources:
        return [], f"real data not found at {root} (set DEFORMER3D_REALDATA): real clips skipped"
    rows = []
    for size in sorted({cfg.image_size, 224}):
        data = replace(cfg, image_size=size, resize_short=max(size * 8 // 7, size))
        for src in sources:
            try:
                with open_video(src) as reader:
                    shape = f"{reader.width}x{reader.height}, {reader.num_frames} frames"
            except Exception as exc:  # report and go on: one unreadable file must not end the suite
                rows.append({"source": src.name, "error": str(exc)})
                continue

            class One:  # a one-item "dataset" so loader_rate times load_clip like dataset[i]
                def __len__(self):
                    return 1

                def __getitem__(self, i, src=src, data=data):
                    return load_clip(src, data, need_video=True, need_pose=False)

            rows.append({"source": f"{src.name} ({shape})", "frames": data.num_frames, "size": size,
                         **loader_rate(One(), 3, budget_s=10)})
    return rows, None


def cache_rows(cfg: DataConfig) -> list[dict[str, Any]]:
    """Per real video: training-stage clips/s per worker decoding the video vs reading ``deformer3d cache``'s
    entry (same pipeline, same samples), at the demo's crop and at 224 px."""
    from deformer3d.data.cache import write_entry
    from deformer3d.data.cache_build import _short_sides_for
    from deformer3d.data.dataset import ActionDataset
    from deformer3d.data.formats import SampleRecord

    root = realdata_root()
    sources = sorted(p for p in (root / "videos").glob("*") if p.is_file()) if (root / "videos").is_dir() else []
    cache = bench_runs() / "frame_cache"
    rows = []
    for size in sorted({cfg.image_size, 224}):
        data = replace(cfg, image_size=size, resize_short=max(size * 8 // 7, size))
        for src in sources:
            rec = SampleRecord(id=src.stem, label=0, video=src)
            try:
                plain, cached = (ActionDataset([rec], ["clip"], replace(data, cache_dir=d), stage="train",
                                               need_video=True, need_pose=False) for d in ("", str(cache)))
                t0 = time.perf_counter()
                (entry, size_bytes), = [write_entry(r.video, short, cache) for r, short in _short_sides_for(cached)]
                write_s = time.perf_counter() - t0
                before, after = loader_rate(plain, 3, budget_s=10), loader_rate(cached, 3, budget_s=10)
            except Exception as exc:  # report and go on: one unreadable file must not end the suite
                rows.append({"source": src.name, "size": size, "error": str(exc)})
                continue
            rows.append({"source": src.name, "frames": data.num_frames, "size": size, "decoded": before,
                         "cached": after, "speedup": after["clips_per_s"] / before["clips_per_s"],
                         "cache_mib": size_bytes / 2**20, "cache_write_s": write_s,
                         "cache_shape": list(np.load(entry, mmap_mode="r").shape)})
    return rows


def pose_row(cfg: DataConfig) -> dict[str, Any] | None:
    """MediaPipe frames/s on the frames of one real clip (offline extraction cost), or None if unavailable."""
    try:
        from deformer3d.pose import build_pose_estimator
    except ImportError:
        return None
    root = realdata_root()
    video = root / "videos" / "stgcn_ta_chi.mp4"
    if not video.is_file():
        return None
    from deformer3d.data.video import open_video

    with open_video(video) as reader:
        frames = reader.get_frames(np.arange(0, min(reader.num_frames, 64), 2))
    try:
        est = build_pose_estimator("mediapipe")
    except Exception as exc:  # not installed / model unavailable: say so in the table
        return {"source": "MediaPipe pose extraction", "error": str(exc).splitlines()[0]}
    with est:
        est.estimate(frames[:4])  # graph start-up
        t0 = time.perf_counter()
        est.estimate(frames)
        dt = time.perf_counter() - t0
    return {"source": f"MediaPipe pose extraction ({video.name}, {frames.shape[2]}x{frames.shape[1]})",
            "frames_per_s": len(frames) / dt, "frames": len(frames)}


def model_rates(cfg: ExperimentConfig, root: Path) -> dict[str, Any]:
    """Training-step and inference clips/s of the demo model on real SynthActions batches."""
    from deformer3d.data import build_dataset
    from deformer3d.models import build_model

    torch.manual_seed(0)
    model = build_model(dict(cfg.model), 14)
    data = replace(cfg.data, format="synth", root=str(root), ann_file=ANN_FILE)
    ds = build_dataset(data, "train", need_video=model.uses_video, need_pose=model.uses_pose)
    bs = data.batch_size
    batch = torch.utils.data.default_collate([ds[i % len(ds)] for i in range(bs)])
    inputs = {k: batch[k] for k in ("video", "pose") if k in batch}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        model.train()
        loss = torch.nn.functional.cross_entropy(model(**inputs).logits, batch["label"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.inference_mode():
            model(**inputs)

    train = time_fn(step, warmup=1, budget_s=25, min_repeats=3, max_repeats=20)
    test = time_fn(infer, warmup=1, budget_s=10, min_repeats=3, max_repeats=20)
    return {
        "model": dict(cfg.model), "batch_size": bs, "threads": torch.get_num_threads(),
        "input": {k: list(v.shape) for k, v in inputs.items()},
        "train_clips_per_s": bs * 1e3 / train.median_ms, "train_step": train.to_dict(),
        "infer_clips_per_s": bs * 1e3 / test.median_ms, "infer": test.to_dict(),
    }


def data_markdown(payload: dict[str, Any]) -> str:
    m = payload["model"]
    rows = []
    for r in payload["loader"]:
        if "error" in r:
            rows.append([r["source"], "—", "—", "—", f"error: {r['error']}"])
            continue
        rows.append([r["source"], f"{r['frames']} x {r['size']} px", f"{r['clips_per_s']:.3g}",
                     f"{r['ms_per_clip']:.3g} ({r['q1_ms_per_clip']:.3g}..{r['q3_ms_per_clip']:.3g})",
                     f"{m['train_clips_per_s'] / r['clips_per_s']:.2g}"])
    lines = [
        "# Data pipeline vs model consumption",
        "",
        machine_line(payload["machine"]),
        "",
        f"Model: `{m['model']}` (the demo model), batch {m['batch_size']}, input "
        + ", ".join(f"{k} {v}" for k, v in m["input"].items())
        + f", {m['threads']} torch threads: training step (forward + backward + AdamW) "
        f"**{m['train_clips_per_s']:.3g} clips/s** (median step {m['train_step']['median_ms']:.0f} ms, IQR "
        f"{m['train_step']['iqr_ms']:.0f} ms); inference **{m['infer_clips_per_s']:.3g} clips/s**.",
        "",
        "Loader: one worker = one process with one torch thread; decode + sample + transform (+ pose joints).",
        "",
        markdown_table(["source", "clip", "clips/s per worker", "ms per clip (median, IQR)",
                        "workers to keep training busy"], rows),
        "",
    ]
    if payload.get("pose"):
        p = payload["pose"]
        if "error" in p:
            lines.append(f"MediaPipe pose extraction: not measured ({p['error']}).")
        else:
            lines.append(f"{p['source']}: {p['frames_per_s']:.3g} frames/s (done once per video, offline).")
    if payload.get("generation_clips_per_s"):
        lines.append(f"SynthActions generation: {payload['generation_clips_per_s']:.3g} clips/s with 2 worker "
                     "processes (done once).")
    if payload.get("real_note"):
        lines.append(payload["real_note"] + ".")
    if payload.get("cache"):
        crow = []
        for r in payload["cache"]:
            if "error" in r:
                crow.append([r["source"], f"{r['size']} px", "—", "—", "—", f"error: {r['error']}"])
                continue
            n, h, w, _ = r["cache_shape"]
            crow.append([r["source"], f"{r['frames']} x {r['size']} px", f"{r['decoded']['clips_per_s']:.3g}",
                         f"{r['cached']['clips_per_s']:.3g}", f"**{r['speedup']:.3g}x**",
                         f"{n} x {w}x{h}: {r['cache_mib']:.3g} MiB, written in {r['cache_write_s']:.3g} s"])
        lines += ["", "Pre-decoded frames (`deformer3d cache CONFIG data.cache_dir=DIR`, read when `data.cache_dir` is "
                  "set): the training pipeline (`dataset[i]`, random crop + flip) per worker, decoding the video vs "
                  "reading the cache entry (uint8 frames at the decode size, memory-mapped; lossless, so the samples are "
                  "identical):", "",
                  markdown_table(["video", "clip", "decoded clips/s per worker", "cached clips/s per worker",
                                  "speed-up", "cache entry"], crow)]
    lines += ["", "**Verdict.** " + payload["verdict"]]
    return "\n".join(lines)


def verdict(payload: dict[str, Any], workers: int) -> str:
    m = payload["model"]
    synth = next(r for r in payload["loader"] if r["source"].startswith("SynthActions train: video + pose"))
    need = m["train_clips_per_s"] / synth["clips_per_s"]
    text = (
        f"training consumes {m['train_clips_per_s']:.3g} clips/s and one worker loads "
        f"{synth['clips_per_s']:.3g} SynthActions clips/s, so {need:.2g} worker(s) keep the model busy; the demo "
        f"config uses {workers}. "
    )
    text += ("Loading is not the bottleneck on SynthActions." if need <= max(workers, 1)
             else "Loading IS the bottleneck on SynthActions: raise data.num_workers.")
    real = [r for r in payload["loader"] if "error" not in r and not r["source"].startswith("SynthActions")]
    if real:
        slow = min(real, key=lambda r: r["clips_per_s"])
        text += (f" The slowest real source ({slow['source']}) loads {slow['clips_per_s']:.3g} clips/s per worker: "
                 f"{m['train_clips_per_s'] / slow['clips_per_s']:.2g} workers for the same model; high-resolution "
                 "videos are best pre-resized (decode cost grows with the pixel count, not the crop).")
    return text


def data_plot(payload: dict[str, Any], path: Path) -> Path:
    rows = [r for r in payload["loader"] if "error" not in r]
    fig, axes = new_figure(width=9.5, height=0.42 * len(rows) + 1.6)
    ax = axes[0][0]
    names = [f"{r['source'].split(' (')[0][:48]} [{r['size']} px]" for r in rows]
    vals = [r["clips_per_s"] for r in rows]
    ax.barh(range(len(rows)), vals, color="#4c72b0")
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    m = payload["model"]
    ax.axvline(m["train_clips_per_s"], color="#c44e52", ls="--", label=f"training step {m['train_clips_per_s']:.3g} clips/s")
    ax.axvline(m["infer_clips_per_s"], color="#55a868", ls=":", label=f"inference {m['infer_clips_per_s']:.3g} clips/s")
    ax.set_xlabel("clips/s per loader worker (log)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("loader throughput per worker vs model consumption", fontsize=10)
    return save_figure(fig, path)


def run_data(out: Path) -> dict[str, Any]:
    """Measure loaders and the model's consumption; write ``out/data/results.{json,md}`` + ``data.png``."""
    machine = machine_info()
    t0 = time.perf_counter()
    cfg = demo_config()
    root, gen_rate = ensure_synth()
    loader = synth_rows(cfg.data, root)
    real, note = real_rows(cfg.data)
    payload: dict[str, Any] = {
        "suite": "data", "machine": machine, "data_config": dict(cfg.data.__dict__),
        "loader": loader + real, "real_note": note, "generation_clips_per_s": gen_rate,
        "pose": pose_row(cfg.data), "model": model_rates(cfg, root), "cache": cache_rows(cfg.data),
    }
    payload["verdict"] = verdict(payload, cfg.data.num_workers)
    payload["duration_s"] = time.perf_counter() - t0
    d = suite_dir(out, "data")
    write_results(d, payload, data_markdown(payload))
    data_plot(payload, d / "data.png")
    print(payload["verdict"])
    return payload
