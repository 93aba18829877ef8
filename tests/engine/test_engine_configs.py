"""Every shipped experiment config (configs/ and benchmarks/configs/) loads, states its clip geometry once (in
``data:``), and its model runs on what its data pipeline makes: a clip cut by ``load_clip`` with the config's data
settings goes through the config's model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformer3d.config import CLIP_GEOMETRY, ConfigError, load_config, project_root
from deformer3d.data import load_clip
from deformer3d.data.skeleton import get_layout
from deformer3d.data.video import write_video
from deformer3d.errors import ModelInputError
from deformer3d.models import build_model

ROOT = project_root()
CONFIGS = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "benchmarks" / "configs").glob("*.yaml"))
REQUIRED = {"synth_demo", "synth_pose", "synth_rgb", "pennaction_pose", "pennaction_rgb_pose", "ntu60_xsub",
            "ntu60_xview", "ntu120_xsub", "ntu120_xset", "finegym", "hmdb51", "hmdb51_subset", "study"}
# the hub checkpoints the configs fine-tune -> the preset of deformer3d.models.hf_video with their sizes
PUBLISHED = {"facebook/timesformer-base-finetuned-k400": "base", "google/vivit-b-16x2-kinetics400": "base"}


def test_all_protocols_have_a_config():
    assert REQUIRED <= {p.stem for p in CONFIGS}


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """A 40-frame 120x160 video with a moving bright square (any geometry is cut from it)."""
    frames = np.zeros((40, 120, 160, 3), np.uint8)
    for t in range(40):
        frames[t, 40:80, 20 + 2 * t : 60 + 2 * t] = 255
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, frames, fps=25)
    return path


def _skeleton(layout: str, persons: int, total: int) -> tuple[np.ndarray, np.ndarray]:
    """A plausible skeleton for every frame: ``keypoints (M, T, V, 2)`` pixels of a 160x120 frame, ``scores``."""
    v = get_layout(layout).num_joints
    rng = np.random.default_rng(0)
    kp = np.stack([rng.uniform([50, 20], [110, 100], size=(total, v, 2)) for _ in range(persons)]).astype(np.float32)
    return kp, np.ones(kp.shape[:-1], np.float32)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_model_runs_on_what_its_data_makes(path, clip_file):
    assert path.read_text().startswith("#"), f"{path.name}: document what it reproduces in a comment at the top"
    cfg = load_config(path)
    restated = [k for k in CLIP_GEOMETRY if k in load_config_raw_model(path)]
    assert not restated, f"{path.name}: model.{restated} restates the clip geometry of data:"
    if cfg.model.get("pretrained"):
        # the checkpoint defines the geometry; offline, its architecture is the preset it was published as
        # (weights random, one layer: the clip geometry does not depend on the depth)
        name, source = cfg.model["name"], cfg.model["pretrained"]
        assert source in PUBLISHED, f"{path.name}: which preset has the sizes of {source}? (add it to PUBLISHED)"
        model = build_model({"name": name, "preset": PUBLISHED[source], "num_hidden_layers": 1}, 5).eval()
        c = model.hf.config
    else:
        model = build_model(dict(cfg.model), 5).eval()
        c = model.config
    assert c.num_frames == cfg.data.num_frames and c.image_size == cfg.data.image_size
    uses_video, uses_pose = bool(model.uses_video), bool(getattr(model, "uses_pose", False))
    if uses_pose:
        assert c.num_joints == get_layout(cfg.data.layout).num_joints and c.max_persons == cfg.data.max_persons
    kp, sc = _skeleton(cfg.data.layout, cfg.data.max_persons, 40) if uses_pose else (None, None)
    clip = load_clip(clip_file, cfg.data, keypoints=kp, scores=sc, need_video=uses_video, need_pose=uses_pose)
    video = clip["video"][None] if uses_video else None
    pose = clip["pose"][None] if uses_pose else None
    if video is not None:
        assert video.shape[2:] == (cfg.data.num_frames, cfg.data.image_size, cfg.data.image_size)
    if pose is not None:
        assert pose.shape[1:] == (cfg.data.num_frames, cfg.data.max_persons * c.num_joints, 3)
    with torch.inference_mode():
        assert model(video=video, pose=pose).logits.shape == (1, 5)


def load_config_raw_model(path) -> dict:
    from omegaconf import OmegaConf

    return dict(OmegaConf.load(path).get("model") or {})


@pytest.mark.parametrize(("override", "named"), [
    ("model.num_joints=13", "model.num_joints=13 disagrees with data.layout='coco17' (17 joints)"),
    ("model.num_frames=16", "model.num_frames=16 disagrees with data.num_frames=8"),
    ("model.image_size=64", "model.image_size=64 disagrees with data.image_size=32"),
    ("model.max_persons=2", "model.max_persons=2 disagrees with data.max_persons=1"),
])
def test_a_geometry_the_model_restates_differently_is_an_error_naming_both_keys(override, named):
    with pytest.raises(ConfigError, match="command-line override") as info:
        load_config(ROOT / "configs" / "synth_demo.yaml", [override])
    assert named in str(info.value)


def test_data_overrides_change_the_model_too():
    cfg = load_config(ROOT / "configs" / "synth_pose.yaml", ["data.num_frames=12", "data.layout=penn13"])
    model = build_model(dict(cfg.model), 3)
    assert model.config.num_frames == 12 and model.config.num_joints == 13


def test_a_pose_in_another_layout_is_refused_by_the_model():
    model = build_model({"name": "deformer3d", "preset": "tiny", "modality": "pose", "num_joints": 17}, 3)
    with pytest.raises(ModelInputError, match="model.num_joints=17"):
        model(pose=torch.rand(1, 8, 13, 3))  # penn13 joints fed to a COCO-17 model
    assert model(pose=torch.rand(1, 8, 34, 3)).logits.shape == (1, 3)  # two COCO-17 persons are fine
