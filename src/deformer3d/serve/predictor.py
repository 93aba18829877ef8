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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deformer3d.data.pose_checks import match_frames
from deformer3d.data.preprocessing import data_config_from
from deformer3d.data.video import FrameCountError, again_after_recount
from deformer3d.errors import DataFormatError, UserError, VideoError
from deformer3d.models.inputs import ReadsAsItsModel
from deformer3d.pose.base import POSE_SHORT_SIDE
from deformer3d.serve.evidence import PoseEvidence, pose_evidence, require_evidence
from deformer3d.serve.windows import MIN_WINDOW_PRESENCE, clip_windows, presence, window_frames

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
    windows: list[dict[str, Any]] | None = None  # long videos: each window's start, length and top class
    evidence: PoseEvidence | None = None  # where the skeleton came from and how much of it was found
    layout: str = "coco17"  # the joint layout of ``pose`` (the model's): names and bones in the figures

    @property
    def warnings(self) -> list[str]:
        """Reasons not to trust ``top_k`` (e.g. no person found); shown on stderr, in ``--json`` and on the page."""
        return [w for w in (self.evidence.warning if self.evidence else None,) if w]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "video": self.video_name,
            "model": self.model_name,
            "top_k": [{"label": label, "probability": round(p, 6)} for label, p in self.top_k],
            "frame_inds": [int(i) for i in self.frame_inds],
            "total_frames": self.total_frames,
            "pose": self.evidence.to_dict() if self.evidence else None,
            **({"warnings": self.warnings} if self.warnings else {}),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            **({"windows": self.windows} if self.windows else {}),
        }


