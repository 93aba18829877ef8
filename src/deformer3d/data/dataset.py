"""ActionDataset: one pipeline from any source to model-ready tensors.

    ds = build_dataset(cfg.data, "train", need_video=True, need_pose=True)
    sample = ds[0]   # {"video": (3, T, S, S), "pose": (T, M*V, 3), "label": int64, "index": int}

Steps per sample: sample frame indices (``sampling.make_plans``: sampler + short-video chain) -> decode only those
frames -> pick persons (main actor first, padded to ``max_persons``) -> one crop box per view (random resized crop
+ flip when training; centre or three crops when testing) applied to frames and keypoints together -> ImageNet
normalisation. Views: ``num_clips x num_crops`` (clip-major) stack on a leading axis when there is more than one.

:func:`load_clip` runs the same pipeline on one video (path, bytes or frame folder) for prediction and the web page,
so training and inference preprocess identically. :meth:`ActionDataset.raw` gives the raw sample dict of
CONTRACTS.md (frames in source pixels) for inspection and validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from deformer3d.config import DataConfig
from deformer3d.data.cache import open_frames
from deformer3d.data.formats import SampleRecord, get_format, load_pose_file
from deformer3d.data.pose_checks import match_frames
from deformer3d.data.pose_transforms import (
    SkeletonAugment,
    augment_skeleton,
    crop_box_around,
    name_sides_by_image,
    person_box,
    person_coordinates_in,
    temporal_crop,
)
from deformer3d.data.sampling import FramePlan, back_and_forth, make_plans
from deformer3d.data.skeleton import Layout, clean_keypoints, get_layout, select_persons
from deformer3d.data.transforms import (
    Box,
    center_box,
    crop_resize,
    full_box,
    hflip_keypoints,
    hflip_video,
    keypoints_to_box,
    normalize_video,
    pose_tensor,
    random_resized_box,
    three_crop_boxes,
    to_uint8_frames,
)
from deformer3d.data.video import FrameCountError, VideoReader, open_video
from deformer3d.errors import DataFormatError

STAGES = ("train", "val", "test")


@dataclass
class ClipSpec:
    """How to cut clips: what the config says, plus the per-call view counts and training flag."""

    num_frames: int
    num_clips: int
    num_crops: int
    train: bool
    need_video: bool
    need_pose: bool
    hflip: bool  # flipping allowed (config and dataset agree)
    flip_views: bool = False  # testing: every view also mirrored (test-time flip averaging)


# --------------------------------------------------------------------------- the shared pipeline
def _pose_arrays(keypoints, scores, cfg: DataConfig, layout: Layout, source: str):
    kp, sc = clean_keypoints(keypoints, scores if scores is not None else np.ones(np.shape(keypoints)[:3]))
    if kp.ndim != 4 or kp.shape[-1] != 2:
        raise DataFormatError(f"{source}: keypoints have shape {kp.shape}, expected (M, T, V, 2)")
    if kp.shape[2] != layout.num_joints:
        raise DataFormatError(
            f"{source}: keypoints have {kp.shape[2]} joints but data.layout='{layout.name}' has {layout.num_joints}; "
            "set data.layout to the skeleton's layout (coco17 | ntu25 | penn13 | mediapipe33)"
        )
    return select_persons(kp, sc, cfg.max_persons)


def uses_person_crop(cfg: DataConfig, has_pose: bool) -> bool:
    """Whether RGB crops follow the person (``data.person_crop``; ``auto`` = whenever there is a skeleton)."""
    return cfg.person_crop == "on" or (cfg.person_crop == "auto" and has_pose)


def _view_boxes(
    spec: ClipSpec, cfg: DataConfig, hw: tuple[int, int], rng: np.random.Generator, person: Box | None = None
) -> list[Box]:
    """One box per crop for one clip; ``person`` = the person-centric crop (integer square inside the frame)."""
    h, w = hw
    if not spec.need_video:
        return [full_box(h, w)] * spec.num_crops  # pose-only: keep the whole frame, no joint cut off
    if person is not None:
        if not spec.train:
            return [person] * spec.num_crops
        # the random resized crop of training, taken inside the person's box instead of the whole frame
        x0, y0, side, _ = person
        scale = tuple(cfg.random_crop_scale) if cfg.random_crop_scale else (1.0, 1.0)
        boxes = [random_resized_box(side, side, scale, rng) for _ in range(spec.num_crops)]
        return [(x0 + bx, y0 + by, bw, bh) for bx, by, bw, bh in boxes]
    if spec.train:
        scale = tuple(cfg.random_crop_scale) if cfg.random_crop_scale else (1.0, 1.0)
        return [random_resized_box(h, w, scale, rng) for _ in range(spec.num_crops)]
    if spec.num_crops == 1:
        return [center_box(h, w, cfg.resize_short, cfg.image_size)]
    if spec.num_crops == 3:
        return three_crop_boxes(h, w, cfg.resize_short, cfg.image_size)
    raise DataFormatError(
        f"num_crops={spec.num_crops}: test-time crops must be 1 (centre) or 3 (left/centre/right)"
    )


def build_views(
    get_frames,
    total: int,
    hw: tuple[int, int],
    keypoints: np.ndarray | None,
    scores: np.ndarray | None,
    cfg: DataConfig,
    spec: ClipSpec,
    layout: Layout,
    rng: np.random.Generator,
    keep_frames: bool = False,
    label: str | None = None,
) -> tuple[dict, dict]:
    """Sample, decode, crop and normalise -> (model-ready tensors, meta). ``label``: the sample's class name, for
    the class-specific skeleton augmentation (``data.pose_augment.incline``).

    ``get_frames(indices) -> (N, H, W, 3)`` uint8; ``keypoints (M, T_k, V, 2)`` pixels over the video's frames
    (callers pair skeleton and video with ``pose_checks.match_frames``; pose-only sources: T_k = ``total``)."""
    phase = None  # (total,) the source frame of each frame of the clip when it starts mid-repetition
    if spec.train and label in cfg.repeated_classes and cfg.phase_shift > 0 and rng.random() < cfg.phase_shift:
        phase = back_and_forth(total, rng.random())
    start, span = 0, total
    if spec.train and tuple(cfg.temporal_crop) != (1.0, 1.0):
        start, span = temporal_crop(total, tuple(cfg.temporal_crop), rng)
    plans: list[FramePlan] = make_plans(
        span,
        spec.num_frames,
        sampler=cfg.sampler if spec.train else cfg.test_sampler,
        interval=cfg.frame_interval,
        num_clips=spec.num_clips,
        train=spec.train,
        pad_short=cfg.pad_short,
        augment_before_sampling=cfg.augment_before_sampling,
        rng=rng,
    )
    if start:
        plans = [FramePlan(p.sources + start, p.weights, p.gain) for p in plans]
    if phase is not None:
        plans = [FramePlan(phase[p.sources], p.weights, p.gain) for p in plans]
    person = None  # person-centric: the pose's unit square, and / or the RGB crop
    if spec.need_pose:
        if cfg.joint_scores == "present":
            scores = np.repeat((scores > 0).any(-1, keepdims=True), scores.shape[-1], -1).astype(np.float32)
        if cfg.side_names == "image":
            keypoints, scores = name_sides_by_image(keypoints, scores, layout.flip_index, torso_pairs(layout))
        if cfg.pose_norm == "person":
            person = person_box(keypoints, scores, extent="median")
    crop = None
    if spec.need_video and keypoints is not None and uses_person_crop(cfg, True):
        union = person_box(keypoints, scores, extent="union", margin=cfg.person_crop_margin)
        # never tighter than the model's input: a lone visible joint must not zoom into a few pixels
        crop = crop_box_around(union, *hw, min_side=cfg.image_size) if union is not None else None
    augment = _skeleton_augment(cfg, label) if spec.train and cfg.pose_norm == "person" else None
    frames_all = ids = None
    if spec.need_video:
        ids = np.unique(np.concatenate([p.needed() for p in plans]))
        frames_all = get_frames(ids)
    videos, poses, shown = [], [], []
    for plan in plans:
        clip = plan.apply(frames_all, ids) if spec.need_video else None
        if spec.need_pose:
            t_k = keypoints.shape[1]
            clamped = FramePlan(np.minimum(plan.sources, t_k - 1), plan.weights, plan.gain)
            kp, sc = clamped.apply_keypoints(keypoints, scores)
        boxes = _view_boxes(spec, cfg, hw, rng, crop)
        flips = [False, True] if spec.flip_views else [False]
        for box, mirror in [(b, f) for b in boxes for f in flips]:
            flip = mirror or (spec.train and spec.hflip and cfg.flip and rng.random() < 0.5)
            if spec.need_video:
                v = crop_resize(clip, box, cfg.image_size)
                if flip:
                    v = hflip_video(v)
                if keep_frames:
                    shown.append(to_uint8_frames(v))
                videos.append(normalize_video(v))
            if spec.need_pose:
                if cfg.pose_norm == "person":
                    uv, s = person_coordinates_in(kp, sc, person)
                    if augment is not None:
                        uv, s = augment_skeleton(uv, s, augment, rng, width_pairs(layout), layout.flip_index)
                else:
                    uv, s = keypoints_to_box(kp, sc, box)
                if flip:
                    uv, s = hflip_keypoints(uv, s, layout)
                poses.append(pose_tensor(uv, s))
    out: dict = {}
    if spec.need_video:
        out["video"] = videos[0] if len(videos) == 1 else torch.stack(videos)
    if spec.need_pose:
        out["pose"] = poses[0] if len(poses) == 1 else torch.stack(poses)
    meta = {"frame_inds": [p.primary.tolist() for p in plans], "total_frames": total, "img_shape": hw}
    if keep_frames:
        meta["frames"] = shown[0] if len(shown) == 1 else np.stack(shown)
    return out, meta


def width_pairs(layout: Layout) -> dict[str, tuple[int, int]]:
    """(left, right) hip and shoulder joints of a layout, for :func:`augment_skeleton`'s width changes."""
    return {part: (layout.index(f"left_{part}"), layout.index(f"right_{part}")) for part in ("hip", "shoulder")
            if f"left_{part}" in layout.joints and f"right_{part}" in layout.joints}


