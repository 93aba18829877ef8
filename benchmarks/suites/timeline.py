"""Timeline suite: peak memory for a 1-minute vs a 10-minute video (bounded memory), and throughput in video-seconds
per wall-second for a skeleton model and the demo's RGB + pose model.

    python -m benchmarks --suite timeline        # or: python -m benchmarks.suites.timeline [--minutes 1,10]

Each measurement runs ``predict --timeline`` in a fresh process (so its peak RSS, ``ru_maxrss``, is the whole
pipeline's: interpreter, torch, MediaPipe, decoding, the ring, the model) on a video built from the real clips of
``realdata/wild`` played one after the other and looped to length (synthetic moving blocks without the real data).
Models: the bundled Penn Action skeleton model (or, until it ships, the same architecture from
``configs/pennaction_pose.yaml`` with random weights: the cost does not depend on the weights) and the demo's
RGB + pose model (``runs/demo/model``, or ``configs/synth_demo.yaml``'s architecture likewise).
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
        demo = repo_root() / "runs" / "demo" / "model"
        if (demo / "config.json").is_file():
            return demo, "runs/demo/model"
        config = "configs/synth_demo.yaml"
    out = root / f"{kind}_random"
    if not (out / "config.json").is_file():
        _export_random(repo_root() / config, out)
    return out, f"{config} architecture, random weights"


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
    }


def _child(video: Path, model: Path) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.suites.timeline", "--one", str(video), str(model)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=repo_root(), env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"timeline measurement failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


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
                         f"{t['decode']:.0f} / {t['pose']:.0f} / {t['model']:.0f}", str(r["windows"])])
    mem = [results[f"pose_{m:g}min"]["peak_rss_mib"] for m in minutes]
    growth = mem[-1] / mem[0] - 1
    verdict = (f"peak RSS {mem[-1]:.0f} MiB for {minutes[-1]:g} min vs {mem[0]:.0f} MiB for {minutes[0]:g} min: "
               f"{growth:+.1%} ({'within' if abs(growth) <= MEMORY_TOLERANCE else 'NOT within'} "
               f"{MEMORY_TOLERANCE:.0%})")
    md = "\n\n".join([
        "# Timeline: memory and throughput", machine_line(info),
        markdown_table(["model", "weights", "video", "video s / wall s", "peak RSS MiB", "decode / pose / model s",
                        "windows"], rows),
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
