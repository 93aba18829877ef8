"""Timeline suite: peak memory for a 1-minute vs a 10-minute video (bounded memory), and throughput in video-seconds
per wall-second for a skeleton model and the demo's RGB + pose model.

    python -m benchmarks --suite timeline        # or: python -m benchmarks.suites.timeline [--minutes 1,10]

Each measurement runs ``predict --timeline`` in a fresh process (so its peak RSS, ``ru_maxrss``, is the whole
pipeline's: interpreter, torch, MediaPipe, decoding, the ring, the model) on a video built from the real clips of
``realdata/wild`` played one after the other and looped to length (synthetic moving blocks without the real data).
Models: the bundled Penn Action skeleton model (or, until it ships, the same architecture from
``configs/pennaction_pose.yaml`` with random weights: the cost does not depend on the weights) and the demo's
RGB + pose model (:func:`demo_model`: ``runs/demo/model`` or another ``runs/demo*/model``; without one,
``configs/synth_demo.yaml``'s architecture likewise). The 1-minute load average at the start and end of each
measurement is recorded with it (the CPU may be shared).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks.common import machine_info, machine_line, markdown_table, suite_dir, write_results
from benchmarks.paths import bench_runs, repo_root

SUITE = "timeline"
MEMORY_TOLERANCE = 0.10  # the acceptance: 10 minutes within 10% of 1 minute


# ---- inputs -----------------------------------------------------------------------------------------------------------
def build_video(path: Path, seconds: float, width: int = 640, height: int = 360) -> Path:
    """``seconds`` of the real wild clips one after another (looped), 640x360, 30 fps; written frame by frame."""
    import av

    from deformer3d.config import realdata_root

    if path.is_file():
        return path
    clips = sorted((realdata_root() / "wild").glob("*.mp4"))
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "26"}
        n, total = 0, int(seconds * 30)

        def put(image: np.ndarray) -> None:
            nonlocal n
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, 30)
            out.mux(stream.encode(frame))
            n += 1

        while n < total:
            if clips:
                for clip in clips:
                    with av.open(str(clip)) as src:
                        for frame in src.decode(video=0):
                            if n >= total:
                                break
                            put(_fit(frame, width, height))
            else:  # no real data: moving blocks
                image = np.zeros((height, width, 3), np.uint8)
                x = (n * 4) % (width - 64)
                image[100:260, x : x + 64] = (n // 30 * 37) % 256
                put(image)
        out.mux(stream.encode())
    os.replace(tmp, path)
    return path


def _fit(frame, width: int, height: int) -> np.ndarray:
    scale = min(width / frame.width, height / frame.height)
    w, h = max(2, int(frame.width * scale) // 2 * 2), max(2, int(frame.height * scale) // 2 * 2)
    canvas = np.zeros((height, width, 3), np.uint8)
    y0, x0 = (height - h) // 2, (width - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = frame.to_ndarray(format="rgb24", width=w, height=h)
    return canvas


def model_folder(kind: str, root: Path) -> tuple[Path, str]:
    """``pose`` / ``rgb_pose`` -> (model folder, where it came from)."""
    from deformer3d.pretrained import DEFAULT_MODEL, bundled_models

    if kind == "pose":
        bundled = bundled_models().get(DEFAULT_MODEL)
        if bundled is not None and (bundled / "model.safetensors").is_file():
            return bundled, f"bundled {DEFAULT_MODEL}"
        config = "configs/pennaction_pose.yaml"
    else:
        demo = demo_model()
        if demo is not None:
            return demo, str(demo.relative_to(repo_root()) if demo.is_relative_to(repo_root()) else demo)
        config = "configs/synth_demo.yaml"
    out = root / f"{kind}_random"
    if not (out / "config.json").is_file():
        _export_random(repo_root() / config, out)
    return out, f"{config} architecture, random weights"


def demo_model() -> Path | None:
    """The demo's RGB + pose model: ``$DEFORMER3D_DEMO_MODEL``, else ``runs/demo/model`` (``make demo``), else the
    newest ``runs/demo*/model`` (e.g. ``deformer3d demo --out runs/demo_small --clips 300 --epochs 2``: the same
    architecture and preprocessing, so the same cost, with less training); None when there is none."""
    explicit = os.environ.get("DEFORMER3D_DEMO_MODEL")
    if explicit:
        return Path(explicit)
    runs = repo_root() / "runs"
    found = [runs / "demo" / "model"] + sorted(runs.glob("demo*/model"), key=lambda p: -p.stat().st_mtime)
    return next((p for p in found if (p / "config.json").is_file()), None)


def _export_random(config: Path, out: Path) -> None:
    """The model of ``config`` with random weights, exported the way training exports (same preprocessing)."""
    from deformer3d.config import load_config
    from deformer3d.data.preprocessing import preprocessing_of
    from deformer3d.engine.export import export_module
    from deformer3d.engine.module import ActionModule

    cfg = load_config(config, [])
    classes = 15 if "penn" in config.name else 14
    module = ActionModule(dict(cfg.model), classes, [f"class_{i}" for i in range(classes)],
                          data_info=preprocessing_of(cfg.data))
    export_module(module, out)


# ---- one measurement (in its own process) -------------------------------------------------------------------------
def measure_one(video: Path, model: Path) -> dict:
    """Run the timeline on ``video`` with ``model`` in this process -> throughput, stage times, peak RSS."""
    import torch

    from deformer3d.serve.predictor import Predictor
    from deformer3d.serve.timeline import run_timeline as timeline_of

    predictor = Predictor(model)
    t0 = time.perf_counter()
    tl = timeline_of(predictor, video, progress=False)
    wall = time.perf_counter() - t0
    return {
        "video_s": tl.duration, "wall_s": wall, "speed": tl.duration / wall, "windows": len(tl.windows[None].starts),
        "timings_s": tl.timings, "window_s": tl.plan.window_s, "frames_per_window": tl.plan.frames,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
    }


def _child(video: Path, model: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.suites.timeline", "--one", str(video), str(model)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root(), env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"timeline measurement failed ({done.returncode}): {done.stderr[-2000:]}")
    # the CPU may be shared: how busy it was (1-minute load average) when the measurement started and ended
    return json.loads(lines[-1]) | {"load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def run_timeline(out: Path, minutes: tuple[float, ...] = (1.0, 10.0)) -> dict:
    info = machine_info()
    work = bench_runs() / SUITE
    work.mkdir(parents=True, exist_ok=True)
    videos = {m: build_video(work / f"wild_{m:g}min.mp4", 60 * m) for m in minutes}
    rows, results = [], {}
    for kind in ("pose", "rgb_pose"):
        model, origin = model_folder(kind, work)
        for m in minutes if kind == "pose" else minutes[:1]:  # memory on the long video: the pose model
            r = _child(videos[m], model)
            results[f"{kind}_{m:g}min"] = r | {"model": origin}
            t = r["timings_s"]
            rows.append([kind, origin, f"{m:g} min", f"{r['speed']:.2f}x", f"{r['peak_rss_mib']:.0f}",
                         f"{t['decode']:.0f} / {t['pose']:.0f} / {t['model']:.0f}", str(r["windows"]),
                         " -> ".join(f"{x:.1f}" for x in r["load_1m"])])
    mem = [results[f"pose_{m:g}min"]["peak_rss_mib"] for m in minutes]
    growth = mem[-1] / mem[0] - 1
    verdict = (f"peak RSS {mem[-1]:.0f} MiB for {minutes[-1]:g} min vs {mem[0]:.0f} MiB for {minutes[0]:g} min: "
               f"{growth:+.1%} ({'within' if abs(growth) <= MEMORY_TOLERANCE else 'NOT within'} "
               f"{MEMORY_TOLERANCE:.0%})")
    md = "\n\n".join([
        "# Timeline: memory and throughput", machine_line(info),
        markdown_table(["model", "weights", "video", "video s / wall s", "peak RSS MiB", "decode / pose / model s",
                        "windows", "load avg (start -> end)"], rows),
        verdict + ". Each row is one `predict --timeline` in a fresh process (ru_maxrss: the whole process).",
    ])
    payload = {"machine": info, "results": results, "memory_growth": growth, "verdict": verdict}
    write_results(suite_dir(out, SUITE), payload, md)
    return payload


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure_one(Path(argv[1]), Path(argv[2]))))
        return
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else repo_root() / "benchmarks" / "results"
    minutes = tuple(float(m) for m in argv[argv.index("--minutes") + 1].split(",")) if "--minutes" in argv else (1, 10)
    payload = run_timeline(out, minutes)
    print(payload["verdict"])


if __name__ == "__main__":
    main(sys.argv[1:])
