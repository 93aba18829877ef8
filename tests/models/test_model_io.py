"""Deformer3D config, registry, save/load and input validation."""

from __future__ import annotations

import json

import pytest
import torch

from deformer3d.config import ConfigError
from deformer3d.errors import ModelInputError, UserError
from deformer3d.models import (
    ActionOutput,
    Deformer3D,
    Deformer3DConfig,
    ModelNotFoundError,
    available_models,
    build_model,
    register_model,
)

SMALL = {"num_frames": 4, "image_size": 32, "depth": 1}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Deformer3D(Deformer3DConfig.preset("tiny", num_classes=6, **SMALL)).eval()


def _clip(t=4, s=32, r=17, b=2):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, 3, t, s, s, generator=g), torch.rand(b, t, r, 3, generator=g)


# ------------------------------------------------------------------------------------------------ config


def test_config_round_trips_and_rejects_unknown_keys():
    cfg = Deformer3DConfig.preset("tiny", modality="pose", joint_window=4)
    assert Deformer3DConfig.from_dict(cfg.to_dict()) == cfg
    assert json.loads(json.dumps(cfg.to_dict())) == cfg.to_dict()
    with pytest.raises(
        ConfigError, match="unknown deformer3d model key.*hidden_size.*valid keys:.*joint_window"
    ):
        Deformer3DConfig.from_dict({"hidden_size": 3})
    with pytest.raises(ConfigError, match="preset 'huge'.*paper, tiny"):
        Deformer3DConfig.preset("huge")
    with pytest.raises(ConfigError, match="modality='depth'.*rgb_pose"):
        Deformer3DConfig(modality="depth")
    with pytest.raises(ConfigError, match="image_size=100.*multiple of 8"):
        Deformer3DConfig(image_size=100)
    with pytest.raises(ConfigError, match="divisible by model.heads"):
        Deformer3DConfig(dim=100, heads=8)


def test_registry_builds_by_name_and_reports_unknown_names():
    model = build_model({"name": "deformer3d", "preset": "tiny", "modality": "pose"}, num_classes=9)
    assert isinstance(model, Deformer3D) and model.config.num_classes == 9 and model.config.width == 16
    assert {"deformer3d", "timesformer", "vivit"} <= set(available_models())
    with pytest.raises(ConfigError, match="unknown model.name='resnet'.*deformer3d"):
        build_model({"name": "resnet"}, 3)
    with pytest.raises(ConfigError, match="unknown deformer3d model key"):
        build_model({"name": "deformer3d", "preset": "tiny", "depht": 3}, 3)

    calls = []

    def builder(cfg, num_classes):
        calls.append((cfg, num_classes))
        return torch.nn.Linear(2, num_classes)

    register_model("test-linear", builder)
    assert isinstance(build_model({"name": "test-linear", "foo": 1}, 4), torch.nn.Linear)
    assert calls == [({"foo": 1}, 4)]


# ------------------------------------------------------------------------------------------------ save / load


def test_save_load_round_trips_bit_exactly(model, tmp_path):
    out = model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    saved = json.loads((out / "config.json").read_text())
    assert saved["model_type"] == "deformer3d" and saved["num_classes"] == 6
    loaded = Deformer3D.from_pretrained(out)
    assert loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    video, pose = _clip()
    with torch.no_grad():
        assert torch.equal(model(video, pose).logits, loaded(video, pose).logits)


def test_pretrained_through_build_model_with_new_head(model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    tuned = build_model({"name": "deformer3d", "pretrained": str(tmp_path / "m")}, num_classes=3)
    assert tuned.config.num_classes == 3 and tuned.head.out_features == 3
    # everything but the classifier comes from the file
    assert torch.equal(
        tuned.blocks[0].temporal.inner.attn.to_q.weight, model.blocks[0].temporal.inner.attn.to_q.weight
    )
    assert torch.equal(tuned.backbone.stem[0].weight, model.backbone.stem[0].weight)


def test_missing_dir_and_offline_hub_id_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE=1"):
        Deformer3D.from_pretrained("someone/deformer3d-ntu60")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        Deformer3D.from_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        Deformer3D.from_pretrained(str(tmp_path / "a" / "b" / "c"))
    assert issubclass(ModelNotFoundError, UserError)


# ------------------------------------------------------------------------------------------------ validation


def test_forward_returns_action_output(model):
    out = model(*_clip())
    assert isinstance(out, ActionOutput) and out.logits.shape == (2, 6) and out.explanations is None


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"video": torch.randn(2, 3, 32, 32), "pose": torch.rand(2, 4, 17, 3)},
            r"video must have shape \(B, 3, T, H, W\)",
        ),
        (
            {"video": torch.randn(2, 4, 3, 32, 32), "pose": torch.rand(2, 4, 17, 3)},
            r"video must have shape.*got \(2, 4, 3, 32, 32\)",
        ),
        (
            {"video": torch.randn(2, 3, 4, 32, 32), "pose": torch.rand(2, 4, 17)},
            r"pose must have shape \(B, T, R, 3\)",
        ),
        (
            {"video": torch.randn(2, 3, 4, 32, 32), "pose": torch.rand(2, 6, 17, 3)},
            r"pose has T=6 frames but video has T=4",
        ),
        (
            {"video": torch.randn(2, 3, 4, 36, 32), "pose": torch.rand(2, 4, 17, 3)},
            r"video height and width.*multiples of 8.*36x32",
        ),
        ({"video": torch.randn(2, 3, 4, 32, 32)}, r"pose is required for modality 'rgb_pose'"),
        ({"pose": torch.rand(2, 4, 17, 3)}, r"video is required for modality 'rgb_pose'"),
        (
            {"video": torch.randn(2, 3, 4, 32, 32), "pose": torch.rand(3, 4, 17, 3)},
            r"pose batch 3 != video batch 2",
        ),
    ],
)
def test_bad_inputs_raise_errors_naming_the_tensor(model, kwargs, pattern):
    with pytest.raises(ModelInputError, match=pattern):
        model(**kwargs)


def test_nan_coordinates_are_rejected(model):
    video, pose = _clip()
    pose[0, 1, 3, 0] = float("nan")
    with pytest.raises(ModelInputError, match="pose contains NaN"):
        model(video, pose)


def test_pose_only_model_needs_no_video():
    model = Deformer3D(Deformer3DConfig.preset("tiny", modality="pose", **SMALL)).eval()
    assert not model.uses_video and model.uses_pose
    assert model(pose=torch.rand(2, 4, 17, 3)).logits.shape == (2, 60)
    with pytest.raises(ModelInputError, match="pose is required"):
        model(video=torch.randn(2, 3, 4, 32, 32))