class Predictor(ReadsAsItsModel):
    """An exported model ready to predict. Loads once; :meth:`predict` is cheap to call repeatedly.

    Args:
        model_dir: model folder (``config.json``, ``model.safetensors``; see :mod:`deformer3d.models.hub`) or a
            hub id.
        device: torch device for the model.
        runtime: ``torch`` (the PyTorch model) or ``onnx`` (the folder's ``model.onnx`` on ONNX Runtime, CPU).
        pose_backend: pose estimator used when the model needs skeletons and none are given.
    """

    def __init__(self, model_dir: str | Path, device: str = "cpu", pose_backend: str = "mediapipe",
                 runtime: str = "torch"):
        from deformer3d.models.hub import load_exported, read_model_folder

        self.model_dir = Path(model_dir)
        self.runtime = runtime
        if runtime == "onnx":  # the folder's model.onnx on ONNX Runtime (serve/onnx_runtime.py); same preprocessing
            from deformer3d.serve.onnx_runtime import OnnxModel

            folder = read_model_folder(model_dir)
            self.model, self.info = OnnxModel.from_folder(folder.directory), folder.info()
        elif runtime == "torch":
            self.model, self.info = load_exported(model_dir, map_location=device)
        else:
            raise UserError(f"--runtime {runtime}: choose torch or onnx")
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.labels: list[str] = list(self.info["labels"])
        self.model_name = str(self.info["model"].get("name", "deformer3d"))
        self.data_cfg = data_config_from(self.info.get("data", {}))
        self.pose_backend = pose_backend
        self._estimator = None  # still-image mode, for key frames far apart
        self._tracker = None  # video mode, for the consecutive frames of a window

    def describe(self) -> str:
        """One line: model kind, inputs, classes."""
        inputs = " + ".join(n for n, used in (("RGB", self.uses_video), ("pose", self.uses_pose)) if used)
        return f"{self.model_name} ({inputs}), {len(self.labels)} classes, {self.data_cfg.num_frames} frames"

    # ---- the pipeline ---------------------------------------------------------------------------------------
    def predict(
        self, source: Source, skeleton: str | Path | tuple[np.ndarray, np.ndarray] | None = None, top_k: int = 5,
        explain: bool = False, name: str | None = None, resample_skeleton: bool = False,
    ) -> Prediction:
        """Top-k actions of ``source`` (video path, its bytes, or a frame folder).

        ``skeleton``: a pose file (``.pkl`` pyskl, ``.npz`` / ``.json`` sidecar, NTU ``.skeleton``) or a
        ``(keypoints (M, T, V, 2) pixels, scores (M, T, V))`` pair covering every frame of the video; ``None``
        runs the pose backend when the model reads skeletons. A skeleton whose frame count differs from the
        video's is an error (``resample_skeleton=True`` stretches it over the video instead); a pose-only model with
        no usable joint refuses, and any prediction on little pose evidence carries ``warnings``.
        """
        from deformer3d.data import load_clip, open_video
        from deformer3d.data.dataset import decode_short_side, uses_person_crop

        if top_k < 1:
            raise UserError(f"top_k={top_k}: must be >= 1")
        video_name = name or ("<uploaded video>" if isinstance(source, (bytes, bytearray)) else str(source))
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        size = len(source) if isinstance(source, (bytes, bytearray)) else (
            Path(source).stat().st_size if Path(source).is_file() else None)
        if size == 0:
            raise VideoError(f"{video_name}: the file is empty (0 bytes); give a video file")
        # frames come out of the decoder at the size the model's crops need (memory follows the model, not the file)
        want_pose = self.uses_pose or skeleton is not None
        person_crop = uses_person_crop(self.data_cfg, want_pose)
        reader = open_video(source, name=video_name,
                            short_side=decode_short_side(self.data_cfg, False, person_crop=person_crop))
        total = reader.num_frames
        if total < MIN_FRAMES:
            raise VideoError(
                f"{video_name}: has {total} frame{'s' * (total != 1)}; an action needs motion, give a video of at "
                f"least {MIN_FRAMES} frames (the model samples {self.data_cfg.num_frames})"
            )
        keypoints = scores = evidence = None
        pose_reader = None
        # a pose-only model trained on short clips looks at a long video through several windows (serve/windows.py)
        windows = [(0, total)] if self.uses_video else clip_windows(total, reader.fps, self.data_cfg.window_seconds)
        if want_pose:
            if skeleton is None:
                t_pose = time.perf_counter()
                pose_reader = open_video(source, name=video_name, short_side=POSE_SHORT_SIDE)
                if len(windows) > 1:  # pose exactly on the frames the windows sample, tracked through each window
                    keypoints, scores = self._estimate_windows(
                        pose_reader, window_frames(windows, self.data_cfg.num_frames, self.data_cfg.test_sampler))
                else:
                    keypoints, scores = self._estimate_pose(pose_reader)
                total = reader.num_frames  # decoding may have corrected the count (shared index)
                timings["pose"] = time.perf_counter() - t_pose
                layout = (self._estimator or self._tracker).layout  # the backend's joint layout
            else:
                keypoints, scores = self._read_skeleton(skeleton, video_name)
                layout = None  # a skeleton file: its joint count names its layout
            keypoints, scores = self._to_model_layout(
                keypoints, scores, layout, video_name if skeleton is None else _skeleton_name(skeleton))
            if skeleton is not None:  # a skeleton file must cover the video frame by frame
                keypoints, scores = match_frames(
                    keypoints, scores, total, skeleton=_skeleton_name(skeleton), video=video_name,
                    resample=resample_skeleton,
                )
            evidence = pose_evidence(keypoints, scores, (reader.source_height, reader.source_width),
                                     source="estimated" if skeleton is None else "given")
            require_evidence(evidence, pose_only=not self.uses_video, video_name=video_name)
        # the model's own input path (a pose-only model sees whole frames, no crop, as in training), on the reader
        # opened above: the video is probed once per prediction
        if len(windows) > 1:
            prediction = self._predict_windows(windows, keypoints, scores, pose_reader, source, video_name, total,
                                               top_k, timings, t0, explain)
            prediction.evidence = evidence
            return prediction
        clip = load_clip(
            reader, self.data_cfg, keypoints=keypoints, scores=scores, need_video=self.uses_video,
            need_pose=want_pose, return_frames=self.uses_video,
        )
        meta = clip["meta"]
        frame_inds = np.asarray(meta["frame_inds"][0] if np.ndim(meta["frame_inds"]) == 2 else meta["frame_inds"])
        if self.uses_video:
            shown = meta["frames"]
        else:  # a pose-only model decodes no frames: show the sampled ones at the pose estimator's size
            shown = (pose_reader or open_video(source, name=video_name, short_side=POSE_SHORT_SIDE)).get_frames(
                np.minimum(frame_inds, total - 1))
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
            if self.data_cfg.pose_norm == "person" and not self.uses_video:
                pose_out = frame_pose(keypoints, scores, frame_inds, reader)
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
            evidence=evidence,
            layout=self.data_cfg.layout,
        )

    def _predict_windows(self, windows, keypoints, scores, pose_reader, source, video_name, total, top_k, timings,
                         t0, explain: bool = False) -> Prediction:
        """A pose-only model on several windows of a long video: mean of the windows' probabilities; the frames and
        pose shown are those of the window most sure of the winning class."""
        from deformer3d.data import load_clip, open_video

        clips = [load_clip(video_name, self.data_cfg, keypoints=keypoints[:, s : s + n], scores=scores[:, s : s + n],
                           need_video=False, need_pose=True) for s, n in windows]
        timings["decode"] = time.perf_counter() - t0 - timings.get("pose", 0.0)
        t_model = time.perf_counter()
        pose = torch.stack([c["pose"] for c in clips]).to(self.device)
        with torch.inference_mode():
            window_probs = torch.softmax(self.model(pose=pose).logits.float(), dim=-1).cpu()  # (W, K)
        # a window where nobody was seen (a title card, the person out of frame) says nothing about the action
        seen = torch.tensor([presence(c["pose"][..., 2].numpy()) for c in clips])  # pose (T, R, 3)
        use = seen >= MIN_WINDOW_PRESENCE if bool((seen >= MIN_WINDOW_PRESENCE).any()) else seen >= 0
        probs = window_probs[use].mean(0)
        timings["model"] = time.perf_counter() - t_model
        best = torch.topk(probs, min(top_k, len(self.labels)))
        shown_w = int((window_probs[:, best.indices[0]] * use).argmax())
        explanations = None
        if explain:  # where the model looked, in the window that is shown
            with torch.inference_mode():
                explanations = _to_numpy(self.model(pose=pose[shown_w : shown_w + 1], return_explanations=True).explanations)
        start = windows[shown_w][0]
        frame_inds = start + np.asarray(clips[shown_w]["meta"]["frame_inds"][0])
        reader = pose_reader or open_video(source, name=video_name, short_side=POSE_SHORT_SIDE)
        v = keypoints.shape[2]
        return Prediction(
            top_k=[(self.labels[i], float(p)) for p, i in zip(best.values.tolist(), best.indices.tolist(), strict=True)],
            frames=np.asarray(reader.get_frames(np.minimum(frame_inds, total - 1))),
            frame_inds=frame_inds,
            pose=(frame_pose(keypoints, scores, frame_inds, reader) if self.data_cfg.pose_norm == "person"
                  else clips[shown_w]["pose"].numpy().reshape(len(frame_inds), -1, v, 3)),
            explanations=explanations,
            model_name=self.model_name,
            video_name=video_name,
            total_frames=int(total),
            timings=timings,
            windows=[{"start_frame": int(s), "frames": int(n), "person_seen": round(float(f), 3), "used": bool(u),
                      "top": self.labels[int(p.argmax())], "probability": round(float(p.max()), 4)}
                     for (s, n), p, f, u in zip(windows, window_probs, seen, use, strict=True)],
            layout=self.data_cfg.layout,
        )

    # ---- skeletons ------------------------------------------------------------------------------------------
    def _estimate_windows(self, reader, windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Pose on each window's frames, in video mode (a fresh track per window: ~30% faster than detecting in
        every frame, and steadier), linearly interpolated over the whole video like :meth:`_estimate_pose`."""
        from deformer3d.pose import build_pose_estimator

        if self._tracker is None:
            self._tracker = build_pose_estimator(self.pose_backend, static_image_mode=False)
        try:
            parts = [self._tracker.estimate(reader.get_frames(frames)) for frames in windows]
        except FrameCountError:  # the index over-announced: fall back to key frames over what decodes
            return self._estimate_pose(reader)
        keys, first = np.unique(np.concatenate(windows), return_index=True)  # overlapping windows: first estimate
        kp = np.concatenate([k for k, _ in parts], axis=1)[:, first]
        sc = np.concatenate([s for _, s in parts], axis=1)[:, first]
        return interpolate_keyframes(reader.to_source_pixels(kp), sc, keys, reader.num_frames)

    def _estimate_pose(self, reader) -> tuple[np.ndarray, np.ndarray]:
        """Pose of the whole video from a few evenly spaced key frames (``max(MIN_POSE_FRAMES, 2 x num_frames)``),
        linearly interpolated in between: the test sampler looks at ``num_frames`` evenly spaced frames, and the
        estimator costs ~80 ms a frame on a CPU."""
        from deformer3d.pose import build_pose_estimator

        if self._estimator is None:
            # still-image mode: key frames far apart are independent detections, not a track
            self._estimator = build_pose_estimator(self.pose_backend, static_image_mode=True)

        def key_frames() -> tuple[np.ndarray, np.ndarray, int]:
            total = reader.num_frames
            n_keys = min(total, max(MIN_POSE_FRAMES, 2 * self.data_cfg.num_frames))
            keys = np.unique(np.linspace(0, total - 1, n_keys).round().astype(int))
            return reader.get_frames(keys), keys, total

        # the index may over-announce; then the reader recounts by decoding and the key frames are picked again
        frames, keys, total = again_after_recount(key_frames)
        kp, sc = self._estimator.estimate(frames)
        # keypoints in the pixels of the full-size upright video, like a skeleton file's
        return interpolate_keyframes(reader.to_source_pixels(kp), sc, keys, total)

    def _to_model_layout(self, keypoints, scores, layout: str | None, video_name: str):
        """Poses in ``layout`` (the estimator's; None = the layout their joint count names) -> the model's
        ``data.layout``: ``(keypoints (M, T, V, 2), scores (M, T, V))``."""
        from deformer3d.data.skeleton import convert_layout, get_layout, layout_of

        want = self.data_cfg.layout
        joints = np.shape(keypoints)[-2]
        if joints == get_layout(want).num_joints:
            return keypoints, scores
        have = layout or layout_of(joints)
        if have is None:
            from deformer3d.data.skeleton import LAYOUTS

            raise DataFormatError(
                f"{video_name}: the skeleton has {joints} joints per person, which is no known layout "
                f"({', '.join(f'{n} = {lay.num_joints}' for n, lay in LAYOUTS.items())}); the model reads "
                f"{want} ({get_layout(want).num_joints} joints)"
            )
        scores = np.ones(np.shape(keypoints)[:-1], np.float32) if scores is None else scores
        try:
            return convert_layout(keypoints, scores, have, want)
        except DataFormatError as exc:
            raise DataFormatError(f"{video_name}: {exc}") from None

    def _read_skeleton(self, skeleton, video_name: str) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(skeleton, tuple):
            from deformer3d.data.formats import pose_arrays

            return pose_arrays(skeleton[0], skeleton[1], _skeleton_name(skeleton))
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
        for estimator in (self._estimator, self._tracker):
            if estimator is not None:
                estimator.close()
        self._estimator = self._tracker = None


def check_output_file(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written as a file, before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name, e.g. {path / 'explanation.png'}")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {path.parent} does not exist")


def _skeleton_name(skeleton) -> str:
    return "the given skeleton arrays" if isinstance(skeleton, tuple) else str(skeleton)


def frame_pose(keypoints: np.ndarray, scores: np.ndarray, frame_inds: np.ndarray, reader) -> np.ndarray:
    """The pose to draw over whole frames: ``(T, M, V, 3)`` (x, y in [0, 1] of the frame, score) at ``frame_inds``
    (a person-normalised model's input is in the person's units, which do not line up with the picture)."""
    t = np.minimum(frame_inds, keypoints.shape[1] - 1)
    size = np.array([reader.source_width, reader.source_height], np.float32)
    uv = (keypoints[:, t] + 0.5) / size  # pixel centres, as keypoints_to_box maps them
    pose = np.concatenate([uv, scores[:, t, :, None]], axis=-1).astype(np.float32)
    return np.where(pose[..., 2:] > 0, pose, 0.0).transpose(1, 0, 2, 3)


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
    explain: Path | None = None, runtime: str = "torch", resample_skeleton: bool = False,
) -> Prediction:
    """``deformer3d predict``: a rich table (or JSON on stdout), and the explanation figure with ``--explain``.
    Warnings (e.g. no person found) go to stderr and into the JSON."""
    from rich.console import Console
    from rich.table import Table

    if not Path(video).exists():
        raise VideoError(f"{video}: file not found")
    if explain is not None:
        check_output_file(explain, "--explain")
    predictor = Predictor(model_dir, runtime=runtime)
    try:
        result = predictor.predict(video, skeleton=skeleton, top_k=top_k, explain=explain is not None,
                                   resample_skeleton=resample_skeleton)
    finally:
        predictor.close()
    for warning in result.warnings:
        from rich.markup import escape

        Console(stderr=True).print(f"[bold yellow]warning:[/] {escape(f'{video}: {warning}')}")
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
    frames = f"frames {list(map(int, result.frame_inds))} of {result.total_frames}"
    if result.windows:  # a long video: the probabilities are the mean over windows; the frames are one window's
        used = [w for w in result.windows if w["used"]]
        frames = (f"mean of {len(used)} of {len(result.windows)} windows ({result.windows[0]['frames']} video frames "
                  f"each; windows without a person left out); shown: the surest window, {frames}")
    console.print(f"{frames}; " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items()))
    if explain is not None:
        console.print(f"explanation figure: {explain}")
    return result
