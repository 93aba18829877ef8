"""deformer3d watch: a file played at its own frame rate gives a rolling label, latency and FPS; when the machine
falls behind frames are dropped and said so, and the lag does not grow."""

from __future__ import annotations

import json
import time
from collections import deque

import numpy as np
import pytest
from typer.testing import CliRunner

from deformer3d.cli import app
from deformer3d.data.video import open_video, write_video
from deformer3d.errors import UserError
from deformer3d.serve.frames import SampledFrame
from deformer3d.serve.live import Arrival, FrameRing, parse_source, window_entries
from deformer3d.serve.segments import NO_PERSON
from deformer3d.serve.timeline import Entry
from exported_models import make_exported


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("exported")
    return {kind: make_exported(root / kind, kind) for kind in ("rgb_pose", "pose", "timesformer")}


def _video(path, seconds: float, fps: float = 30.0, hw=(96, 128)):
    n = int(seconds * fps)
    frames = np.zeros((n, *hw, 3), np.uint8)
    for i in range(n):
        frames[i, :, : 4 + (i * 2) % (hw[1] - 4)] = (37 * (i // 30)) % 256  # changes every second
    write_video(path, frames, fps=fps)
    return path


def _arrival(t: float) -> Arrival:
    return Arrival(SampledFrame(int(t * 10), t, np.zeros((2, 2, 3), np.uint8)), time.perf_counter(), 0.0)


def test_the_ring_keeps_the_newest_frames_and_counts_what_it_drops():
    ring = FrameRing(4)
    for k in range(6):
        ring.put(_arrival(k / 10))
    assert ring.dropped == 2  # full: the two oldest went
    got = ring.take(3)
    assert [a.frame.time for a in got] == [0.3, 0.4, 0.5] and ring.dropped == 3  # 0.2 skipped to catch up
    ring.close()
    assert ring.take(3) == []


def test_a_window_thinned_by_drops_is_filled_with_the_nearest_frames_in_time():
    history = deque(Entry(t, None, {}) for t in (0.0, 0.125, 0.25, 1.0, 1.125))
    picked = [e.time for e in window_entries(history, 8, 0.125)]
    assert len(picked) == 8 and picked[-1] == 1.125
    assert picked == [0.25, 0.25, 0.25, 0.25, 1.0, 1.0, 1.0, 1.125]
    # at the start only the part of the window already seen
    assert [e.time for e in window_entries(deque([Entry(0.0, None, {})]), 8, 0.125)] == [0.0]


def test_sources_are_told_apart(tmp_path):
    assert parse_source("0").format == "v4l2" and not parse_source("0").paced
    url = parse_source("rtsp://cam.local/stream")
    assert url.options == {"rtsp_transport": "tcp"} and not url.paced
    (tmp_path / "a.mp4").write_bytes(b"x")
    assert parse_source(str(tmp_path / "a.mp4")).paced
    with pytest.raises(UserError, match="webcam index"):
        parse_source(str(tmp_path / "missing.mp4"))


def _watch_json(model, video, *extra) -> list[dict]:
    result = CliRunner().invoke(app, ["watch", str(video), "--model", str(model), "--json", *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_watch_a_file_in_real_time_rolling_label_latency_and_a_bounded_lag(models, tmp_path):
    """10 s played at its frame rate with a stride of one grid frame: more work than a CPU can do in time, so the
    watcher must drop frames, say so, and keep the lag from growing."""
    pytest.importorskip("mediapipe")
    video = _video(tmp_path / "v.mp4", 10.0)
    t0 = time.perf_counter()
    reports = _watch_json(models["rgb_pose"], video, "--window", "1", "--stride", "0.125",
                          "--out", str(tmp_path / "annotated.mp4"))
    wall = time.perf_counter() - t0
    assert wall >= 9.0  # played at its own rate, not as fast as it decodes
    assert len(reports) >= 2
    for r in reports:
        assert set(r["latency_ms"]) == {"decode", "pose", "model"} and r["latency_ms"]["model"] > 0
        assert r["labels"]["all"]["label"] and 0 < r["labels"]["all"]["confidence"] <= 1
        assert r["fps"] > 0 and r["source_fps"] == 8.0
    assert reports[-1]["dropped"] > 0 and any(r["dropped_new"] > 0 for r in reports)
    _assert_lag_does_not_grow(reports, stride_s=0.125)
    # the annotated video holds the frames the watcher used, at their own times
    reader = open_video(tmp_path / "annotated.mp4")
    assert reader.num_frames == len(reports)  # one grid frame per update at this stride
    assert reader.times[-1] == pytest.approx(reports[-1]["time"], abs=0.01)


def test_watch_with_a_pose_model_and_nobody_in_view_names_no_action(models, tmp_path):
    pytest.importorskip("mediapipe")
    reports = _watch_json(models["pose"], _video(tmp_path / "empty.mp4", 3.0), "--window", "1", "--stride", "0.5")
    assert reports and all(r["labels"]["all"] == {"label": NO_PERSON, "confidence": 1.0} for r in reports)


def _assert_lag_does_not_grow(reports: list[dict], stride_s: float, literal: bool = False) -> None:
    """No backlog builds up: each update's lag is explained by the work of the last two updates (the newest frame
    it used was due at most one cycle before it started, plus one stride of waiting), however slow the machine.
    A queue that kept every frame would add (cycle - stride) of lag per update, without bound.
    ``literal``: also the lag at the end (median of the last quarter) against the start (the first quarter's
    largest, the model's first call included), within a stride: for runs long enough to have quarters."""
    lags = [r["lag_s"] for r in reports]
    walls = [0.0] + [r["wall_s"] for r in reports]
    for i, lag in enumerate(lags):
        cycles = walls[i + 1] - walls[max(0, i - 1)]
        assert lag <= cycles + 2 * stride_s, (i, lags, walls)
    if literal:
        k = max(1, len(lags) // 4)
        assert float(np.median(lags[-k:])) <= max(lags[:k]) + stride_s, lags


@pytest.mark.slow
@pytest.mark.realdata
def test_watch_real_footage_for_60_seconds_keeps_its_lag(models, realdata, tmp_path):
    pytest.importorskip("mediapipe")
    from realvideos import concatenate

    video = tmp_path / "workout.mp4"
    concatenate([realdata / "wild" / "squat.mp4", realdata / "wild" / "pushup.mp4"], video)  # 63.9 s
    pose_model = make_exported(tmp_path / "pose", "pose")
    reports = _watch_json(pose_model, video, "--seconds", "60")
    assert reports[-1]["time"] >= 50  # real time: it got through most of the minute
    assert all(r["latency_ms"]["pose"] > 0 for r in reports)
    _assert_lag_does_not_grow(reports, stride_s=1.0, literal=True)
