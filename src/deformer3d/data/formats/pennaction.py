"""Penn Action: one MATLAB ``.mat`` per video (``labels/0001.mat`` ...), 13 joints, official train/test flag.

Keys: ``action`` (class name), ``x`` / ``y`` (nframes x 13 pixels), ``visibility`` (nframes x 13, used as the joint
score), ``dimensions`` [H W nframes], ``nframes``, ``train`` (1 train, -1 test). Joint order = ``penn13`` layout.
Frames (when present) are JPEG folders ``frames/0001/000001.jpg`` under ``video_root`` (default ``root/frames``).

Dataset config: ``root`` = Penn Action folder, ``ann_file`` = label folder (default ``labels``), ``layout: penn13``;
splits ``train`` / ``test``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from deformer3d.data.formats import SampleRecord, SplitData, class_names_from, pose_arrays
from deformer3d.errors import DataFormatError

NUM_JOINTS = 13


def _scalar(v):
    return np.asarray(v).reshape(-1)[0]


def read_mat(path: str | Path) -> dict:
    """One Penn Action annotation -> dict(id, action, keypoints (1, T, 13, 2), scores (1, T, 13), img_shape, train)."""
    path = Path(path)
    try:
        m = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for bad files
        raise DataFormatError(f"{path}: not a readable MATLAB file ({exc})") from None
    try:
        x = np.asarray(m["x"], np.float32)
        y = np.asarray(m["y"], np.float32)
        vis = np.asarray(m["visibility"], np.float32)
        action = str(_scalar(m["action"]))
        dims = np.asarray(m["dimensions"], np.float64).reshape(-1)
        train = int(_scalar(m["train"]))
    except KeyError as exc:
        raise DataFormatError(f"{path}: missing key {exc} (not a Penn Action label file)") from None
    except (TypeError, ValueError, IndexError) as exc:
        raise DataFormatError(f"{path}: x / y / visibility / action / train are not Penn Action values ({exc})") from None
    if x.shape != y.shape or x.ndim != 2 or x.shape[1] != NUM_JOINTS:
        raise DataFormatError(f"{path}: x/y have shapes {x.shape}/{y.shape}, expected (nframes, 13)")
    if vis.shape != x.shape:
        raise DataFormatError(f"{path}: visibility has shape {vis.shape} but x/y have {x.shape}; one per joint and frame")
    if dims.size < 2 or not np.all(np.isfinite(dims[:2])) or min(dims[:2]) < 1:
        raise DataFormatError(f"{path}: dimensions {dims.tolist()} is not [height width nframes]")
    kp, sc = pose_arrays(np.stack([x, y], -1)[None], vis[None], str(path))  # (1, T, 13, 2), (1, T, 13)
    return {
        "id": path.stem,
        "action": action,
        "keypoints": kp,
        "scores": sc,
        "img_shape": (int(dims[0]), int(dims[1])),
        "train": train == 1,
    }


def read_all(label_dir: str | Path) -> list[dict]:
    label_dir = Path(label_dir)
    files = sorted(label_dir.glob("*.mat"))
    if not files:
        raise DataFormatError(f"{label_dir}: no .mat files (expected Penn Action labels/0001.mat ...)")
    return [read_mat(f) for f in files]


def load_split(cfg, split: str, *, need_pose: bool = True) -> SplitData:
    if split not in ("train", "test"):
        raise DataFormatError(f"Penn Action has splits 'train' and 'test', not '{split}' (see data.splits)")
    root = Path(cfg.root or ".")
    label_dir = root / (cfg.ann_file or "labels")
    anns = read_all(label_dir)
    classes = sorted({a["action"] for a in anns})
    frames_root = Path(cfg.video_root) if getattr(cfg, "video_root", "") else root / "frames"
    records = []
    for a in anns:
        if a["train"] != (split == "train"):
            continue
        frames = frames_root / a["id"]
        records.append(
            SampleRecord(
                id=a["id"],
                label=classes.index(a["action"]),
                video=frames if frames.is_dir() else None,
                keypoints=a["keypoints"],
                scores=a["scores"],
                total_frames=a["keypoints"].shape[1],
                img_shape=a["img_shape"],
            )
        )
    return SplitData(records, class_names_from(cfg, classes))