def torso_pairs(layout: Layout) -> list[tuple[int, int]]:
    """(left, right) shoulder and hip joints of a layout, the torso that votes in :func:`name_sides_by_image`."""
    return list(width_pairs(layout).values())


def _skeleton_augment(cfg: DataConfig, label: str | None = None) -> SkeletonAugment | None:
    a = cfg.pose_augment
    rotate = max(a.rotate, a.incline.get(label, 0.0)) if label is not None else a.rotate
    aug = SkeletonAugment(rotate, tuple(a.scale), a.shear, a.translate, a.jitter, a.drop_joints,
                          tuple(a.hip_width), tuple(a.shoulder_width), a.swap_sides)
    return None if aug == SkeletonAugment() else aug


PERSON_CROP_ZOOM = 3  # person crops keep full detail for a person spanning a third of the frame's short side


def decode_short_side(cfg: DataConfig, train: bool, person_crop: bool = False) -> int:
    """The short side frames are decoded at: what the crops need, so memory follows the model, not the file.

    Testing: ``max(resize_short, image_size)`` (the centre / three crops are then exactly ``image_size``).
    Training: enough that the smallest random crop (area ``random_crop_scale[0]``, aspect up to 4:3) still has
    ``image_size`` pixels on its short side. Crops that follow the person: :data:`PERSON_CROP_ZOOM` x
    ``image_size``."""
    short = max(cfg.resize_short, cfg.image_size)
    if train and cfg.random_crop_scale:
        smallest = max(min(float(cfg.random_crop_scale[0]), 1.0), 1e-3)
        short = max(short, math.ceil(cfg.image_size * math.sqrt(4 / 3 / smallest)))
    if person_crop:
        short = max(short, PERSON_CROP_ZOOM * cfg.image_size)
    return short


