"""predict --timeline: sliding windows in one streaming pass, for every model kind; bounded memory."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from deformer3d.cli import app
from deformer3d.config import DataConfig
from deformer3d.data.video import open_video, write_video
from deformer3d.errors import UserError
from deformer3d.serve.predictor import Predictor
from deformer3d.serve.segments import NO_PERSON
from deformer3d.serve.timeline import DEFAULT_WINDOW_S, WindowClassifier, plan_windows, run_timeline
from exported_models import make_exported


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("exported")
    return {kind: make_exported(root / kind, kind) for kind in ("rgb_pose", "pose", "timesformer", "vivit")}


def _video(path, seconds: float, fps: float = 30.0, hw=(96, 128), seed: int = 0):
    """Blocks of colour that change every second (so windows differ), written in one go."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    colours = rng.integers(0, 255, (int(np.ceil(seconds)) + 1, 3)).astype(np.uint8)
    frames = np.empty((n, *hw, 3), np.uint8)
    for i in range(n):
        frames[i] = colours[int(i / fps)]
        frames[i, : hw[0] // 2, (i * 3) % hw[1] :] //= 2  # a moving edge
    write_video(path, frames, fps=fps)
    return path


def test_window_plan_defaults_come_from_the_model_clip():
    uniform = DataConfig(num_frames=8, test_sampler="uniform", frame_interval=4)
    plan = plan_windows(uniform, fps=32.0)
    assert plan.window_s == 1.0 and plan.step_s == 0.125 and plan.stride == 4 and plan.stride_s == 0.5
    plan = plan_windows(DataConfig(num_frames=16, test_sampler="equidistant"))
    assert plan.window_s == DEFAULT_WINDOW_S and plan.frames == 16
    plan = plan_windows(DataConfig(num_frames=16), window_s=4.0, stride_s=0.6)
    assert plan.step_s == 0.25 and plan.stride == 2 and plan.stride_s == 0.5  # the stride in whole grid steps
    with pytest.raises(UserError, match="--stride"):
        plan_windows(DataConfig(), stride_s=0)


def test_streamed_windows_equal_the_same_frames_read_at_random(models, tmp_path):
    """The ring lines windows up with the right frames: recompute two windows from frames read by index."""
    video = _video(tmp_path / "v.mp4", 6.0)
    predictor = Predictor(models["timesformer"])
    tl = run_timeline(predictor, video, window_s=2.0, stride_s=1.0, progress=False)
    tw = tl.windows[None]
    assert len(tw.starts) == 5 and tw.starts[:3] == [0.0, 1.0, 2.0] and tw.ends[0] == 2.0
    reader = open_video(video)
    classifier = WindowClassifier(predictor)
    for w in (1, 4):
        # grid frame g at g * 0.25 s = video frame 7.5 g, rounded up (the first at or after the grid time)
        ids = np.ceil(np.arange(w * 4, w * 4 + 8) * 7.5 - 1e-6).astype(int)
        frames = reader.get_frames(ids)
        np.testing.assert_allclose(tw.probs[w], classifier.probs(frames, None, None, frames.shape[1:3]),
                                   atol=1e-5)
    assert not np.allclose(tw.probs[1], tw.probs[4])  # different content, different output: a real comparison


@pytest.mark.parametrize("kind", ["rgb_pose", "pose", "timesformer", "vivit"])
def test_every_model_kind_gives_windows_segments_and_files(models, kind, tmp_path):
    pytest.importorskip("mediapipe") if kind in ("rgb_pose", "pose") else None
    video = _video(tmp_path / "v.mp4", 5.0)
    tl = run_timeline(Predictor(models[kind]), video, progress=False)
    tw = tl.windows[None]
    assert len(tw.starts) == 4  # 2 s windows every 1 s over 5 s
    for p in tw.probs:
        assert p.shape == (len(tl.labels),) and abs(p.sum() - 1) < 1e-4
    # segments tile the video: no gap, no overlap, from 0 to the end
    assert tl.segments[0].start == 0.0 and tl.segments[-1].end == pytest.approx(5.0)
    for a, b in zip(tl.segments, tl.segments[1:], strict=False):
        assert a.end == b.start and a.label != b.label
    paths = tl.write(tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert len(data["windows"]) == 4 and data["segments"][0]["label"] == tl.segments[0].label
    rows = paths["csv"].read_text().splitlines()
    assert rows[0] == "track,start_s,end_s,label,confidence" and len(rows) == len(tl.segments) + 1
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    # colour blocks hold nobody: a pose-only model has nothing to go on and says so instead of naming an action
    if kind == "pose":
        assert [s.label for s in tl.segments] == [NO_PERSON]
        assert not any(w["person_seen"] for w in data["windows"])
    else:
        assert NO_PERSON not in [s.label for s in tl.segments] and all(w["person_seen"] for w in data["windows"])


def test_a_video_shorter_than_one_window_gives_one_window(models, tmp_path):
    video = _video(tmp_path / "short.mp4", 0.8)
    tl = run_timeline(Predictor(models["timesformer"]), video, window_s=2.0, progress=False)
    assert len(tl.windows[None].starts) == 1 and len(tl.segments) == 1
    assert tl.segments[0].end == pytest.approx(0.8)  # where the last frame ends, not the grid


def test_a_tail_longer_than_half_a_stride_gets_its_own_window(models, tmp_path):
    video = _video(tmp_path / "v.mp4", 3.75)  # 15 grid frames: windows at 0, 4, 8 grid frames, tail of 3
    tl = run_timeline(Predictor(models["timesformer"]), video, window_s=2.0, stride_s=1.0, progress=False)
    assert tl.windows[None].starts == [0.0, 1.0, 1.75]
    assert tl.windows[None].ends[-1] == pytest.approx(112 / 30)  # int(3.75 x 30) frames


def test_a_window_that_closes_a_decode_chunk_keeps_its_full_length(models, tmp_path):
    """Windows are emitted chunk by chunk (16 grid frames); one whose last frame is a chunk's last still ends one
    window after its start, not where the decoder happened to stop (only the video's end clips a window)."""
    video = _video(tmp_path / "v.mp4", 6.0)
    tl = run_timeline(Predictor(models["timesformer"]), video, window_s=2.0, stride_s=2.0, progress=False)
    tw = tl.windows[None]  # 8 grid frames of 0.25 s per window: the second one closes the first 16-frame chunk
    assert tw.starts == [0.0, 2.0, 4.0]
    assert tw.ends == [2.0, 4.0, pytest.approx(6.0)]


def test_memory_does_not_grow_with_the_video_length(models, tmp_path):
    """Python-side peak (numpy frames included) for a 40 s video is about that of a 10 s one."""
    predictor = Predictor(models["timesformer"])
    peaks = {}
    for seconds in (10, 40):
        video = _video(tmp_path / f"v{seconds}.mp4", seconds, hw=(120, 160))
        tracemalloc.start()
        tl = run_timeline(predictor, video, window_s=2.0, stride_s=2.0, progress=False)
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(tl.windows[None].starts) == seconds // 2
    # a video held in memory would be 4x larger (40 s x 30 fps x 58 kB = 69 MB against 17 MB)
    assert peaks[40] < 1.25 * peaks[10] + 2**20, peaks


def test_cli_predict_timeline_writes_json_csv_png(models, tmp_path):
    video = _video(tmp_path / "v.mp4", 4.0)
    result = CliRunner().invoke(app, ["predict", str(video), "--model", str(models["timesformer"]), "--timeline",
                                      "--window", "1", "--stride", "0.5", "--out", str(tmp_path / "tl"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["window_s"] == 1.0 and data["stride_s"] == 0.5 and len(data["windows"]) == 7
    for ext in ("json", "csv", "png"):
        assert (tmp_path / f"tl.timeline.{ext}").is_file()


def test_cli_timeline_on_a_missing_file_is_a_one_line_error(models, tmp_path):
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "nope.mp4"), "--model", str(models["timesformer"]),
                                      "--timeline"])
    assert result.exit_code == 2 and "file not found" in result.output
