"""pyskl pkl: write/read round trip, safe unpickling, missing keypoints, escaping paths."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from deformer3d.config import DataConfig
from deformer3d.data.dataset import build_dataset
from deformer3d.data.formats import resolve_under
from deformer3d.data.formats.pyskl import read_pyskl, write_pyskl
from deformer3d.errors import DataFormatError


def _ann(i, t=10, m=2, v=17, with_kp=True):
    rng = np.random.default_rng(i)
    ann = {
        "frame_dir": f"S{i:03d}",
        "label": i % 3,
        "img_shape": (480, 640),
        "original_shape": (480, 640),
        "total_frames": t,
    }
    if with_kp:
        ann["keypoint"] = rng.uniform(0, 400, (m, t, v, 2)).astype(np.float32)
        ann["keypoint_score"] = rng.uniform(0, 1, (m, t, v)).astype(np.float32)
    return ann


def test_write_read_identical(tmp_path):
    anns = [_ann(i) for i in range(6)]
    split = {"xsub_train": ["S000", "S001", "S002", "S003"], "xsub_val": ["S004", "S005"]}
    write_pyskl(tmp_path / "a.pkl", anns, split)
    back = read_pyskl(tmp_path / "a.pkl")
    assert back["split"] == split
    assert len(back["annotations"]) == 6
    for a, b in zip(anns, back["annotations"], strict=False):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], np.ndarray):
                assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k])
            else:
                assert a[k] == b[k]
    # writing what we read gives the same bytes
    write_pyskl(tmp_path / "b.pkl", back["annotations"], back["split"])
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()


def test_mmaction_style_list_is_accepted(tmp_path):
    with open(tmp_path / "list.pkl", "wb") as f:
        pickle.dump([_ann(0), _ann(1)], f, protocol=2)
    data = read_pyskl(tmp_path / "list.pkl")
    assert len(data["annotations"]) == 2 and data["split"] == {}


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_with_payload_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"split": {}, "annotations": [_Payload()]}, f)
    with pytest.raises(DataFormatError, match="refusing to load"):
        read_pyskl(path)


def test_not_a_pickle(tmp_path):
    (tmp_path / "x.pkl").write_bytes(b"hello world")
    with pytest.raises(DataFormatError, match="x.pkl"):
        read_pyskl(tmp_path / "x.pkl")


def test_pkl_without_keypoints(tmp_path):
    write_pyskl(
        tmp_path / "rgb.pkl", [_ann(i, with_kp=False) for i in range(3)], {"train": ["S000", "S001", "S002"]}
    )
    cfg = DataConfig(format="pyskl", root=str(tmp_path), ann_file="rgb.pkl", splits={"train": "train"})
    with pytest.raises(DataFormatError, match="no 'keypoint'"):
        build_dataset(cfg, "train", need_video=False, need_pose=True)


def test_pose_only_dataset_from_pkl(tmp_path):
    anns = [_ann(i, t=5 + i) for i in range(3)]
    write_pyskl(tmp_path / "p.pkl", anns, {"train": ["S000", "S001", "S002"]})
    cfg = DataConfig(format="pyskl", root=str(tmp_path), ann_file="p.pkl", num_frames=8, max_persons=2)
    ds = build_dataset(cfg, "train", need_video=False, need_pose=True)
    assert len(ds) == 3 and ds.num_classes == 3
    s = ds[0]
    assert set(s) == {"pose", "label", "index"}
    assert s["pose"].shape == (8, 34, 3) and 0 <= s["pose"][..., :2].min() and s["pose"][..., :2].max() <= 1


def test_annotation_path_escaping_root(tmp_path):
    (tmp_path / "data").mkdir()
    ann = _ann(0)
    ann["filename"] = "../../etc/passwd"
    write_pyskl(tmp_path / "data" / "e.pkl", [ann], {"train": ["S000"]})
    cfg = DataConfig(format="pyskl", root=str(tmp_path / "data"), ann_file="e.pkl")
    with pytest.raises(DataFormatError, match="escapes the dataset root"):
        build_dataset(cfg, "train", need_video=True, need_pose=True)
    with pytest.raises(DataFormatError, match="escapes"):
        resolve_under(tmp_path, "/etc/passwd")


def test_missing_split_names_the_choices(tmp_path):
    write_pyskl(tmp_path / "s.pkl", [_ann(0)], {"xsub_train": ["S000"]})
    cfg = DataConfig(format="pyskl", root=str(tmp_path), ann_file="s.pkl")
    with pytest.raises(DataFormatError, match="xsub_train"):
        build_dataset(cfg, "train", need_video=False, need_pose=True)
