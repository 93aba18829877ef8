"""Skeleton files that are empty, malformed or do not fit their video, and predictions with no pose evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest
from contract import run_cli, snapshot

from deformer3d.data.video import write_video
from exported_models import make_exported

pytestmark = pytest.mark.bad_inputs

FRAMES, SIZE = 16, 64


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 16-frame video, a pose-only and an RGB + pose model, and a good COCO-17 skeleton of the video."""
    root = tmp_path_factory.mktemp("skeletons")
    rng = np.random.default_rng(0)
    video = root / "clip.mp4"
    write_video(video, rng.integers(0, 255, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8), fps=16)
    kp = rng.uniform(10, SIZE - 10, (1, FRAMES, 17, 2)).astype(np.float32)
    return {
        "root": root,
        "video": video,
        "pose": make_exported(root / "pose_model", "pose"),
        "rgb_pose": make_exported(root / "rgb_pose_model", "rgb_pose"),
        "kp": kp,
        "sc": np.ones((1, FRAMES, 17), np.float32),
    }


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _predict(scene, skeleton, model="pose", *extra):
    return ("predict", scene["video"], "--model", scene[model], "--skeleton", skeleton, *extra)


def test_good_skeleton_is_accepted_and_reported_as_given(scene):
    good = _npz(scene["root"] / "good.npz", keypoints=scene["kp"], scores=scene["sc"])
    out = run_cli(*_predict(scene, good), "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["pose"] == {"source": "given", "joints_found": 1.0}


@pytest.mark.parametrize(
    "name, arrays, words",
    [
        ("zero_frames.npz", {"keypoints": np.zeros((1, 0, 17, 2), np.float32)}, ["0 frames"]),
        ("bad_scores.npz", {"keypoints": np.ones((1, FRAMES, 17, 2), np.float32),
                            "scores": np.ones((1, FRAMES, 5), np.float32)}, ["scores have shape"]),
        ("flat.npz", {"keypoints": np.ones((FRAMES * 17,), np.float32)}, ["expected (M persons"]),
        ("five_joints.npz", {"keypoints": np.ones((1, FRAMES, 5, 2), np.float32)}, ["5 joints"]),
        ("bad_shape_field.npz", {"keypoints": np.ones((1, FRAMES, 17, 2), np.float32),
                                 "img_shape": np.array([-3.0])}, ["img_shape"]),
    ],
)
def test_malformed_npz(scene, cli, name, arrays, words):
    path = _npz(scene["root"] / name, **arrays)
    cli(*_predict(scene, path), names=[name, *words])


def test_json_of_strings_and_of_a_number(scene, cli):
    strings = scene["root"] / "strings.json"
    strings.write_text(json.dumps({"keypoints": [[["a", "b"]] * 17] * FRAMES}))
    cli(*_predict(scene, strings), names=["strings.json", "not arrays of numbers"])
    number = scene["root"] / "number.json"
    number.write_text("42")
    cli(*_predict(scene, number), names=["number.json", "int"])


def test_ntu_negative_frame_count(scene, cli):
    path = scene["root"] / "S001C001P001R001A001.skeleton"
    path.write_text("-3\n")
    cli(*_predict(scene, path), names=[path.name, "-3"])
    empty_body = scene["root"] / "S001C001P001R001A002.skeleton"
    empty_body.write_text("1\n1\n\n25\n")
    cli(*_predict(scene, empty_body), names=[empty_body.name, "frame 1"])


def test_unknown_pose_suffix_lists_every_accepted_one(scene, cli):
    path = scene["root"] / "pose.txt"
    path.write_text("1 2 3")
    cli(*_predict(scene, path), names=["pose.txt", ".pkl", ".npz", ".json", ".skeleton"])


def test_frame_count_mismatch_names_both_counts_unless_resampled(scene, cli):
    short = _npz(scene["root"] / "short.npz", keypoints=scene["kp"][:, :5], scores=scene["sc"][:, :5])
    cli(*_predict(scene, short), names=["short.npz", "5 frames", f"has {FRAMES}", "--resample-skeleton"])
    out = run_cli(*_predict(scene, short), "--resample-skeleton", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["pose"]["joints_found"] == 1.0
    one_off = _npz(scene["root"] / "one_off.npz", keypoints=scene["kp"][:, :-1], scores=scene["sc"][:, :-1])
    assert run_cli(*_predict(scene, one_off)).exit_code == 0  # one frame fewer: the encoder's last frame


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e9])
def test_no_usable_joint(scene, cli, value):
    """Every joint NaN / inf / absurdly far away: a pose-only model refuses; an RGB + pose model predicts with a
    warning on stderr and in the JSON, never a bare confident answer."""
    empty = _npz(scene["root"] / f"empty_{value}.npz", keypoints=np.full_like(scene["kp"], value), scores=scene["sc"])
    before = snapshot(scene["root"])
    cli(*_predict(scene, empty), names=[str(scene["video"].name), "no usable joint", "only the skeleton"])
    out = run_cli(*_predict(scene, empty, "rgb_pose"), "--json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["pose"] == {"source": "given", "joints_found": 0.0}
    assert payload["warnings"] and "no usable joint" in payload["warnings"][0]
    stderr = " ".join(out.stderr.split())  # rich wraps at the console width
    assert "warning:" in stderr and "no usable joint" in stderr
    assert snapshot(scene["root"]) == before


def test_estimated_pose_of_nobody(scene, cli, tmp_path):
    """No person in the video: the estimated pose is reported as such (`joints_found` 0), the pose-only model
    refuses. Needs the MediaPipe backend."""
    from deformer3d.pose import build_pose_estimator

    try:
        build_pose_estimator("mediapipe", static_image_mode=True).close()
    except Exception as exc:  # the optional pose extra: not installed, or not importable here
        pytest.skip(f"MediaPipe pose backend unavailable: {type(exc).__name__}: {exc}")
    blank = tmp_path / "nobody.mp4"
    write_video(blank, np.full((FRAMES, 96, 96, 3), 128, np.uint8), fps=16)
    cli("predict", blank, "--model", scene["pose"], names=["nobody.mp4", "found no person"])
    out = run_cli("predict", blank, "--model", scene["rgb_pose"], "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["pose"] == {"source": "estimated", "joints_found": 0.0}
    assert "no person was found" in " ".join(out.stderr.split())


def test_explain_into_a_folder(scene, cli):
    good = _npz(scene["root"] / "good2.npz", keypoints=scene["kp"], scores=scene["sc"])
    before = snapshot(scene["root"])
    cli(*_predict(scene, good), "--explain", scene["root"], names=["--explain", "is a folder"])
    cli(*_predict(scene, good), "--explain", scene["root"] / "no" / "where.png", names=["does not exist"])
    assert snapshot(scene["root"]) == before
