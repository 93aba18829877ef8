"""The bundled Penn Action model: it reproduces its recorded figures, and is what a user gets with no --model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bundled import bundled_model
from deformer3d.cli import app
from deformer3d.pretrained import DEFAULT_MODEL, resolve_model

runner = CliRunner()


def _evaluation(folder) -> dict:
    return json.loads((folder / "config.json").read_text())["evaluation"]


def test_no_model_means_the_bundled_one_and_models_lists_it():
    folder = bundled_model()
    assert resolve_model(None) == folder and resolve_model(DEFAULT_MODEL) == folder
    out = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert f"{DEFAULT_MODEL} (default)" in out.output and "15:" in out.output


@pytest.mark.realdata
@pytest.mark.slow
def test_bundled_model_reproduces_its_test_accuracy(realdata):
    """The official test split through the folder's own preprocessing gives the top-1 its config.json records.
    Slow: 1,068 videos x 10 views, 3-7 minutes on a 2-core CPU (a third of the default run); `ship` runs the same
    evaluation whenever the bundled model changes."""
    from deformer3d.data import build_dataset
    from deformer3d.data.preprocessing import data_config_from
    from deformer3d.models.hub import load_model_folder

    folder = bundled_model()
    model, info = load_model_folder(folder)
    cfg = data_config_from(info["data"])
    cfg.format, cfg.root, cfg.ann_file, cfg.flip = "pennaction", str(realdata / "pennaction"), "labels", True
    cfg.splits = {"test": "test"}
    record = _evaluation(folder)
    clips = int(record["views"].split()[0])
    ds = build_dataset(cfg, "test", need_video=False, need_pose=True, num_clips=clips, flip_views=True)
    assert len(ds) == 1068 and ds.class_names == info["labels"]
    loader = torch.utils.data.DataLoader(ds, batch_size=64)
    correct = 0
    with torch.inference_mode():
        for batch in loader:
            views = batch["pose"]  # (B, V, T, R, 3)
            probs = model(pose=views.flatten(0, 1)).logits.softmax(-1).unflatten(0, views.shape[:2]).mean(1)
            correct += int((probs.argmax(-1) == batch["label"]).sum())
    top1 = 100 * correct / len(ds)
    assert abs(top1 - record["top1"]) <= 0.1, (top1, record["top1"])


@pytest.mark.realdata
def test_predict_with_no_model_on_the_development_clips(realdata):
    """`deformer3d predict CLIP --json` (MediaPipe poses, no --model) gives each development clip the top-1 the
    model's record (and the README) state, so a regression in the model or the predictor is caught."""
    pytest.importorskip("mediapipe")
    folder = bundled_model()
    for row in _evaluation(folder)["dev_clips"]:
        clip = realdata / row["clip"]
        out = runner.invoke(app, ["predict", str(clip), "--json"])
        assert out.exit_code == 0, out.output
        payload = json.loads(out.stdout[out.stdout.index("{"):])
        top = payload["top_k"][0]
        assert len(payload["top_k"]) == 5
        assert top["label"] == row["top1"], (row["clip"], payload["top_k"])
        assert np.isclose(top["probability"], row["probability"], atol=0.05), (row["clip"], top, row)
