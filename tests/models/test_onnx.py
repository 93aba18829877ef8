"""ONNX export parity: onnxruntime logits match PyTorch within 1e-4 (max abs) on real clips (two realdata videos,
their poses estimated by the predictor's MediaPipe path), one at a time and as a batch of 2; the folder's
``model.onnx`` runs through ``Predictor(runtime="onnx")`` and ``deformer3d predict --runtime onnx``.

Each export traces the model with torch.export (minutes on a busy 2-core CPU): ``slow``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from deformer3d.cli import app
from exported_models import make_exported

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CLIPS = ("stgcn_clean_and_jerk.mp4", "stgcn_ta_chi.mp4")


def _real_inputs(predictor, realdata):
    """``video (2, 3, T, S, S)`` / ``pose (2, T, R, 3)`` of the two real clips, preprocessed as the predictor does."""
    from deformer3d.data import load_clip, open_video

    videos, poses = [], []
    for name in CLIPS:
        path = realdata / "videos" / name
        kp = sc = None
        if predictor.uses_pose:
            kp, sc = predictor._estimate_pose(open_video(path))
            backend = (predictor._estimator or predictor._tracker).layout  # the estimator's joints -> the model's
            kp, sc = predictor._to_model_layout(kp, sc, backend, str(path))
        clip = load_clip(path, predictor.data_cfg, keypoints=kp, scores=sc, need_video=predictor.uses_video,
                         need_pose=predictor.uses_pose)
        videos.append(clip.get("video"))
        poses.append(clip.get("pose"))
    out = {}
    if predictor.uses_video:
        out["video"] = torch.stack(videos)
    if predictor.uses_pose:
        out["pose"] = torch.stack(poses)
        assert (out["pose"][..., 2] > 0).any()  # a person was found: the clips are real inputs, not zeros
    return out


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("kind", ["demo", "pose", "timesformer", "penn-action-pose"])
def test_onnxruntime_matches_pytorch_on_real_clips(kind, realdata, tmp_path):
    from deformer3d.models.onnx import export_onnx
    from deformer3d.serve.onnx_runtime import OnnxModel
    from deformer3d.serve.predictor import Predictor

    if kind == "penn-action-pose":  # the bundled pose-only model: trained weights, 16 frames, penn13 joints
        from bundled import bundled_model

        folder = tmp_path / kind
        shutil.copytree(bundled_model(), folder)  # export_onnx writes into the folder; the package stays as shipped
    else:  # the demo config's model (rgb_pose, coordinates + motion), a tiny pose-only model, TimeSformer tiny (random weights)
        folder = make_exported(tmp_path / kind, kind)
    torch_predictor = Predictor(folder)
    export_onnx(torch_predictor.model, folder)
    entry = json.loads((folder / "config.json").read_text())["onnx"]
    assert entry["opset"] == 20 and entry["num_frames"] == torch_predictor.data_cfg.num_frames
    assert entry["dynamic_axes"] == ["batch"]
    onnx_model = OnnxModel.from_folder(folder)
    x = _real_inputs(torch_predictor, realdata)
    for batch in ({k: v[:1] for k, v in x.items()}, {k: v[1:] for k, v in x.items()}, x):  # B = 1, 1, 2
        with torch.no_grad():
            ref = torch_predictor.model(**batch).logits
        got = onnx_model(**batch).logits
        assert got.shape == ref.shape
        diff = (got - ref).abs().max().item()
        print(f"{kind} B={got.shape[0]}: max |onnx - torch| = {diff:.2e}")
        assert diff < 1e-4
    assert not torch.allclose(ref[0], ref[1])  # two different clips: the batch is not one input repeated

    # the same folder through the predictor and the CLI
    onnx_pred = Predictor(folder, runtime="onnx").predict(realdata / "videos" / CLIPS[0], top_k=3)
    torch_pred = torch_predictor.predict(realdata / "videos" / CLIPS[0], top_k=3)
    assert [label for label, _ in onnx_pred.top_k] == [label for label, _ in torch_pred.top_k]
    np.testing.assert_allclose([p for _, p in onnx_pred.top_k], [p for _, p in torch_pred.top_k], atol=1e-4)
    res = CliRunner().invoke(app, ["predict", str(realdata / "videos" / CLIPS[0]), "--model", str(folder),
                                   "--runtime", "onnx", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout[res.stdout.index("{"):])
    assert [t["label"] for t in payload["top_k"]][:3] == [label for label, _ in torch_pred.top_k]


@pytest.mark.slow
def test_onnx_runner_refuses_bad_inputs_before_running(tmp_path):
    """Validation lives outside the graph: wrong clip shapes and NaN joints are one-line ModelInputErrors."""
    from deformer3d.errors import ModelInputError
    from deformer3d.models.hub import load_model_folder
    from deformer3d.models.onnx import export_onnx
    from deformer3d.serve.onnx_runtime import OnnxModel

    folder = make_exported(tmp_path / "pose", "pose")
    model, _ = load_model_folder(folder)
    export_onnx(model, folder)
    onnx_model = OnnxModel.from_folder(folder)
    pose = torch.rand(1, 8, 17, 3)
    assert onnx_model(pose=pose).logits.shape == (1, model.config.num_classes)
    with pytest.raises(ModelInputError, match=r"traced for \(B, 8, 17, 3\)"):
        onnx_model(pose=torch.rand(1, 6, 17, 3))
    pose[0, 0, 0, 0] = float("nan")
    with pytest.raises(ModelInputError, match="NaN"):
        onnx_model(pose=pose)


@pytest.mark.slow
def test_export_cli_onnx_writes_the_graph_beside_the_folder(tmp_path):
    """`deformer3d export SRC OUT --onnx`: model.onnx + the onnx entry in config.json + the card's file row; the
    graph runs at another batch size than the one traced (2) and matches the folder's torch model."""
    from deformer3d.models.hub import load_model_folder
    from deformer3d.models.onnx import example_inputs
    from deformer3d.serve.onnx_runtime import OnnxModel

    src = make_exported(tmp_path / "src", "rgb_pose")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["export", str(src), str(out), "--onnx"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.onnx", "model.safetensors"]
    entry = json.loads((out / "config.json").read_text())["onnx"]
    assert entry["inputs"] == {"video": ["batch", 3, 8, 112, 112], "pose": ["batch", 8, 17, 3]}
    assert "`model.onnx` (opset 20, 8 frames)" in (out / "README.md").read_text()
    model, _ = load_model_folder(out)
    x = example_inputs(model, entry, batch_size=3, seed=1)
    with torch.no_grad():
        ref = model(**x).logits
    assert (OnnxModel.from_folder(out)(**x).logits - ref).abs().max().item() < 1e-4


def test_kinds_without_an_onnx_export_are_refused_by_name(tmp_path):
    from deformer3d.errors import UserError
    from deformer3d.models.hub import load_model_folder
    from deformer3d.models.onnx import export_onnx

    folder = make_exported(tmp_path / "vivit", "vivit")
    model, _ = load_model_folder(folder)
    with pytest.raises(UserError, match="vivit models are not exported to ONNX; ONNX export covers deformer3d"):
        export_onnx(model, folder)
    assert not (folder / "model.onnx").exists()
