"""ActionDataset / build_dataset / load_clip on a tiny SynthActions set and on index-coded videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from deformer3d.config import DataConfig
from deformer3d.data.dataset import build_dataset, load_clip
from deformer3d.data.formats.pyskl import write_pyskl
from deformer3d.data.synthetic import CLASSES, write_synthactions
from deformer3d.data.video import write_video
from deformer3d.errors import DataFormatError, VideoError


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthds")
    write_synthactions(
        out, num_clips=3 * len(CLASSES), seed=0, size=48, frame_range=(5, 12), workers=1, progress=False
    )
    return out


def _cfg(root, **kw):
    base = dict(
        format="synth", root=str(root), num_frames=6, image_size=32, resize_short=36, sampler="equidistant"
    )
    base.update(kw)
    return DataConfig(**base)


@pytest.mark.parametrize("stage", ["train", "val", "test"])
def test_model_ready_samples(synth_root, stage):
    ds = build_dataset(_cfg(synth_root), stage, need_video=True, need_pose=True)
    assert ds.class_names == list(CLASSES) and ds.num_classes == len(CLASSES)
    s = ds[0]
    assert s["video"].shape == (3, 6, 32, 32) and s["video"].dtype == torch.float32
    assert s["pose"].shape == (6, 17, 3) and s["pose"].dtype == torch.float32
    assert s["label"].dtype == torch.int64 and s["index"] == 0
    xy = s["pose"][..., :2]
    assert xy.min() >= 0 and xy.max() <= 1


def test_multi_view_and_collate(synth_root):
    ds = build_dataset(
        _cfg(synth_root, max_persons=2), "test", need_video=True, need_pose=True, num_clips=2, num_crops=3
    )
    s = ds[1]
    assert s["video"].shape == (6, 3, 6, 32, 32) and s["pose"].shape == (6, 6, 34, 3)
    assert s["pose"][..., 17:, 2].sum() == 0  # the padded second person has zero scores
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["video"].shape == (2, 6, 3, 6, 32, 32) and batch["label"].shape == (2,)


def test_video_only_and_pose_only(synth_root):
    v = build_dataset(_cfg(synth_root), "train", need_video=True, need_pose=False)[0]
    p = build_dataset(_cfg(synth_root), "train", need_video=False, need_pose=True, num_frames=4)[0]
    assert set(v) == {"video", "label", "index"} and set(p) == {"pose", "label", "index"}
    assert p["pose"].shape == (4, 17, 3)


def test_test_stage_is_deterministic_and_no_flip_for_synth(synth_root):
    ds = build_dataset(_cfg(synth_root), "test", need_video=True, need_pose=True)
    a, b = ds[2], ds[2]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["pose"], b["pose"])
    assert ds.spec.hflip is False  # clockwise / anticlockwise labels: flipping is switched off by the dataset


def test_raw_sample_dict(synth_root):
    ds = build_dataset(_cfg(synth_root), "test", need_video=True, need_pose=True)
    raw = ds.raw(0)
    t = len(raw["meta"]["frame_inds"])
    assert raw["frames"].shape == (t, 48, 48, 3) and raw["frames"].dtype == np.uint8
    assert raw["keypoints"].shape == (1, t, 17, 2) and raw["scores"].shape == (1, t, 17)
    assert raw["meta"]["img_shape"] == (48, 48) and raw["meta"]["fps"] == 25


def _coded_video(path, t, size=40):
    h, w = (size, size) if isinstance(size, int) else size
    frames = np.stack([np.full((h, w, 3), 4 * i, np.uint8) for i in range(t)])
    write_video(path, frames, fps=25)
    return path


def test_load_clip_decodes_the_sampled_frames(tmp_path):
    path = _coded_video(tmp_path / "coded.mp4", 40)
    cfg = DataConfig(num_frames=8, image_size=40, resize_short=40, test_sampler="equidistant")
    out = load_clip(path, cfg, need_pose=False, return_frames=True)
    inds = out["meta"]["frame_inds"][0]
    assert inds == [2, 7, 12, 17, 22, 27, 32, 37]
    got = [int(round(f.mean() / 4)) for f in out["meta"]["frames"]]
    assert got == inds
    same = load_clip(path.read_bytes(), cfg, need_pose=False)  # bytes give the same tensor
    assert torch.allclose(same["video"], out["video"])


def test_short_video_padded_with_the_chain(tmp_path):
    path = _coded_video(tmp_path / "short.mp4", 3)
    cfg = DataConfig(num_frames=4, image_size=40, resize_short=40, test_sampler="uniform")
    out = load_clip(path, cfg, need_pose=False, return_frames=True)
    levels = [f.mean() / 4 for f in out["meta"]["frames"]]
    assert np.allclose(levels, [0, 0.5, 1.5, 2], atol=0.15)  # frames, then averages of neighbours


def test_one_frame_video_gives_a_full_clip(tmp_path):
    path = _coded_video(tmp_path / "one.mp4", 1)
    out = load_clip(path, DataConfig(num_frames=8, image_size=32), need_pose=False)
    assert out["video"].shape == (3, 8, 32, 32)


def test_load_clip_with_keypoints_and_errors(tmp_path):
    path = _coded_video(tmp_path / "kp.mp4", 12)
    kp = np.full((1, 12, 17, 2), 20.0, np.float32)
    out = load_clip(
        path,
        DataConfig(num_frames=4, image_size=32, resize_short=32, person_crop="off"),
        keypoints=kp,
        scores=np.ones((1, 12, 17)),
    )
    assert out["pose"].shape == (4, 17, 3) and torch.allclose(out["pose"][..., 0], torch.tensor(20.5 / 40))
    with pytest.raises(DataFormatError, match="no keypoints"):
        load_clip(path, DataConfig(), need_pose=True)
    with pytest.raises(DataFormatError, match="layout"):
        load_clip(path, DataConfig(layout="ntu25"), keypoints=kp)
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoError, match="bad.mp4"):
        load_clip(tmp_path / "bad.mp4", DataConfig(), need_pose=False)


def test_nan_joints_in_annotation_become_missing(tmp_path):
    kp = np.full((1, 6, 17, 2), 10.0, np.float32)
    kp[0, :, 3] = np.nan
    ann = {"frame_dir": "a", "label": 0, "img_shape": (20, 20), "total_frames": 6, "keypoint": kp,
           "keypoint_score": np.ones((1, 6, 17), np.float32)}  # fmt: skip
    write_pyskl(tmp_path / "n.pkl", [ann], {"train": ["a"]})
    cfg = DataConfig(format="pyskl", root=str(tmp_path), ann_file="n.pkl", num_frames=4)
    pose = build_dataset(cfg, "train", need_video=False, need_pose=True)[0]["pose"]
    # one missing joint per frame (training may flip it from left_ear to right_ear), the rest present
    assert (
        torch.isfinite(pose).all() and ((pose[..., 2] == 0).sum(-1) == 1).all() and (pose[:, 0, 2] == 1).all()
    )


def test_rgb_crops_follow_the_person(tmp_path):
    """``person_crop`` (default ``auto`` with a skeleton): the crop is the person's box, not the frame centre."""
    path = _coded_video(tmp_path / "side.mp4", 12, size=(64, 128))
    kp = np.zeros((1, 12, 17, 2), np.float32)
    kp[..., 0] = np.linspace(100, 120, 17)  # a person near the right edge of a 128-px-wide frame
    kp[..., 1] = np.linspace(10, 50, 17)
    sc = np.ones((1, 12, 17), np.float32)
    cfg = DataConfig(num_frames=4, image_size=32, resize_short=32)
    centre = load_clip(path, DataConfig(**{**cfg.__dict__, "person_crop": "off"}), keypoints=kp, scores=sc)
    person = load_clip(path, cfg, keypoints=kp, scores=sc)
    inside = lambda out: (out["pose"][..., 2] > 0).float().mean().item()  # noqa: E731
    assert inside(centre) == 0.0  # the centre square of the frame misses the person entirely
    assert inside(person) == 1.0  # every joint is inside the person crop
    u = person["pose"][..., 0]
    assert 0.05 < u.min() and u.max() < 0.95  # and the person fills the crop, with a margin
