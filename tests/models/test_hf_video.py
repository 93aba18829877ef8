"""TimeSformer / ViViT adapters: shapes, explanations, save/load, offline fine-tuning from a local checkpoint."""

from __future__ import annotations

import time

import pytest
import torch

from deformer3d.config import ConfigError
from deformer3d.errors import ModelInputError, UserError
from deformer3d.models import build_model
from deformer3d.models.hf_video import HFVideoClassifier


@pytest.mark.parametrize("name", ["timesformer", "vivit"])
def test_tiny_forward_shapes_and_explanations(name):
    torch.manual_seed(0)
    model = build_model({"name": name, "preset": "tiny"}, num_classes=5)
    assert model.uses_video and not model.uses_pose
    video = torch.randn(2, 3, 8, 112, 112)
    out = model(video, return_explanations=True)
    assert out.logits.shape == (2, 5)
    heat = out.explanations["attention"]
    assert heat.shape == (2, 8, 7, 7)  # 112 px / 16 px patches, one map per frame
    # a probability row of the CLS token: non-negative, at most 1 per frame (the rest goes to CLS itself)
    assert (heat >= 0).all() and (heat.sum(dim=(-1, -2)) <= 1 + 1e-5).all()
    assert model(video).explanations is None


def test_timesformer_runs_on_fewer_frames_than_built_for():
    model = build_model({"name": "timesformer", "preset": "tiny"}, num_classes=3).eval()
    assert model(torch.randn(1, 3, 4, 96, 96)).logits.shape == (1, 3)  # frame sweep / other sizes


def test_vivit_wrong_clip_size_is_a_clear_error():
    model = build_model({"name": "vivit", "preset": "tiny"}, num_classes=3)
    with pytest.raises(ModelInputError, match="data.num_frames=8"):
        model(torch.randn(1, 3, 4, 112, 112))


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match="valid keys:.*hidden_size"):
        build_model({"name": "timesformer", "preset": "tiny", "hiden_size": 64}, num_classes=3)


@pytest.mark.parametrize("name", ["timesformer", "vivit"])
def test_save_pretrained_roundtrip(tmp_path, name):
    model = build_model({"name": name, "preset": "tiny", "num_hidden_layers": 1}, num_classes=4).eval()
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"README.md", "config.json", "model.safetensors"}
    again = HFVideoClassifier.from_pretrained(tmp_path).eval()
    video = torch.randn(1, 3, 8, 112, 112)
    torch.testing.assert_close(model(video).logits, again(video).logits)


def _fine_tune(model, steps=6):
    """A few SGD steps on one fixed batch; returns the losses."""
    torch.manual_seed(0)
    video = torch.randn(4, 3, 4, 64, 64)
    labels = torch.tensor([0, 1, 2, 0])
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(video).logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_local_transformers_checkpoint_loads_offline_with_new_head(tmp_path, monkeypatch):
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # a "K400-like" checkpoint with 7 classes, written the transformers way
    src = TimesformerForVideoClassification(
        TimesformerConfig(image_size=64, num_frames=4, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=128, num_labels=7)
    )
    src.save_pretrained(tmp_path / "k400_like")
    model = build_model({"name": "timesformer", "pretrained": str(tmp_path / "k400_like")}, num_classes=3)
    assert model.hf.classifier.out_features == 3  # new head for our classes
    # the body really is the checkpoint's
    torch.testing.assert_close(
        model.hf.timesformer.embeddings.patch_embeddings.projection.weight,
        src.timesformer.embeddings.patch_embeddings.projection.weight,
    )
    losses = _fine_tune(model)
    assert losses[-1] < losses[0]


def test_our_saved_model_fine_tunes_with_new_head(tmp_path):
    base = build_model({"name": "vivit", "preset": "tiny", "num_hidden_layers": 1, "image_size": 64, "num_frames": 4},
                       num_classes=6)
    base.save_pretrained(tmp_path / "ours")
    model = build_model({"name": "vivit", "pretrained": str(tmp_path / "ours")}, num_classes=3)
    assert model.hf.classifier.out_features == 3
    losses = _fine_tune(model)
    assert losses[-1] < losses[0]


def test_uncached_hub_id_offline_fails_at_once_with_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(UserError) as info:
        build_model({"name": "timesformer", "pretrained": "facebook/timesformer-base-finetuned-k400"}, num_classes=3)
    elapsed = time.perf_counter() - start
    msg = str(info.value)
    assert "HF_HUB_OFFLINE=1" in msg and "save_pretrained('DIR')" in msg and "model.pretrained=DIR" in msg
    assert elapsed < 1.0  # the acceptance criterion: no network retries before the message


def test_missing_local_dir_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        build_model({"name": "vivit", "pretrained": str(tmp_path / "nope")}, num_classes=3)


@pytest.mark.parametrize("name", ["synth_timesformer", "synth_vivit", "hmdb51_subset_timesformer", "hmdb51_subset_vivit"])
def test_shipped_configs_build_or_explain_the_offline_checkpoint(name, monkeypatch):
    """The synth configs build their tiny models; the seed-study configs name a hub checkpoint, which offline
    gives the message on how to bring a local copy (and builds from a local copy, see above)."""
    from deformer3d.config import load_config, project_root

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load_config(project_root() / "configs" / f"{name}.yaml")
    if name.startswith("synth"):
        model = build_model(cfg.model, num_classes=14)
        assert model.hf.config.num_frames == cfg.data.num_frames and model.hf.config.image_size == cfg.data.image_size
    else:
        assert cfg.data.image_size == 224 and cfg.optim.name == "sgd"
        with pytest.raises(UserError, match="model.pretrained=DIR"):
            build_model(cfg.model, num_classes=10)
