"""Exported model folders store the model's full resolved config: they rebuild offline, without the YAML preset or
the checkpoint the model was fine-tuned from, and loading one does not import Lightning."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import torch

from deformer3d.engine.export import export_module, load_exported
from deformer3d.engine.module import ActionModule

CLASSES = ["a", "b", "c"]
DATA_INFO = {"num_frames": 4, "image_size": 64, "resize_short": 64, "layout": "coco17", "max_persons": 1,
             "test_sampler": "equidistant", "frame_interval": 1}


def test_fine_tuned_timesformer_export_loads_without_its_source_checkpoint(tmp_path, monkeypatch):
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "k400_like"  # stands in for a hub checkpoint: gone (or uncached) where the export is used
    TimesformerForVideoClassification(
        TimesformerConfig(image_size=64, num_frames=4, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=128, num_labels=7)
    ).save_pretrained(source)
    torch.manual_seed(0)
    module = ActionModule({"name": "timesformer", "pretrained": str(source)}, 3, CLASSES, data_info=DATA_INFO)
    out = export_module(module, tmp_path / "model")
    shutil.rmtree(source)

    stored = json.loads((out / "config.json").read_text())
    assert stored["model_type"] == "timesformer" and stored["pretrained"] == ""
    assert stored["hf_config"]["hidden_size"] == 64 and stored["num_classes"] == 3
    assert stored["id2label"] == {"0": "a", "1": "b", "2": "c"} and stored["preprocessing"]["num_frames"] == 4
    model, info = load_exported(out)
    assert info["labels"] == CLASSES and model.hf.classifier.out_features == 3
    video = torch.randn(2, 3, 4, 64, 64)
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(video).logits, module.model(video).logits)


def test_deformer3d_export_holds_every_architecture_field(tmp_path):
    torch.manual_seed(0)
    module = ActionModule({"name": "deformer3d", "preset": "tiny", "modality": "pose", "depth": 1}, 3, CLASSES,
                          data_info=DATA_INFO)
    out = export_module(module, tmp_path / "model")
    stored = json.loads((out / "config.json").read_text())
    # the preset was resolved: the tiny preset's values are written out, not looked up again at load time
    assert "preset" not in stored and stored["model_type"] == "deformer3d"
    assert (stored["dim"], stored["width"], stored["depth"], stored["modality"]) == (64, 16, 1, "pose")
    model, _ = load_exported(out)
    assert model.config.to_dict() == module.model.config.to_dict()
    pose = torch.rand(2, 4, 17, 3)
    module.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(pose=pose).logits, module.model(pose=pose).logits)


def test_loading_an_export_does_not_import_lightning(tmp_path):
    module = ActionModule({"name": "deformer3d", "preset": "tiny", "modality": "pose"}, 3, CLASSES,
                          data_info=DATA_INFO)
    out = export_module(module, tmp_path / "model")
    code = ("import sys; from deformer3d.engine.export import load_exported; load_exported(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
