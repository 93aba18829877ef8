"""THE model folder (models/hub.py): one writer, one reader, every model kind; older folders; every field checked;
hub ids through huggingface_hub's cache (offline)."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch

from deformer3d.engine.export import export_checkpoint, export_module
from deformer3d.engine.module import ActionModule
from deformer3d.errors import UserError
from deformer3d.models import Deformer3D
from deformer3d.models.hf_video import HFVideoClassifier, TimesformerClassifier, VivitClassifier
from deformer3d.models.hub import (
    INT8_SCALE,
    WEIGHTS_NAME,
    ExportError,
    ModelNotFoundError,
    compact_weights,
    load_model_folder,
    read_model_folder,
)

CLASSES = ["jump", "run", "sit"]
DATA_INFO = {"num_frames": 4, "image_size": 64, "resize_short": 72, "layout": "coco17", "max_persons": 1,
             "test_sampler": "equidistant", "frame_interval": 1}
KINDS = {
    "deformer3d": ({"name": "deformer3d", "preset": "tiny", "modality": "rgb_pose", "depth": 1}, Deformer3D),
    "timesformer": ({"name": "timesformer", "preset": "tiny", "num_hidden_layers": 1, "image_size": 64,
                     "num_frames": 4}, TimesformerClassifier),
    "vivit": ({"name": "vivit", "preset": "tiny", "num_hidden_layers": 1, "image_size": 64, "num_frames": 4},
              VivitClassifier),
}


def _inputs(model, batch=2):
    gen = torch.Generator().manual_seed(1)
    x = {"video": torch.randn(batch, 3, 4, 64, 64, generator=gen)}
    if getattr(model, "uses_pose", False):
        x["pose"] = torch.rand(batch, 4, 17, 3, generator=gen)
    return x


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """``kind -> (trained-model module, exported folder)``; the module's weights were changed by one SGD step so
    that loading initial weights by mistake could not pass."""
    root = tmp_path_factory.mktemp("folders")
    out = {}
    for kind, (cfg, _) in KINDS.items():
        torch.manual_seed(0)
        module = ActionModule(dict(cfg), len(CLASSES), CLASSES, data_info=dict(DATA_INFO))
        x = _inputs(module.model)
        loss = module.model(**x).logits.logsumexp(-1).mean()
        loss.backward()
        with torch.no_grad():
            for p in module.model.parameters():
                if p.grad is not None:
                    p -= 0.1 * p.grad
        module.model.eval()
        out[kind] = (module, export_module(module, root / kind))
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_export_then_from_pretrained_gives_the_trained_logits_bit_for_bit(folders, kind):
    module, folder = folders[kind]
    cls = KINDS[kind][1]
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == kind and config["id2label"] == {"0": "jump", "1": "run", "2": "sit"}
    assert config["label2id"] == {"jump": 0, "run": 1, "sit": 2} and config["num_classes"] == 3
    pre = config["preprocessing"]
    assert {k: pre[k] for k in DATA_INFO} == DATA_INFO and pre["normalisation"]["mean"] == [0.485, 0.456, 0.406]
    x = _inputs(module.model)
    with torch.no_grad():
        expected = module.model(**x).logits
        for loaded in (cls.from_pretrained(folder), load_model_folder(folder)[0]):
            assert type(loaded) is cls and not loaded.training
            assert torch.equal(loaded(**x).logits, expected)
    if kind != "deformer3d":  # the transformers wrappers' shared entry point loads either kind
        assert type(HFVideoClassifier.from_pretrained(folder)) is cls


def test_compact_weights_load_into_the_same_model_at_a_quarter_of_the_size(folders, tmp_path):
    """The bundled model's package form: int8 matrices with per-row scales load (strictly) back into float32
    parameters, each within half a quantisation step of the original, and the logits stay close."""
    from safetensors.torch import load_file

    module, folder = folders["deformer3d"]
    compact = shutil.copytree(folder, tmp_path / "compact")
    compact_weights(compact / WEIGHTS_NAME)
    stored = load_file(str(compact / WEIGHTS_NAME))
    assert any(t.dtype == torch.int8 for t in stored.values())
    assert (compact / WEIGHTS_NAME).stat().st_size < 0.35 * (folder / WEIGHTS_NAME).stat().st_size
    loaded = load_model_folder(compact)[0]
    original = module.model.state_dict()
    for key, value in loaded.state_dict().items():
        assert value.dtype == original[key].dtype
        if key + INT8_SCALE in stored:
            step = stored[key + INT8_SCALE].float().reshape(-1, *[1] * (value.ndim - 1))
            assert ((value - original[key]).abs() <= 0.5 * step + 1e-6).all(), key
    x = _inputs(module.model)
    with torch.no_grad():
        expected, got = module.model(**x).logits, loaded(**x).logits
    assert not torch.equal(got, expected) and torch.allclose(got, expected, atol=0.05 * expected.abs().max())


def test_model_card_says_what_the_model_is(folders):
    card = (folders["deformer3d"][1] / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: deformer3d" in card and "video-classification" in card
    for section in ("## Model", "## Training data", "## Evaluation", "## How to use", "## Intended use and limits"):
        assert section in card
    assert "jump, run, sit" in card and "ONNX" in card  # classes; the 5-D GridSample runtime limit
    params = sum(p.numel() for p in folders["deformer3d"][0].model.parameters())
    assert f"{params:,}" in card


def test_wrong_class_is_refused(folders):
    with pytest.raises(ModelNotFoundError, match="holds a 'timesformer' model, not deformer3d"):
        Deformer3D.from_pretrained(folders["timesformer"][1])
    with pytest.raises(ModelNotFoundError, match="holds a 'deformer3d' model"):
        HFVideoClassifier.from_pretrained(folders["deformer3d"][1])


def test_save_pretrained_of_a_loaded_folder_keeps_labels_and_preprocessing(folders, tmp_path):
    model = Deformer3D.from_pretrained(folders["deformer3d"][1])
    out = model.save_pretrained(tmp_path / "again")
    assert out == tmp_path / "again"
    a = json.loads((folders["deformer3d"][1] / "config.json").read_text())
    b = json.loads((out / "config.json").read_text())
    assert a == b


def test_fine_tuning_from_a_folder_re_heads(folders):
    tuned = Deformer3D.from_pretrained(folders["deformer3d"][1], num_classes=5)
    assert tuned.head.out_features == 5
    src = folders["deformer3d"][0].model
    assert torch.equal(tuned.backbone.stem[0].weight, src.backbone.stem[0].weight)


def _write_v1(src, dst):
    """The folder today's export wrote before this format: {model, num_classes, data} + labels.json."""
    new = json.loads((src / "config.json").read_text())
    model = {k: v for k, v in new.items()
             if k not in ("model_type", "format_version", "num_classes", "id2label", "label2id", "preprocessing")}
    dst.mkdir()
    (dst / "config.json").write_text(json.dumps(
        {"model": {**model, "name": new["model_type"]}, "num_classes": 3, "data": DATA_INFO}))
    (dst / "labels.json").write_text(json.dumps(CLASSES))
    shutil.copy(src / "model.safetensors", dst / "model.safetensors")


