"""Bad files inside a training set: the same one-line error with or without loader workers; paths kept inside the
dataset root; frame-folder gaps and skeletons without a usable joint reported by `validate`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from contract import refused, run_cli, snapshot

from deformer3d.data.formats.pyskl import read_pyskl, write_pyskl
from deformer3d.data.synthetic import write_synthactions
from engine_fixtures import write_config

pytestmark = pytest.mark.bad_inputs

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "synth_rgb.yaml"


@pytest.fixture(scope="module")
def corrupt_synth(tmp_path_factory):
    """A small SynthActions set whose every video is 300 random bytes."""
    root = tmp_path_factory.mktemp("corrupt") / "data"
    write_synthactions(root, num_clips=42, seed=0, size=32, frame_range=(8, 8), workers=1)
    for video in (root / "videos").glob("*.mp4"):
        video.write_bytes(np.random.default_rng(0).integers(0, 255, 300, dtype=np.uint8).tobytes())
    return root


def test_corrupt_video_same_message_with_and_without_workers(corrupt_synth, tmp_path):
    messages = []
    for workers in (0, 1):
        run = tmp_path / f"run{workers}"
        out = refused("train", CONFIG, f"data.root={corrupt_synth}", f"trainer.out_dir={run}", "trainer.max_epochs=1",
                      f"data.num_workers={workers}", "trainer.progress=false", names=[".mp4", "cannot open"])
        assert "DataLoader worker" not in out.text and "Original Traceback" not in out.text
        assert not run.exists()  # a failed train leaves no run folder
        messages.append(out.output[out.output.index("error:"):])
    assert messages[0] == messages[1]


def test_symlink_found_through_frame_dir_is_refused(tmp_path, cli):
    """``root/videos/<frame_dir>.mp4`` that is a symlink out of the root is refused like one named in ``filename``."""
    data = tmp_path / "data"
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not yours")
    (data / "videos").mkdir(parents=True)
    os.symlink(outside, data / "videos" / "s0.mp4")
    kp = np.ones((1, 8, 17, 2), np.float32) * 10
    anns = [{"frame_dir": f"s{i}", "label": 0, "img_shape": (32, 32), "total_frames": 8, "keypoint": kp,
             "keypoint_score": np.ones((1, 8, 17), np.float32)} for i in range(2)]
    write_pyskl(data / "motion.pkl", anns, {"train": ["s0", "s1"], "val": ["s1"], "test": ["s1"]})
    cfg = write_config(tmp_path / "exp.yaml", data, tmp_path / "run")
    cli("train", cfg, names=["s0", "escapes the dataset root"])
    assert not (tmp_path / "run").exists()


def test_joint_count_mismatch_names_the_skeleton_file(tmp_path, cli):
    data = tmp_path / "data"
    pkl = data / "motion.pkl"
    from engine_fixtures import write_motion_pkl

    write_motion_pkl(pkl)
    content = read_pyskl(pkl)
    for ann in content["annotations"]:
        ann["keypoint"], ann["keypoint_score"] = ann["keypoint"][:, :, :13], ann["keypoint_score"][:, :, :13]
    write_pyskl(pkl, content["annotations"], content["split"], class_names=content["class_names"])
    cfg = write_config(tmp_path / "exp.yaml", data, tmp_path / "run", workers=1)
    cli("train", cfg, names=["motion.pkl", "13 joints", "data.layout"])
    assert not (tmp_path / "run").exists()


def test_validate_reports_frame_gaps_and_unusable_skeletons(tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    anns, split = [], {"train": [], "val": [], "test": []}
    for i, stage in enumerate(("train", "train", "val", "test")):
        folder = data / f"s{i}"
        folder.mkdir(parents=True)
        frames = [n for n in range(1, 9) if not (i == 0 and n in (4, 5))]  # s0 lacks img_00004 and img_00005
        for n in frames:
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"img_{n:05d}.jpg")
        kp = rng.uniform(4, 28, (1, len(frames), 17, 2)).astype(np.float32)
        if i == 1:
            kp[:] = np.nan  # s1: no usable joint
        anns.append({"frame_dir": f"s{i}", "label": 0, "img_shape": (32, 32), "total_frames": len(frames),
                     "keypoint": kp, "keypoint_score": np.ones(kp.shape[:3], np.float32)})
        split[stage].append(f"s{i}")
    write_pyskl(data / "motion.pkl", anns, split, class_names=["a"])
    cfg = write_config(tmp_path / "exp.yaml", data, tmp_path / "run")
    cfg.write_text(cfg.read_text().replace("modality: pose", "modality: rgb_pose"))
    before = snapshot(tmp_path)
    out = run_cli("validate", cfg, columns=400)  # table cells on one line each
    assert out.exit_code == 1, out.output
    for words in ("frame numbering gap", "img_00003.jpg", "2 frame(s) missing", "no usable joint"):
        assert out.mentions(words), out.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("problem", ["visibility", "dimensions"])
def test_penn_mat_with_inconsistent_fields(tmp_path, cli, problem):
    import scipy.io

    labels = tmp_path / "penn" / "labels"
    labels.mkdir(parents=True)
    t = 6
    fields = {"x": np.ones((t, 13)), "y": np.ones((t, 13)), "visibility": np.ones((t, 13)), "action": "jump",
              "dimensions": np.array([[48, 64, t]]), "nframes": t, "train": 1}
    if problem == "visibility":
        fields["visibility"] = np.ones((t, 12))
    else:
        fields["dimensions"] = np.array([[0, 64, t]])
    scipy.io.savemat(labels / "0001.mat", fields)
    cfg = write_config(tmp_path / "exp.yaml", tmp_path / "penn", tmp_path / "run")
    cli("train", cfg, "data.format=pennaction", "data.ann_file=labels", "data.layout=penn13",
        "data.splits={train: train, val: train, test: test}", names=["0001.mat", problem])
    assert not (tmp_path / "run").exists()
