"""deformer3d predict: every model kind, automatic pose on real clips, skeleton files, bad videos, --json/--explain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from deformer3d.cli import app
from deformer3d.data.video import write_video
from deformer3d.errors import UserError
from deformer3d.serve.evidence import LOW_EVIDENCE
from deformer3d.serve.predictor import Predictor, interpolate_keyframes
from exported_models import make_exported, write_noise_clip

runner = CliRunner()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("exported")
    return {kind: make_exported(root / kind, kind) for kind in ("rgb_pose", "pose", "timesformer", "vivit")}


@pytest.fixture(scope="module")
def noise_clip(tmp_path_factory):
    """A 20-frame 96x128 clip of smooth noise (no person in it)."""
    return write_noise_clip(tmp_path_factory.mktemp("clips") / "noise.mp4", 20, 96, 128)


@pytest.mark.parametrize("kind", ["timesformer", "vivit", "pose", "rgb_pose"])
def test_every_model_kind_predicts(models, noise_clip, kind):
    predictor = Predictor(models[kind])
    try:
        result = predictor.predict(noise_clip, top_k=5, explain=True)
    except UserError as exc:  # no person in the noise: a pose-only model has nothing to stand on, and says so
        assert kind == "pose" and "found no person" in str(exc)
        return
    if predictor.uses_pose:  # the pose evidence is reported, with a warning when little of it was found
        assert result.evidence is not None and result.evidence.source == "estimated"
        assert bool(result.warnings) == (result.evidence.joints_found < LOW_EVIDENCE)
        assert kind != "pose" or result.evidence.joints_found > 0
    assert len(result.top_k) == 5 and len({label for label, _ in result.top_k}) == 5
    probs = [p for _, p in result.top_k]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6
    assert all(label in predictor.labels for label, _ in result.top_k)
    assert len(result.frame_inds) == 8 and result.frames.dtype == np.uint8 and len(result.frames) == 8
    assert (result.pose is not None) == predictor.uses_pose
    e = result.explanations
    if kind in ("timesformer", "vivit"):
        assert e["attention"].shape == (8, 7, 7)
    elif kind == "rgb_pose":
        assert e["deformable"][-1]["points"].shape[-1] == 3 and e["joint_attention"].shape == (8, 17)


def test_skeleton_file_is_used_instead_of_extraction(models, noise_clip, tmp_path):
    """A pose sidecar (.npz) goes to the model as given: the keypoints drawn are the file's, not MediaPipe's."""
    t = 20
    kp = np.zeros((1, t, 17, 2), np.float32)
    kp[..., 0], kp[..., 1] = 64.0, 48.0  # every joint at the image centre
    np.savez(tmp_path / "noise.npz", keypoints=kp, scores=np.ones((1, t, 17), np.float32))
    result = Predictor(models["pose"]).predict(noise_clip, skeleton=tmp_path / "noise.npz")
    assert result.pose is not None and (result.pose[..., 2] > 0).all()
    centre = result.pose[..., :2].reshape(-1, 2)
    assert np.allclose(centre, centre[0], atol=1e-4)  # all joints at one point, as in the file


def test_interpolate_keyframes_fills_between_and_keeps_misses_missing():
    kp = np.array([[[[0.0, 0.0]], [[10.0, 20.0]], [[10.0, 20.0]]]], np.float32)  # (1, 3 keys, 1 joint, 2)
    sc = np.array([[[1.0], [1.0], [0.0]]], np.float32)
    full_kp, full_sc = interpolate_keyframes(kp, sc, np.array([0, 4, 8]), 9)
    assert full_kp.shape == (1, 9, 1, 2)
    np.testing.assert_allclose(full_kp[0, 2, 0], [5.0, 10.0])
    assert full_sc[0, :5, 0].tolist() == [1.0] * 5 and full_sc[0, 5:, 0].tolist() == [0.0] * 4


@pytest.mark.slow  # ~1 min: ten real clips incl. a 1080p AVI (decoded sequentially); one clip runs by default below
@pytest.mark.realdata
@pytest.mark.parametrize("kind", ["rgb_pose", "pose"])
def test_real_clips_with_automatic_pose(models, realdata, kind):
    """Every clip of videos/ and wild/ (phone, portrait, slow-motion, a timestamp glitch) opens and predicts, with
    an RGB + pose model and a pose-only one (which needs a person found in every clip)."""
    predictor = Predictor(models[kind])
    clips = sorted((realdata / "videos").iterdir()) + sorted((realdata / "wild").iterdir())
    assert len(clips) >= 10
    for clip in clips:
        result = predictor.predict(clip, top_k=5)
        probs = [p for _, p in result.top_k]
        assert len(probs) == 5 and 0 < sum(probs) <= 1 + 1e-6, clip.name
        if clip.name.startswith("stgcn_"):  # one full-body person in the middle (README): found in the crop
            assert (result.pose[..., 2].max(axis=(1, 2)) > 0.5).mean() >= 0.5, clip.name


@pytest.mark.realdata
def test_cli_json_and_explain_figure(models, realdata, tmp_path):
    clip = realdata / "videos" / "stgcn_clean_and_jerk.mp4"
    fig = tmp_path / "why.png"
    res = runner.invoke(app, ["predict", str(clip), "--model", str(models["rgb_pose"]), "--json", "--explain", str(fig)])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout[res.stdout.index("{"):])
    assert len(payload["top_k"]) == 5 and sum(x["probability"] for x in payload["top_k"]) <= 1 + 1e-6
    assert fig.stat().st_size > 20_000 and payload["explanation_figure"] == str(fig)


def test_cli_table(models, noise_clip):
    res = runner.invoke(app, ["predict", str(noise_clip), "--model", str(models["timesformer"])])
    assert res.exit_code == 0, res.output
    assert "probability" in res.stdout and res.stdout.count("\n") >= 5


@pytest.mark.parametrize("case", ["one_frame", "empty", "corrupt", "missing"])
def test_bad_videos_exit_with_a_clear_message(models, tmp_path, case):
    path = tmp_path / f"{case}.mp4"
    if case == "one_frame":
        write_video(path, np.full((1, 64, 64, 3), 128, np.uint8))
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "corrupt":
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    res = runner.invoke(app, ["predict", str(path), "--model", str(models["timesformer"])])
    assert res.exit_code == 2, res.output
    out = " ".join(res.output.split())
    assert "error:" in out and f"{case}.mp4" in out
    expected = {"one_frame": "has 1 frame", "empty": "is empty (0 bytes)", "corrupt": "cannot open as a video", "missing": "not found"}[case]
    assert expected in out
    assert "Traceback" not in res.output


@pytest.mark.realdata
def test_cli_says_a_long_video_is_a_mean_of_windows(realdata):
    """The bundled model (2 s windows) on a 20 s video looks through several windows: the table's footer says so
    (and how many were used) instead of listing one window's frames as if they were the whole prediction's."""
    res = runner.invoke(app, ["predict", str(realdata / "wild" / "pullup.mp4")])
    assert res.exit_code == 0, res.output
    footer = " ".join(res.stdout.split())
    assert "windows (" in footer and "shown: the surest window" in footer, footer