@pytest.mark.parametrize("kind", ["deformer3d", "timesformer"])
def test_old_export_folders_load_and_convert_in_one_command(folders, tmp_path, kind):
    module, folder = folders[kind]
    old = tmp_path / "old"
    _write_v1(folder, old)
    spec = read_model_folder(old)
    assert spec.legacy == "export-v1" and spec.labels == CLASSES and spec.preprocessing["num_frames"] == 4
    x = _inputs(module.model)
    with torch.no_grad():
        expected = module.model(**x).logits
        assert torch.equal(KINDS[kind][1].from_pretrained(old)(**x).logits, expected)
        new = export_checkpoint(old, tmp_path / "new")  # `deformer3d export OLD NEW`
        assert read_model_folder(new).legacy == "" and not (new / "labels.json").exists()
        assert torch.equal(load_model_folder(new)[0](**x).logits, expected)


def _corrupt(folder, tmp_path, edit):
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    config = json.loads((bad / "config.json").read_text())
    edit(config)
    (bad / "config.json").write_text(json.dumps(config))
    return bad


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda c: c.update(id2label=5), r"config.json: id2label must be a non-empty object"),
        (lambda c: c.update(id2label={"0": "jump", "1": 7, "2": "sit"}), r"id2label\['1'\] = 7 must be"),
        (lambda c: c.update(id2label={"0": "jump", "2": "sit"}, label2id=None),
         r"id2label keys must be 0..1 without gaps"),
        (lambda c: c.update(num_classes="3"), r"config.json: num_classes='3' but id2label.*positive integer"),
        (lambda c: c.update(num_classes=4), r"num_classes=4 but id2label names 3 classes"),
        (lambda c: c.update(label2id={"jump": 1, "run": 0, "sit": 2}), r"label2id is not the inverse of id2label"),
        (lambda c: c.update(model_type="resnet"), r"model_type='resnet' is not one of deformer3d"),
        (lambda c: c.update(dim=32), r"model.safetensors: the weights do not fit the model config.json describes"),
        (lambda c: c.update(depth="two"), r"config.json: invalid model config .*depth"),
        (lambda c: c["preprocessing"].update(num_frames="8"), r"preprocessing.num_frames='8' must be a positive"),
        (lambda c: c["preprocessing"].update(num_frames=0), r"preprocessing.num_frames=0 must be a positive"),
        (lambda c: c["preprocessing"].update(layout="coco18"), r"preprocessing.layout='coco18' is not a joint layout"),
        (lambda c: c["preprocessing"].update(test_sampler="every"), r"test_sampler='every' is not a sampler"),
        (lambda c: c["preprocessing"].update(crop="centre"), r"preprocessing.crop is not a data setting"),
        (lambda c: c["preprocessing"]["normalisation"].update(mean=[0.5, 0.5, 0.5]),
         r"normalisation.mean=\[0.5, 0.5, 0.5\]; this toolkit feeds models ImageNet-normalised"),
        (lambda c: c.update(preprocessing=[8, 112]), r"preprocessing must be an object"),
        (lambda c: c.update(format_version=3), r"format_version=3"),
    ],
)
def test_every_field_is_validated_with_the_file_and_field_named(folders, tmp_path, edit, pattern):
    bad = _corrupt(folders["deformer3d"][1], tmp_path, edit)
    with pytest.raises(ExportError, match=pattern) as info:
        load_model_folder(bad)
    assert str(bad) in str(info.value) and isinstance(info.value, UserError)