def _decode_with_recount(reader: VideoReader, run):
    """Run ``run(total)``; if the file turns out truncated, recount its frames by decoding and run once more."""
    try:
        return run(reader.num_frames)
    except FrameCountError:
        return run(reader.recount())


# --------------------------------------------------------------------------- dataset
class ActionDataset(Dataset):
    """Model-ready samples from :class:`SampleRecord` s. See the module docstring."""

    def __init__(
        self,
        records: list[SampleRecord],
        class_names: list[str],
        cfg: DataConfig,
        *,
        stage: str = "train",
        need_video: bool = True,
        need_pose: bool = True,
        num_clips: int = 1,
        num_crops: int = 1,
        num_frames: int | None = None,
        hflip: bool = True,
        flip_views: bool = False,
    ):
        if not need_video and not need_pose:
            raise ValueError("need_video and need_pose cannot both be False")
        self.records = records
        self.class_names = list(class_names)
        self.cfg = cfg
        self.stage = stage
        self.layout = get_layout(cfg.layout)
        self.spec = ClipSpec(
            num_frames=num_frames or cfg.num_frames,
            num_clips=num_clips,
            num_crops=num_crops,
            train=stage == "train",
            need_video=need_video,
            need_pose=need_pose,
            hflip=hflip,
            flip_views=flip_views and hflip and cfg.flip and stage != "train",
        )
        bad = [r for r in records if not 0 <= r.label < len(self.class_names)]
        if bad:
            raise DataFormatError(
                f"sample '{bad[0].id}' has label {bad[0].label} outside 0..{len(self.class_names) - 1} "
                f"({len(bad)} such samples); check data.class_names / data.num_classes"
            )
        for field_name, names in (("data.pose_augment.incline", cfg.pose_augment.incline),
                                  ("data.repeated_classes", cfg.repeated_classes)):
            unknown = sorted(set(names) - set(self.class_names))
            if unknown:
                raise DataFormatError(
                    f"{field_name} names {unknown}, which are not classes of this dataset "
                    f"({', '.join(self.class_names)}); use the class names exactly"
                )
        if need_video:
            missing = [r.id for r in records if r.video is None]
            if missing:
                raise DataFormatError(
                    f"{len(missing)} samples have no video (first: '{missing[0]}') under data.root='{cfg.root}'; "
                    "fix the paths, or train a pose-only model (model.modality=pose)"
                )
        if need_pose:
            missing = [r.id for r in records if not r.has_pose]
            if missing:
                raise DataFormatError(
                    f"{len(missing)} samples have no skeleton (first: '{missing[0]}'); extract poses first "
                    "(deformer3d extract-poses) or train an RGB-only model (model.modality=rgb)"
                )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    def _rng(self, index: int) -> np.random.Generator:
        if self.spec.train:
            # torch's RNG is seeded per worker and per epoch by the DataLoader: draws differ across epochs/workers
            return np.random.default_rng([int(torch.randint(0, 2**31 - 1, ()).item()), index])
        return np.random.default_rng(index)  # evaluation is deterministic

    def _pose(self, rec: SampleRecord):
        if rec.keypoints is not None:
            return rec.keypoints, rec.scores, rec.img_shape
        if rec.pose_file is not None:
            return load_pose_file(rec.pose_file, self.cfg.layout)
        return None, None, rec.img_shape

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        sample, _ = self._load(rec, self._rng(index), self.spec, keep_frames=False)
        sample["label"] = torch.tensor(rec.label, dtype=torch.int64)
        sample["index"] = index
        return sample

    def _load(self, rec: SampleRecord, rng, spec: ClipSpec, keep_frames: bool):
        kp = sc = None
        kp_raw, sc_raw, pose_shape = self._pose(rec) if spec.need_pose else (None, None, rec.img_shape)
        if spec.need_pose:
            kp, sc = _pose_arrays(kp_raw, sc_raw, self.cfg, self.layout, _pose_source(rec))
        if spec.need_video:
            # pre-decoded frames (deformer3d cache) when data.cache_dir holds them: the same pixels, no decoding
            reader = open_frames(rec.video, decode_short_side(
                self.cfg, spec.train, person_crop=uses_person_crop(self.cfg, kp is not None)), self.cfg.cache_dir)
            kp_frames = reader.to_output_pixels(kp) if kp is not None else None  # onto the reduced frames

            def run(total):
                kp_t, sc_t = kp_frames, sc
                if kp_t is not None:  # frame t of the skeleton is frame t of the video: counts must agree
                    kp_t, sc_t = match_frames(kp_t, sc_t, total, skeleton=_pose_source(rec), video=str(rec.video))
                return build_views(
                    reader.get_frames, total, (reader.height, reader.width), kp_t, sc_t, self.cfg, spec,
                    self.layout, rng, keep_frames, self.class_names[rec.label],
                )  # fmt: skip

            return _decode_with_recount(reader, run)
        hw = rec.img_shape or pose_shape or _shape_from_keypoints(kp, sc)
        total = rec.total_frames or kp.shape[1]
        return build_views(None, total, hw, kp, sc, self.cfg, spec, self.layout, rng, keep_frames,
                           self.class_names[rec.label])

    def raw(self, index: int, frame_inds=None) -> dict:
        """The raw sample dict of CONTRACTS.md: ``frames (T, H, W, 3)`` uint8 or None, ``keypoints (M, T, V, 2)``
        pixels, ``scores (M, T, V)``, ``label``, ``meta`` (id, fps, total_frames, frame_inds, img_shape). Without
        ``frame_inds`` the test sampler picks them (no padding chain, no crop)."""
        rec = self.records[index]
        reader = open_video(rec.video) if rec.video is not None and self.spec.need_video else None
        kp, sc, pose_shape = self._pose(rec)
        if kp is not None:
            kp, sc = clean_keypoints(kp, sc)
        total = reader.num_frames if reader else (rec.total_frames or (kp.shape[1] if kp is not None else 0))
        if frame_inds is None:
            from deformer3d.data.sampling import sample_indices

            frame_inds = sample_indices(
                self.cfg.test_sampler, total, self.spec.num_frames, interval=self.cfg.frame_interval
            )[0]
        frame_inds = np.asarray(frame_inds, dtype=np.int64)
        frames = reader.get_frames(frame_inds) if reader else None
        if kp is not None:
            t_idx = np.minimum(frame_inds, kp.shape[1] - 1)
            kp, sc = kp[:, t_idx], sc[:, t_idx]
        hw = (reader.height, reader.width) if reader else (rec.img_shape or pose_shape)
        return {
            "frames": frames,
            "keypoints": kp,
            "scores": sc,
            "label": rec.label,
            "meta": {
                "id": rec.id,
                "fps": reader.fps if reader else rec.fps,
                "total_frames": total,
                "frame_inds": frame_inds,
                "img_shape": hw,
            },
        }


