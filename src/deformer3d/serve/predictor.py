"""Predict the actions of one video with an exported model (``deformer3d predict``, the web page).

    predictor = Predictor("runs/demo/model")
    result = predictor.predict("clip.mp4", top_k=5, explain=True)
    result.top_k            # [("drink", 0.71), ("phone_call", 0.12), ...]

The video is decoded and preprocessed by :func:`deformer3d.data.load_clip`, the function the test split goes
through, so a prediction sees exactly what evaluation saw. A model that reads skeletons gets them from
``skeleton=`` (a pose file) or, by default, from the MediaPipe pose backend run on the video.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deformer3d.config import DataConfig
from deformer3d.errors import DataFormatError, UserError, VideoError

MIN_FRAMES = 2  # an action needs motion: one frame (a still image) is refused with a message
MIN_POSE_FRAMES = 16  # pose is estimated on max(16, 2 x the model's frames) frames of a video, interpolated between

Source = str | Path | bytes


@dataclass
class Prediction:
    """What :meth:`Predictor.predict` returns.

    Attributes:
        top_k: ``[(label, probability), ...]`` best first (softmax over all classes).
        frames: ``(T, S, S, 3)`` uint8, the sampled and cropped frames the model saw.
        frame_inds: ``(T,)`` indices of those frames in the video.
        pose: ``(T, M, V, 3)`` (x, y, score) in [0, 1] of ``frames``, or None when no skeleton was used.
        explanations: numpy versions of the model's explanations (batch axis removed), or None:
            ``deformable`` list over blocks of ``{"points": (N, 3) (t, y, x) in [0, 1], "weight": (N,)}`` and
            ``joint_attention (T, R)`` (deformer3d); ``attention (T, h, w)`` (timesformer / vivit).
        timings: seconds spent in ``decode``, ``pose`` and ``model``.
    """

    top_k: list[tuple[str, float]]
    frames: np.ndarray
    frame_inds: np.ndarray
    pose: np.ndarray | None
    explanations: dict[str, Any] | None
    model_name: str
    video_name: str
    total_frames: int
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "video": self.video_name,
            "model": self.model_name,
            "top_k": [{"label": label, "probability": round(p, 6)} for label, p in self.top_k],
            "frame_inds": [int(i) for i in self.frame_inds],
            "total_frames": self.total_frames,
            "pose": "given" if self.pose is not None else None,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


class Predictor:
    """An exported model ready to predict. Loads once; :meth:`predict` is cheap to call repeatedly.

    Args:
        model_dir: exported model folder (``config.json``, ``model.safetensors``, ``labels.json``).
        device: torch device for the model.
        pose_backend: pose estimator used when the model needs skeletons and none are given.
    """

    def __init__(self, model_dir: str | Path, device: str = "cpu", pose_backend: str = "mediapipe"):
        from deformer3d.models.hub import load_exported

        self.model_dir = Path(model_dir)
        self.model, self.info = load_exported(model_dir, map_location=device)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.labels: list[str] = list(self.info["labels"])
        self.model_name = str(self.info["model"].get("name", "deformer3d"))
        known = {f.name for f in fields(DataConfig)}
        self.data_cfg = DataConfig(**{k: v for k, v in self.info.get("data", {}).items() if k in known})
        self.pose_backend = pose_backend
        self._estimator = None

    @property
    def uses_video(self) -> bool:
        return bool(getattr(self.model, "uses_video", True))

    @property
    def uses_pose(self) -> bool:
        return bool(getattr(self.model, "uses_pose", False))

    def describe(self) -> str:
        """One line: model kind, inputs, classes."""
        inputs = " + ".join(n for n, used in (("RGB", self.uses_video), ("pose", self.uses_pose)) if used)
        return f"{self.model_name} ({inputs}), {len(self.labels)} classes, {self.data_cfg.num_frames} frames"

    # ---- the pipeline ---------------------------------------------------------------------------------------
    def predict(
        self, source: Source, skeleton: str | Path | tuple[np.ndarray, np.ndarray] | None = None, top_k: int = 5,
        explain: bool = False, name: str | None = None,
    ) -> Prediction:
        """Top-k actions of ``source`` (video path, its bytes, or a frame folder).

        ``skeleton``: a pose file (``.pkl`` pyskl, ``.npz`` / ``.json`` sidecar, NTU ``.skeleton``) or a
        ``(keypoints (M, T, V, 2) pixels, scores (M, T, V))`` pair covering every frame of the video; ``None``
        runs the pose backend when the model reads skeletons.
        """
        from deformer3d.data import load_clip, open_video

        if top_k < 1:
            raise UserError(f"top_k={top_k}: must be >= 1")
        video_name = name or ("<uploaded video>" if isinstance(source, (bytes, bytearray)) else str(source))
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        size = len(source) if isinstance(source, (bytes, bytearray)) else (
            Path(source).stat().st_size if Path(source).is_file() else None)
        if size == 0:
            raise VideoError(f"{video_name}: the file is empty (0 bytes); give a video file")
        reader = open_video(source, name=video_name)
        total = reader.num_frames
        if total < MIN_FRAMES:
            raise VideoError(
                f"{video_name}: has {total} frame{'s' * (total != 1)}; an action needs motion, give a video of at "
                f"least {MIN_FRAMES} frames (the model samples {self.data_cfg.num_frames})"
            )
        keypoints = scores = None
        want_pose = self.uses_pose or skeleton is not None
        if want_pose:
            if skeleton is None:
                t_pose = time.perf_counter()
                keypoints, scores = self._estimate_pose(reader)
                timings["pose"] = time.perf_counter() - t_pose
            else:
                keypoints, scores = self._read_skeleton(skeleton, video_name)
        # the model's own input path (a pose-only model sees whole frames, no crop, as in training), on the reader
        # opened above: the video is probed once per prediction
        clip = load_clip(
            reader, self.data_cfg, keypoints=keypoints, scores=scores, need_video=self.uses_video,
            need_pose=want_pose, return_frames=self.uses_video,
        )
        meta = clip["meta"]
        frame_inds = np.asarray(meta["frame_inds"][0] if np.ndim(meta["frame_inds"]) == 2 else meta["frame_inds"])
        shown = meta["frames"] if self.uses_video else reader.get_frames(np.minimum(frame_inds, total - 1))
        timings["decode"] = time.perf_counter() - t0 - timings.get("pose", 0.0)

        t_model = time.perf_counter()
        video = clip["video"][None].to(self.device) if self.uses_video else None
        pose = clip["pose"][None].to(self.device) if self.uses_pose else None
        with torch.inference_mode():
            out = self.model(video=video, pose=pose, return_explanations=explain)
        probs = torch.softmax(out.logits.float(), dim=-1)[0].cpu()
        timings["model"] = time.perf_counter() - t_model

        k = min(top_k, len(self.labels))
        best = torch.topk(probs, k)
        pose_out = None
        if want_pose:
            v = keypoints.shape[2]
            pose_out = clip["pose"].numpy().reshape(len(frame_inds), -1, v, 3)  # (T, M*V, 3) -> (T, M, V, 3)
        return Prediction(
            top_k=[(self.labels[i], float(p)) for p, i in zip(best.values.tolist(), best.indices.tolist(), strict=True)],
            frames=np.asarray(shown),
            frame_inds=frame_inds,
            pose=pose_out,
            explanations=_to_numpy(out.explanations) if explain else None,
            model_name=self.model_name,
            video_name=video_name,
            total_frames=int(meta.get("total_frames", total)),
            timings=timings,
        )

    # ---- skeletons ------------------------------------------------------------------------------------------
    def _estimate_pose(self, reader) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the whole video from a few evenly spaced key frames (``max(MIN_POSE_FRAMES, 2 x num_frames)``),
        linearly interpolated in between: the test sampler looks at ``num_frames`` evenly spaced frames, and the
        estimator costs ~80 ms a frame on a CPU."""
        from deformer3d.pose import build_pose_estimator

        if self._estimator is None:
            # still-image mode: key frames far apart are independent detections, not a track
            self._estimator = build_pose_estimator(self.pose_backend, static_image_mode=True)
        total = reader.num_frames
        n_keys = min(total, max(MIN_POSE_FRAMES, 2 * self.data_cfg.num_frames))
        keys = np.unique(np.linspace(0, total - 1, n_keys).round().astype(int))
        kp, sc = self._estimator.estimate(reader.get_frames(keys))
        return interpolate_keyframes(kp, sc, keys, total)

    def _read_skeleton(self, skeleton, video_name: str) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(skeleton, tuple):
            return np.asarray(skeleton[0], np.float32), np.asarray(skeleton[1], np.float32)
        path = Path(skeleton)
        if not path.is_file():
            raise DataFormatError(f"--skeleton {path}: file not found")
        if path.suffix.lower() == ".pkl":
            from deformer3d.data.formats.pyskl import annotation_pose, read_pyskl

            anns = read_pyskl(path)["annotations"]
            stem = Path(video_name).stem
            match = [a for a in anns if Path(str(a["frame_dir"])).name == stem]
            if len(match) != 1 and len(anns) != 1:
                raise DataFormatError(
                    f"{path}: {len(anns)} annotations and none with frame_dir '{stem}'; give a pkl with this "
                    "video's skeleton only, or name its frame_dir after the video file"
                )
            return annotation_pose((match or anns)[0], str(path))
        from deformer3d.data.formats import load_pose_file

        kp, sc, _ = load_pose_file(path)
        return kp, sc

    def close(self) -> None:
        if self._estimator is not None:
            self._estimator.close()
            self._estimator = None