def test_unreadable_files_are_named(folders, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(folders["deformer3d"][1], bad)
    (bad / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ExportError, match="model.safetensors: not a readable safetensors file"):
        load_model_folder(bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(ExportError, match="model.safetensors: weights file missing"):
        load_model_folder(bad)
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ExportError, match="config.json: not valid JSON"):
        load_model_folder(bad)


def _cache_as_hub_snapshot(folder, hf_home, repo_id):
    """Lay ``folder`` out as huggingface_hub's cache holds a downloaded repo (refs/main -> snapshots/<commit>)."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)


def test_hub_id_loads_from_the_cache_offline_and_fails_fast_when_absent(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    module, folder = folders["deformer3d"]
    _cache_as_hub_snapshot(folder, tmp_path / "hf", "someone/deformer3d-tiny")
    x = _inputs(module.model)
    with torch.no_grad():
        assert torch.equal(Deformer3D.from_pretrained("someone/deformer3d-tiny")(**x).logits,
                           module.model(**x).logits)
    t0 = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="HF_HUB_OFFLINE=1 is set and it is not in the local cache"):
        Deformer3D.from_pretrained("someone/not-cached")
    assert time.perf_counter() - t0 < 10  # no network retries


def test_push_to_hub_is_huggingface_hubs_own_path(folders, monkeypatch):
    from huggingface_hub.errors import OfflineModeIsEnabled

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    model = Deformer3D.from_pretrained(folders["deformer3d"][1])
    with pytest.raises(OfflineModeIsEnabled):
        model.push_to_hub("someone/deformer3d-tiny")


@pytest.fixture(scope="module")
def noise_clip(tmp_path_factory):
    """A 12-frame 80x96 clip of smooth noise (every kind reads it; the rgb_pose model sees no person, as allowed)."""
    from exported_models import write_noise_clip

    return write_noise_clip(tmp_path_factory.mktemp("clip") / "noise.mp4", 12, 80, 96)


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_same_folder_serves_predictor_and_predict_cli(folders, noise_clip, kind):
    """Predictor(folder) runs the trained weights (its probabilities = softmax of the trained model's logits on the
    clip the folder's preprocessing samples, exactly), and `deformer3d predict --model folder` prints the same."""
    from typer.testing import CliRunner

    from deformer3d.cli import app
    from deformer3d.data import load_clip, open_video
    from deformer3d.serve.predictor import POSE_SHORT_SIDE, Predictor

    module, folder = folders[kind]
    predictor = Predictor(folder)
    assert predictor.labels == CLASSES and predictor.data_cfg.num_frames == DATA_INFO["num_frames"]
    result = predictor.predict(noise_clip, top_k=3)
    kp = sc = None
    if predictor.uses_pose:  # the pose the predictor estimated (none in noise: every joint missing)
        kp, sc = predictor._estimate_pose(open_video(noise_clip, short_side=POSE_SHORT_SIDE))
        kp, sc = predictor._to_model_layout(kp, sc, (predictor._estimator or predictor._tracker).layout, "noise")
    clip = load_clip(noise_clip, predictor.data_cfg, keypoints=kp, scores=sc, need_video=True,
                     need_pose=predictor.uses_pose)
    x = {"video": clip["video"][None]} | ({"pose": clip["pose"][None]} if predictor.uses_pose else {})
    with torch.inference_mode():
        probs = torch.softmax(module.model(**x).logits.float(), dim=-1)[0]
    best = torch.topk(probs, 3)
    assert result.top_k == [(CLASSES[i], float(p)) for p, i in zip(best.values.tolist(), best.indices.tolist(),
                                                                   strict=True)]
    predictor.close()
    res = CliRunner().invoke(app, ["predict", str(noise_clip), "--model", str(folder), "--top-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout[res.stdout.index("{"):])
    assert payload["top_k"] == [{"label": label, "probability": round(p, 6)} for label, p in result.top_k]
