"""The model card (``README.md``) of a model folder: YAML metadata the Hugging Face hub reads, then what the model
is, what it was trained on, the metrics of its evaluation report, how to use it, its intended use and limits.

``card`` (given by ``deformer3d export``; empty for a bare ``save_pretrained``) may hold:
``experiment`` (name), ``data`` (the training data settings: format, root, ann_file, ...), ``optim``,
``results`` (the evaluation report, ``results.json`` of ``deformer3d test``), ``checkpoint``, ``epoch``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import nn

KINDS = {
    "deformer3d": "the cross-modal 3D deformable transformer (Kim, Ahn & Ko, ICCV 2023)",
    "timesformer": "TimeSformer (Hugging Face transformers), divided space-time attention",
    "vivit": "ViViT (Hugging Face transformers), joint space-time attention over tubelets",
}
DATASETS = {
    "synth": "SynthActions (procedurally generated stick figures, this toolkit's synthetic dataset)",
    "ntu": "NTU RGB+D", "pennaction": "Penn Action", "hmdb51": "HMDB51", "finegym": "FineGYM",
    "folder": "a folder-per-class video dataset", "pyskl": "a pyskl / mmaction2 skeleton annotation",
}


def _modality(config: dict[str, Any]) -> str:
    if config["model_type"] != "deformer3d":
        return "rgb"
    return str(config.get("modality", "rgb_pose"))


def _inputs(config: dict[str, Any]) -> str:
    pre = config["preprocessing"]
    modality = _modality(config)
    frames = pre.get("num_frames", "?")
    parts = []
    if modality in ("rgb", "rgb_pose"):
        parts.append(f"video `(B, 3, {frames}, {pre.get('image_size', '?')}, {pre.get('image_size', '?')})` "
                     "ImageNet-normalised")
    if modality in ("pose", "rgb_pose"):
        parts.append(f"pose `(B, {frames}, R, 3)` = (x, y, score) in the `{pre.get('layout', 'coco17')}` layout, "
                     f"{pre.get('max_persons', 1)} person(s)")
    sampler = pre.get("test_sampler", "equidistant")
    return " + ".join(parts) + f"; {frames} frames per clip, `{sampler}` sampler"


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) or math.isnan(value) else f"{value:.1f}%"


def _evaluation(results: dict[str, Any] | None) -> list[str]:
    if not results:
        return ["No evaluation report was found beside the checkpoint, so this card gives no accuracy; "
                "`deformer3d test CONFIG` writes one (`<run>/eval/results.json`) and a re-export puts it here."]
    lines = [
        f"On the **{results.get('split', 'test')}** split ({results.get('num_samples', '?')} clips, "
        f"{results.get('clips', 1)} clip(s) x {results.get('crops', 1)} crop(s) per video, "
        f"{results.get('num_frames', '?')} frames), from `{Path(str(results.get('checkpoint', '?'))).name}`"
        + (f" (epoch {results['epoch']})" if results.get("epoch") is not None else "") + ":",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| top-1 | {_pct(results.get('top1'))} |",
        f"| top-5 | {_pct(results.get('top5'))} |",
        f"| mean-class | {_pct(results.get('mean_class'))} |",
    ]
    rows = [r for r in results.get("per_class", []) if isinstance(r.get("accuracy"), (int, float))
            and not math.isnan(r["accuracy"])]
    if rows:
        weakest = sorted(rows, key=lambda r: r["accuracy"])[:3]
        lines += ["", "Weakest classes: " + ", ".join(f"{r['class']} {_pct(r['accuracy'])}" for r in weakest) + "."]
    return lines


def _training(card: dict[str, Any], config: dict[str, Any]) -> list[str]:
    data = card.get("data") or {}
    if not data:
        return ["Not recorded: this folder was written by `save_pretrained` from Python, not exported from a "
                "training run (`deformer3d export CKPT DIR` records the data it was trained on)."]
    fmt = str(data.get("format", "?"))
    lines = [f"- experiment: `{card.get('experiment', '?')}`",
             f"- data: {DATASETS.get(fmt, fmt)} (`data.format: {fmt}`"
             + (f", annotation `{Path(str(data['ann_file'])).name}`" if data.get("ann_file") else "") + ")"]
    if data.get("protocol"):
        lines.append(f"- protocol: `{data['protocol']}`")
    lines.append(f"- {config['num_classes']} classes: " + ", ".join(config["id2label"].values()))
    optim = card.get("optim") or {}
    if optim:
        lines.append(f"- optimiser: {optim.get('name', '?')}, lr {optim.get('lr', '?')}, "
                     f"weight decay {optim.get('weight_decay', '?')}")
    if card.get("epoch") is not None:
        lines.append(f"- checkpoint: `{Path(str(card.get('checkpoint', '?'))).name}` after epoch {card['epoch']}")
    return lines


def _limits(card: dict[str, Any], config: dict[str, Any]) -> list[str]:
    fmt = str((card.get("data") or {}).get("format", ""))
    modality = _modality(config)
    lines = [
        f"- It only knows its {config['num_classes']} classes and has no 'none of these' class: any clip gets one "
        "of them, so threshold the probability in an application.",
        "- Accuracy holds for data like its training data; other cameras, viewpoints, framings and people change it "
        "(floating-point results also differ slightly between CPU types and runtimes).",
    ]
    if fmt == "synth":
        lines.append("- Trained on synthetic stick figures: it demonstrates the toolkit and does **not** recognise "
                     "real people's actions.")
    if modality in ("pose", "rgb_pose"):
        lines.append("- Skeletons: without a pose file the toolkit estimates poses with MediaPipe (COCO-17); its "
                     "errors (occlusion, several people, unusual poses) become this model's errors.")
    lines.append("- Not meant for decisions about people (surveillance, employment, law enforcement) without a "
                 "validation of its own on that population and task.")
    if config["model_type"] == "deformer3d" and modality != "pose":
        lines.append("- ONNX: the 3D deformable attention needs 5-D GridSample (ONNX opset 20). ONNX Runtime runs it; "
                     "runtimes without 5-D GridSample (e.g. TensorRT, OpenVINO at the time of writing) do not.")
    return lines


def render_card(model: nn.Module, config: dict[str, Any], card: dict[str, Any]) -> str:
    """The ``README.md`` text for a folder whose ``config.json`` is ``config``."""
    from huggingface_hub import ModelCardData

    model_type = config["model_type"]
    modality = _modality(config)
    fmt = str((card.get("data") or {}).get("format", ""))
    meta = ModelCardData(
        library_name="deformer3d",
        pipeline_tag="video-classification",
        tags=sorted({"action-recognition", "video-classification", model_type, modality.replace("_", "-")}),
        datasets=[fmt] if fmt else None,
    )
    params = sum(p.numel() for p in model.parameters())
    title = card.get("experiment") or f"{model_type} ({modality})"
    onnx = config.get("onnx")
    body = [
        f"# {title}",
        "",
        f"An action recogniser: {KINDS[model_type]}, trained and exported with the deformer3d toolkit.",
        "",
        "## Model",
        "",
        "| | |",
        "|---|---|",
        f"| kind | `{model_type}`, modality `{modality}` |",
        f"| parameters | {params:,} |",
        f"| input | {_inputs(config)} |",
        f"| output | logits `(B, {config['num_classes']})` over the classes in `config.json` `id2label` |",
        "| files | `config.json` (config, labels, preprocessing), `model.safetensors`"
        + (f", `model.onnx` (opset {onnx.get('opset')})" if isinstance(onnx, dict) else "") + " |",
        "",
        "## Training data",
        "",
        *_training(card, config),
        "",
        "## Evaluation",
        "",
        *_evaluation(card.get("results")),
        "",
        "## How to use",
        "",
        "```bash",
        "deformer3d predict clip.mp4 --model THIS_FOLDER          # top-5 table; --json; --runtime onnx",
        "```",
        "",
        "```python",
        "from deformer3d.serve.predictor import Predictor",
        "print(Predictor('THIS_FOLDER').predict('clip.mp4').top_k)",
        "",
        "from deformer3d.models.hub import load_model_folder       # or Deformer3D.from_pretrained('owner/name')",
        "model, info = load_model_folder('THIS_FOLDER')",
        "```",
        "",
        "## Intended use and limits",
        "",
        "Intended use: recognising the listed actions in short, trimmed clips of one or a few people, for research, "
        "prototyping and as a starting point for fine-tuning (`model.pretrained: THIS_FOLDER` in a training config).",
        "",
        *_limits(card, config),
        "",
    ]
    return f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(body)