def interpolate_keyframes(
    keypoints: np.ndarray, scores: np.ndarray, keys: np.ndarray, total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Poses at key frames ``keypoints (M, K, V, 2)``, ``scores (M, K, V)`` -> every frame ``(M, total, V, ...)``.

    Coordinates are linearly interpolated between the two surrounding key frames; the score is the smaller of
    the two, so a joint missed at either key frame stays missing in between.
    """
    if len(keys) == total:
        return keypoints, scores
    t = np.arange(total)
    right = np.clip(np.searchsorted(keys, t), 1, len(keys) - 1)
    left = right - 1
    w = ((t - keys[left]) / np.maximum(keys[right] - keys[left], 1)).clip(0, 1)[None, :, None]
    kp = keypoints[:, left] * (1 - w[..., None]) + keypoints[:, right] * w[..., None]
    sc = np.minimum(scores[:, left], scores[:, right])
    exact = np.isin(t, keys)  # key frames keep their own values
    kp[:, exact], sc[:, exact] = keypoints, scores
    return kp.astype(np.float32), sc.astype(np.float32)


def _to_numpy(explanations: dict[str, Any] | None) -> dict[str, Any] | None:
    """Tensors -> numpy with the batch axis (size 1) removed, recursively."""
    if explanations is None:
        return None

    def conv(x):
        if isinstance(x, torch.Tensor):
            return x.detach().float().cpu().numpy()[0]
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        return x

    return conv(explanations)


# ---- the CLI ------------------------------------------------------------------------------------------------------
def predict_cli(
    video: Path, model_dir: Path, skeleton: Path | None = None, top_k: int = 5, as_json: bool = False,
    explain: Path | None = None,
) -> Prediction:
    """``deformer3d predict``: a rich table (or JSON on stdout), and the explanation figure with ``--explain``."""
    from rich.console import Console
    from rich.table import Table

    if not Path(video).exists():
        raise VideoError(f"{video}: file not found")
    predictor = Predictor(model_dir)
    try:
        result = predictor.predict(video, skeleton=skeleton, top_k=top_k, explain=explain is not None)
    finally:
        predictor.close()
    if explain is not None:
        from deformer3d.serve.figures import plot_explanation

        plot_explanation(result, explain)
    if as_json:
        payload = result.to_dict()
        if explain is not None:
            payload["explanation_figure"] = str(explain)
        print(json.dumps(payload, indent=2))
        return result
    table = Table(title=Path(video).name, caption=predictor.describe())
    table.add_column("#", justify="right")
    table.add_column("action")
    table.add_column("probability", justify="right")
    table.add_column("")
    for rank, (label, p) in enumerate(result.top_k, 1):
        table.add_row(str(rank), label, f"{p:.3f}", "█" * max(1, round(p * 30)) if p >= 0.005 else "")
    console = Console()
    console.print(table)
    t = result.timings
    console.print(f"frames {list(map(int, result.frame_inds))} of {result.total_frames}; "
                  + ", ".join(f"{k} {v:.2f}s" for k, v in t.items()))
    if explain is not None:
        console.print(f"explanation figure: {explain}")
    return result
