"""Dataset formats: NTU .skeleton + protocols, Penn Action, HMDB51 splits, FineGYM pkl, folder with sidecars."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from deformer3d.config import DataConfig
from deformer3d.data.dataset import build_dataset
from deformer3d.data.formats import stratified_split
from deformer3d.data.formats.folder import write_sidecar
from deformer3d.data.formats.hmdb51 import official_split
from deformer3d.data.formats.ntu import (
    parse_name,
    protocol_split,
    read_missing_list,
    read_skeleton,
    skeleton_to_2d,
)
from deformer3d.data.formats.pennaction import read_all
from deformer3d.data.formats.pyskl import write_pyskl
from deformer3d.data.video import open_video, write_video
from deformer3d.errors import DataFormatError


# --------------------------------------------------------------------------- NTU
def _skeleton_text(bodies_per_frame: list[list[tuple[str, np.ndarray]]]) -> str:
    """A .skeleton file: per frame a list of (body id, joints (25, 12))."""
    out = [str(len(bodies_per_frame))]
    for bodies in bodies_per_frame:
        out.append(str(len(bodies)))
        for body_id, joints in bodies:
            out.append(f"{body_id} 0 1 1 1 1 0 0.0 0.0 2")
            out.append("25")
            out += [" ".join(f"{v:.4f}" for v in row) for row in joints]
    return "\n".join(out) + "\n"


def _joints(x, y, track=2):
    j = np.zeros((25, 12))
    j[:, 5] = x + np.arange(25)
    j[:, 6] = y
    j[:, 11] = track
    return j


def test_ntu_multi_body_main_actor_and_missing(tmp_path):
    frames = []
    for t in range(6):
        bodies = [("111", _joints(500, 300))]  # still
        if t >= 2:
            bodies.append(("222", _joints(800 + 40 * t, 400)))  # moving, appears at frame 2
        frames.append(bodies)
    frames.append([])  # a frame with no body
    path = tmp_path / "S001C001P001R001A050.skeleton"
    path.write_text(_skeleton_text(frames))
    skel = read_skeleton(path)
    assert skel.num_frames == 7 and len(skel.bodies) == 2
    kp, sc = skeleton_to_2d(skel)
    assert kp.shape == (2, 7, 25, 2)
    assert kp[0, 3, 0, 0] == 800 + 120  # the moving body comes first
    assert (sc[0, :2] == 0).all() and (sc[0, 2:6] == 1).all() and (sc[:, 6] == 0).all()


def test_ntu_nan_and_zero_joints_are_missing(tmp_path):
    j = _joints(500, 300)
    j[3, 5:7] = np.nan
    j[4, 5:7] = 0
    path = tmp_path / "nan.skeleton"
    path.write_text(_skeleton_text([[("1", j)], [("1", _joints(501, 300))]]))
    kp, sc = skeleton_to_2d(read_skeleton(path))
    assert np.isfinite(kp).all() and sc[0, 0, 3] == 0 and sc[0, 0, 4] == 0 and sc[0, 0, 5] == 1


def test_ntu_truncated_frame(tmp_path):
    text = _skeleton_text([[("1", _joints(500, 300))]] * 3)
    path = tmp_path / "cut.skeleton"
    path.write_text("\n".join(text.splitlines()[:-10]))  # the last frame loses 10 joint lines
    with pytest.raises(DataFormatError, match=r"cut.skeleton.*frame 3.*truncated"):
        read_skeleton(path)
    bad = tmp_path / "bad.skeleton"
    bad.write_text("hello\n")
    with pytest.raises(DataFormatError, match="not an NTU"):
        read_skeleton(bad)


def test_ntu_name():
    assert parse_name("S017C003P020R002A060") == {
        "setup": 17,
        "camera": 3,
        "performer": 20,
        "replication": 2,
        "action": 60,
    }
    with pytest.raises(DataFormatError):
        parse_name("video_01")


@pytest.mark.realdata
def test_real_ntu_sample_parses_and_matches_its_video(realdata):
    skel = read_skeleton(realdata / "ntu" / "S001C001P001R001A001.skeleton")
    assert skel.num_frames == 103 and len(skel.bodies) == 1
    kp, sc = skeleton_to_2d(skel)
    assert kp.shape == (1, 103, 25, 2)
    valid = sc > 0
    assert valid.mean() > 0.9
    assert (kp[valid][:, 0] >= 0).all() and (kp[valid][:, 0] < 1920).all()
    assert (kp[valid][:, 1] >= 0).all() and (kp[valid][:, 1] < 1080).all()
    video = open_video(realdata / "videos" / "S001C001P001R001A001_rgb.avi")
    assert video.count_frames_by_decoding() == skel.num_frames == video.num_frames


@pytest.mark.realdata
@pytest.mark.parametrize(
    "protocol,train,test",
    [
        ("ntu60_xsub", 40091, 16487),
        ("ntu60_xview", 37646, 18932),
        ("ntu120_xsub", 63026, 50919),
        ("ntu120_xset", 54468, 59477),
    ],
)
def test_ntu_protocol_counts(realdata, protocol, train, test):
    split = protocol_split(realdata / "ntu", protocol)
    assert (len(split["train"]), len(split["test"])) == (train, test)
    k = 60 if protocol.startswith("ntu60") else 120
    assert {label for _, label in split["train"]} == set(range(k))


@pytest.mark.realdata
def test_ntu_missing_lists_are_excluded(realdata):
    missing60 = read_missing_list(realdata / "ntu" / "NTU_RGBD_samples_with_missing_skeletons.txt")
    missing120 = read_missing_list(realdata / "ntu" / "NTU_RGBD120_samples_with_missing_skeletons.txt")
    assert len(missing60) == 302 and len(missing120) == 535
    split = protocol_split(realdata / "ntu", "ntu120_xsub")
    names = {n for n, _ in split["train"] + split["test"]}
    assert not names & missing120


@pytest.mark.realdata
def test_ntu_dataset_pose_and_rgb(realdata, tmp_path):
    cfg = DataConfig(format="ntu", root=str(realdata / "ntu"), ann_file=str(realdata / "ntu"), protocol="ntu60_xsub",
                     video_root=str(realdata / "videos"), layout="ntu25", num_frames=4, image_size=32, resize_short=36,
                     splits={"train": "train", "val": "test", "test": "test"})  # fmt: skip
    from deformer3d.data.formats.ntu import load_split

    data = load_split(cfg, "train")
    rec = next(r for r in data.records if r.id == "S001C001P001R001A001")
    from deformer3d.data.dataset import ActionDataset

    ds = ActionDataset([rec], data.class_names, cfg, stage="test", need_video=True, need_pose=True)
    s = ds[0]
    assert s["video"].shape == (3, 4, 32, 32) and s["pose"].shape == (4, 25, 3) and int(s["label"]) == 0


# --------------------------------------------------------------------------- Penn Action
@pytest.mark.realdata
def test_pennaction_all_labels(realdata):
    anns = read_all(realdata / "pennaction" / "labels")
    assert len(anns) == 2326
    assert len({a["action"] for a in anns}) == 15
    assert sum(a["train"] for a in anns) == 1258 and sum(not a["train"] for a in anns) == 1068
    assert sum(a["keypoints"].shape[1] for a in anns) == 163841
    assert all(a["keypoints"].shape[2] == 13 for a in anns)


@pytest.mark.realdata
def test_pennaction_pose_only_dataset(realdata):
    cfg = DataConfig(format="pennaction", root=str(realdata / "pennaction"), layout="penn13", num_frames=8,
                     splits={"train": "train", "val": "test", "test": "test"})  # fmt: skip
    ds = build_dataset(cfg, "test", need_video=False, need_pose=True)
    assert len(ds) == 1068 and ds.num_classes == 15
    s = ds[0]
    assert s["pose"].shape == (8, 13, 3) and 0 <= s["pose"][..., :2].min() and s["pose"][..., :2].max() <= 1


# --------------------------------------------------------------------------- HMDB51
@pytest.mark.realdata
@pytest.mark.parametrize("fold", [1, 2, 3])
def test_hmdb51_official_splits(realdata, fold):
    split, classes = official_split(realdata / "splits" / "hmdb51_splits", fold)
    assert len(classes) == 51
    assert (len(split["train"]), len(split["test"])) == (3570, 1530)
    assert set(Counter(c for c, _ in split["train"]).values()) == {70}


def test_stratified_subset_is_class_balanced():
    items = {f"c{i:02d}": [f"v{j}" for j in range(30 + i)] for i in range(12)}
    parts = stratified_split(items, num_classes=5, per_class=20, seed=3)
    for name, expect in (("test", 2), ("val", 4), ("train", 14)):  # 10% of 20; 20% of 18; the rest
        counts = Counter(c for c, _ in parts[name])
        assert len(counts) == 5 and set(counts.values()) == {expect}, name
    everything = parts["train"] + parts["val"] + parts["test"]
    assert len(set(everything)) == len(everything) == 100
    assert stratified_split(items, 5, 20, seed=3) == parts
    with pytest.raises(DataFormatError, match="fewer than"):
        stratified_split(items, 0, 100)


@pytest.mark.realdata
def test_hmdb51_subset_from_official_lists(realdata):
    cfg = DataConfig(format="hmdb51", root="/nonexistent", ann_file=str(realdata / "splits" / "hmdb51_splits"),
                     subset_classes=10, subset_per_class=50)  # fmt: skip
    from deformer3d.data.formats.hmdb51 import load_split

    sizes = {s: len(load_split(cfg, s).records) for s in ("train", "val", "test")}
    assert sizes == {"train": 360, "val": 90, "test": 50}


# --------------------------------------------------------------------------- FineGYM / folder
def test_finegym_pkl_reads_val_as_test(tmp_path):
    anns = [{"frame_dir": f"g{i}", "label": i % 2, "img_shape": (64, 64), "total_frames": 6,
             "keypoint": np.full((1, 6, 17, 2), 30, np.float32), "keypoint_score": np.ones((1, 6, 17), np.float32)}
            for i in range(4)]  # fmt: skip
    write_pyskl(tmp_path / "gym.pkl", anns, {"train": ["g0", "g1"], "val": ["g2", "g3"]})
    cfg = DataConfig(format="finegym", root=str(tmp_path), ann_file="gym.pkl", num_frames=4)
    ds = build_dataset(cfg, "test", need_video=False, need_pose=True)
    assert [r.id for r in ds.records] == ["g2", "g3"]


def test_folder_dataset_with_sidecars(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("clap", "wave"):
        (tmp_path / cls).mkdir()
        for i in range(4):
            video = tmp_path / cls / f"{cls}{i}.mp4"
            write_video(video, rng.integers(0, 255, (5, 24, 32, 3), dtype=np.uint8), fps=10)
            write_sidecar(
                video.with_suffix(".npz"), np.full((1, 5, 17, 2), 10.0), np.ones((1, 5, 17)), (24, 32)
            )
    cfg = DataConfig(format="folder", root=str(tmp_path), num_frames=4, image_size=16, resize_short=16)
    sizes = {}
    for stage in ("train", "val", "test"):
        ds = build_dataset(cfg, stage, need_video=True, need_pose=True)
        sizes[stage] = len(ds)
        assert ds.class_names == ["clap", "wave"]
        s = ds[0]
        assert s["video"].shape == (3, 4, 16, 16) and s["pose"].shape == (4, 17, 3)
    assert sizes == {"train": 4, "val": 2, "test": 2}