def _pose_source(rec: SampleRecord) -> str:
    """Where a record's skeleton comes from, for messages: its pose file, or the annotation file and sample."""
    if rec.pose_file is not None:
        return str(rec.pose_file)
    where = rec.extra.get("annotation")
    return f"{where} (sample '{rec.id}')" if where else f"sample '{rec.id}'"


def _shape_from_keypoints(kp: np.ndarray, sc: np.ndarray) -> tuple[int, int]:
    """Frame size when the annotation does not say: the extent of the valid joints (plus a pixel)."""
    valid = sc > 0
    if not valid.any():
        return (1, 1)
    pts = kp[valid]
    return (int(np.ceil(pts[:, 1].max())) + 1, int(np.ceil(pts[:, 0].max())) + 1)


def build_dataset(
    cfg: DataConfig,
    stage: str,
    *,
    need_video: bool,
    need_pose: bool,
    num_clips: int = 1,
    num_crops: int = 1,
    num_frames: int | None = None,
    flip_views: bool = False,
) -> ActionDataset:
    """The dataset of ``stage`` (train | val | test) for ``cfg.format``; see CONTRACTS.md "Data".

    ``flip_views``: every test view is also given mirrored (test-time flip averaging; only for datasets whose
    classes do not depend on the side)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got '{stage}'")
    split = cfg.splits.get(stage, stage) if cfg.splits else stage
    data = get_format(cfg.format)(cfg, split, need_pose=need_pose)
    names = data.class_names
    if cfg.num_classes and cfg.num_classes != len(names):
        if cfg.num_classes > len(names) and all(n.startswith("class_") for n in names):
            names = [f"class_{i}" for i in range(cfg.num_classes)]
        else:
            raise DataFormatError(
                f"data.num_classes={cfg.num_classes} but the annotation names {len(names)} classes; "
                "set data.num_classes=0 to infer it"
            )
    if not data.records:
        raise DataFormatError(f"split '{split}' of {cfg.format} dataset at '{cfg.root}' is empty")
    return ActionDataset(
        data.records,
        names,
        cfg,
        stage=stage,
        need_video=need_video,
        need_pose=need_pose,
        num_clips=num_clips,
        num_crops=num_crops,
        num_frames=num_frames,
        hflip=data.hflip,
        flip_views=flip_views,
    )


def load_clip(
    source: str | Path | bytes | VideoReader,
    cfg: DataConfig,
    *,
    keypoints: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    need_video: bool = True,
    need_pose: bool = True,
    num_clips: int = 1,
    num_crops: int = 1,
    num_frames: int | None = None,
    return_frames: bool = False,
) -> dict:
    """Model-ready dict for one video (file path, bytes, frame folder, or a reader already open on one: the
    predictor probes a video once), preprocessed exactly like test samples.

    ``keypoints (M, T, V, 2)`` in pixels of the video over all its frames (T = its frame count) and ``scores
    (M, T, V)`` are needed when ``need_pose``. Returns ``video`` / ``pose`` (with a leading view axis when
    ``num_clips * num_crops > 1``) and ``meta`` (frame_inds, total_frames, img_shape, and with ``return_frames``
    the cropped uint8 frames ``(T, S, S, 3)`` for display).
    """
    layout = get_layout(cfg.layout)
    spec = ClipSpec(num_frames or cfg.num_frames, num_clips, num_crops, False, need_video, need_pose, False)
    if isinstance(source, VideoReader):
        name = source.name
    else:
        name = "<uploaded video>" if isinstance(source, (bytes, bytearray)) else str(source)
    kp = sc = None
    if need_pose:
        if keypoints is None:
            raise DataFormatError(
                f"{name}: need_pose=True but no keypoints given; run a pose estimator first (deformer3d.pose) "
                "or pass need_pose=False for an RGB-only model"
            )
        kp, sc = _pose_arrays(
            np.asarray(keypoints), None if scores is None else np.asarray(scores), cfg, layout, name
        )
    rng = np.random.default_rng(0)
    if need_video:
        reader = source if isinstance(source, VideoReader) else open_video(
            source, short_side=decode_short_side(cfg, False, person_crop=uses_person_crop(cfg, kp is not None)))
        kp_frames = reader.to_output_pixels(kp) if kp is not None else None  # onto the reduced frames

        def run(total):
            return build_views(
                reader.get_frames,
                total,
                (reader.height, reader.width),
                kp_frames,
                sc,
                cfg,
                spec,
                layout,
                rng,
                return_frames,
            )

        out, meta = _decode_with_recount(reader, run)
        meta["fps"] = reader.fps
    else:
        hw = _shape_from_keypoints(kp, sc)
        out, meta = build_views(None, kp.shape[1], hw, kp, sc, cfg, spec, layout, rng, return_frames)
    out["meta"] = meta
    return out
