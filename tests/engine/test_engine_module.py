"""LightningModule pieces: LR schedule, view averaging, metrics, checkpoint hyper-parameters."""

from __future__ import annotations

import math

import pytest
import torch

from deformer3d.engine.evaluate import classification_metrics, per_class_rows
from deformer3d.engine.module import ActionModule, view_logits, warmup_cosine
from deformer3d.errors import ModelInputError

POSE_MODEL = {"name": "deformer3d", "preset": "tiny", "modality": "pose", "num_frames": 4}


def test_warmup_then_cosine():
    lrs = [warmup_cosine(s, warmup_steps=10, total_steps=110, min_ratio=0.01) for s in range(111)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(lrs[:9], lrs[1:10], strict=True))  # rising during warm-up
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))  # then never rising
    assert lrs[60] == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[110] == pytest.approx(0.01)


def test_view_logits_average_softmax_over_views():
    torch.manual_seed(0)
    module = ActionModule(POSE_MODEL, 5, [f"c{i}" for i in range(5)]).eval()
    pose = torch.rand(2, 3, 4, 17, 3)  # (B, V, T, R, 3)
    with torch.no_grad():
        averaged = view_logits(module.model, None, pose).exp()
        per_view = torch.stack([module.model(pose=pose[:, v]).logits.softmax(-1) for v in range(3)], 1)
    assert averaged.shape == (2, 5)
    torch.testing.assert_close(averaged, per_view.mean(1), rtol=1e-4, atol=1e-5)


def test_module_checks_class_names_and_optimiser():
    with pytest.raises(ModelInputError, match="class_names"):
        ActionModule(POSE_MODEL, 3, ["a", "b"])
    module = ActionModule(POSE_MODEL, 2, ["a", "b"], optim={"name": "rmsprop"})
    module.trainer = None
    with pytest.raises(Exception, match="rmsprop"):
        module.configure_optimizers()


def test_hyper_parameters_are_plain_values():
    module = ActionModule(POSE_MODEL, 2, ["a", "b"], data_info={"num_frames": 4})
    hp = dict(module.hparams)

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, (list, tuple)):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, (str, int, float, bool))

    assert plain(hp), hp


def test_metrics_and_per_class():
    # 3 classes; class 2 never predicted correctly
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 1, 0, 1, 1])
    probs = torch.nn.functional.one_hot(pred, 3).float() * 0.8 + 0.1
    m = classification_metrics(probs, labels, 3)
    assert m["top1"] == pytest.approx(100 * 3 / 6)
    assert m["mean_class"] == pytest.approx(100 * (1.0 + 0.5 + 0.0) / 3)
    assert m["confusion"].tolist() == [[2, 0, 0], [1, 1, 0], [0, 2, 0]]
    rows = per_class_rows(m["confusion"], ["a", "b", "c"])
    assert [r["support"] for r in rows] == [2, 2, 2]
    assert rows[0]["precision"] == pytest.approx(100 * 2 / 3)
    assert rows[2]["accuracy"] == 0.0
