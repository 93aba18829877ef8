"""NTU RGB+D 60 / 120: raw ``.skeleton`` files and the official protocols.

A ``.skeleton`` file (Kinect v2 text dump) is: frame count; per frame a body count; per body an info line
(body id, clipped edges, hand states, lean, tracking state), a joint count (25) and one line per joint with 12
fields ``x y z depthX depthY colorX colorY orientationW X Y Z trackingState``. ``colorX / colorY`` are pixels of the
1920x1080 RGB video, which is frame-aligned with the skeleton.

Bodies are tracked by id across frames; the main actor is the one with the most motion (``skeleton.motion_energy``),
all-zero or NaN joints count as missing. Samples without skeletons are listed officially
(``NTU_RGBD*_samples_with_missing_skeletons.txt``) and dropped.

Protocols (sample names ``SsssCcccPpppRrrrAaaa``: setup, camera, performer, replication, action): cross-subject
(``xsub``: training performers), cross-view (``xview``: cameras 2 and 3 train) and cross-setup (``xset``: even setups
train), evaluated on the usable-sample lists of CTR-GCN's statistics with the IDs of ``ntu_official_splits.json``.

Dataset config: ``root`` = folder of ``.skeleton`` files, ``ann_file`` = statistics folder (name / label / performer /
camera / setup lists + ``ntu_official_splits.json``), ``protocol`` = ``ntu60_xsub`` | ``ntu60_xview`` |
``ntu120_xsub`` | ``ntu120_xset``, optional ``video_root`` with ``<name>_rgb.avi``. Splits are ``train`` / ``test``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deformer3d.data.formats import SampleRecord, SplitData, class_names_from, read_lines
from deformer3d.data.skeleton import clean_keypoints, motion_energy
from deformer3d.errors import DataFormatError

NTU_IMG_SHAPE = (1080, 1920)
NUM_JOINTS = 25
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
PROTOCOLS = ("ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset")


@dataclass
class NTUBody:
    """One tracked body. ``frames (T,)`` bool: present in that frame; arrays over all T frames of the file."""

    body_id: str
    frames: np.ndarray
    joints3d: np.ndarray  # (T, 25, 3) metres (camera space)
    color2d: np.ndarray  # (T, 25, 2) pixels of the RGB video
    depth2d: np.ndarray  # (T, 25, 2) pixels of the depth map
    tracking: np.ndarray  # (T, 25) 0 untracked, 1 inferred, 2 tracked


@dataclass
class NTUSkeleton:
    path: Path
    num_frames: int
    bodies: list[NTUBody]


def parse_name(name: str) -> dict[str, int]:
    """``S001C002P003R002A013`` -> setup, camera, performer, replication, action (1-based, as written)."""
    m = _NAME.search(name)
    if not m:
        raise DataFormatError(f"'{name}' is not an NTU sample name (SsssCcccPpppRrrrAaaa)")
    s, c, p, r, a = (int(x) for x in m.groups())
    return {"setup": s, "camera": c, "performer": p, "replication": r, "action": a}


def read_skeleton(path: str | Path) -> NTUSkeleton:
    """Parse a raw ``.skeleton`` file; a truncated or malformed file raises :class:`DataFormatError` naming the
    frame and line."""
    path = Path(path)
    try:
        tokens = path.read_text(encoding="ascii", errors="replace").split("\n")
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc})") from None
    lines = [ln.strip() for ln in tokens]
    while lines and not lines[-1]:
        lines.pop()
    pos = 0

    def take(what: str, frame: int) -> str:
        nonlocal pos
        if pos >= len(lines):
            raise DataFormatError(
                f"{path}: file ends early in frame {frame + 1} while reading {what} (line {pos + 1}); "
                "the skeleton file is truncated: re-extract it or list it as missing"
            )
        pos += 1
        return lines[pos - 1]

    try:
        num_frames = int(take("the frame count", -1))
    except ValueError:
        raise DataFormatError(f"{path}: first line is not a frame count; not an NTU .skeleton file") from None
    if num_frames < 1:
        raise DataFormatError(
            f"{path}: the frame count on the first line is {num_frames}; an NTU .skeleton file has at least one frame"
        )
    per_body: dict[str, dict] = {}
    for f in range(num_frames):
        try:
            n_bodies = int(take("the body count", f))
            if n_bodies < 0:
                raise ValueError(f"body count {n_bodies}")
            for _ in range(n_bodies):
                info = take("a body info line", f).split()
                body_id = info[0]
                n_joints = int(take("the joint count", f))
                rows = [take(f"joint {j + 1} of body {body_id}", f).split() for j in range(n_joints)]
                arr = np.array(rows, dtype=np.float64)
                if arr.shape != (n_joints, 12):
                    raise ValueError(
                        f"joint lines have {arr.shape[-1] if arr.ndim == 2 else '?'} fields, expected 12"
                    )
                if n_joints != NUM_JOINTS:
                    raise ValueError(f"{n_joints} joints, expected {NUM_JOINTS}")
                body = per_body.setdefault(body_id, {"frames": {}})
                body["frames"][f] = arr
        except (ValueError, IndexError) as exc:  # IndexError: an empty body info line
            raise DataFormatError(f"{path}: malformed frame {f + 1} near line {pos} ({exc})") from None
    bodies = []
    for body_id, b in per_body.items():
        frames = np.zeros(num_frames, bool)
        data = np.zeros((num_frames, NUM_JOINTS, 12))
        for f, arr in b["frames"].items():
            frames[f] = True
            data[f] = arr
        bodies.append(
            NTUBody(
                body_id,
                frames,
                data[..., 0:3],
                data[..., 5:7],
                data[..., 3:5],
                data[..., 11].astype(np.int64),
            )
        )
    return NTUSkeleton(path, num_frames, bodies)


def skeleton_to_2d(skel: NTUSkeleton, max_bodies: int | None = None):
    """``(keypoints (M, T, 25, 2), scores (M, T, 25))`` in RGB pixels, main actor first (most motion).

    Score = tracking state / 2 (tracked 1.0, inferred 0.5, untracked 0); frames where a body is absent, and joints
    that are NaN or exactly (0, 0), are missing (score 0)."""
    if not skel.bodies:
        t = skel.num_frames
        return np.zeros((0, t, NUM_JOINTS, 2), np.float32), np.zeros((0, t, NUM_JOINTS), np.float32)
    kp = np.stack([b.color2d for b in skel.bodies]).astype(np.float32)
    sc = np.stack([np.where(b.frames[:, None], b.tracking / 2.0, 0.0) for b in skel.bodies]).astype(
        np.float32
    )
    kp, sc = clean_keypoints(kp, sc)
    order = np.argsort(-motion_energy(kp, sc), kind="stable")
    if max_bodies is not None:
        order = order[:max_bodies]
    return kp[order], sc[order]


def read_skeleton_2d(path: str | Path):
    """``(keypoints (M, T, 25, 2), scores (M, T, 25), img_shape (1080, 1920))`` of a ``.skeleton`` file."""
    kp, sc = skeleton_to_2d(read_skeleton(path))
    if kp.shape[0] == 0:
        raise DataFormatError(f"{path}: no body in any frame (an official 'missing skeleton' sample?)")
    return kp, sc, NTU_IMG_SHAPE


# --------------------------------------------------------------------------- protocols
def read_missing_list(path: str | Path) -> set[str]:
    """Sample names of an official missing-skeleton list (header lines are skipped)."""
    return {ln for ln in read_lines(Path(path)) if _NAME.fullmatch(ln)}


def _stats_file(stats_dir: Path, dataset: str, name: str) -> Path:
    for cand in (stats_dir / f"ctrgcn_{dataset}_{name}.txt", stats_dir / f"{name}.txt"):
        if cand.is_file():
            return cand
    raise DataFormatError(
        f"{stats_dir}: no '{name}' list for {dataset} (expected ctrgcn_{dataset}_{name}.txt or {name}.txt from "
        "CTR-GCN's data/ntu*/statistics)"
    )


def protocol_split(stats_dir: str | Path, protocol: str) -> dict[str, list[tuple[str, int]]]:
    """``{"train": [(name, label0), ...], "test": [...]}`` for ``protocol`` (e.g. ``ntu60_xsub``); label0 is 0-based."""
    if protocol not in PROTOCOLS:
        raise DataFormatError(f"unknown NTU protocol '{protocol}' (valid: {', '.join(PROTOCOLS)})")
    stats_dir = Path(stats_dir)
    dataset, bench = protocol.split("_")
    names = read_lines(_stats_file(stats_dir, dataset, "skes_available_name"))
    labels = [int(x) for x in read_lines(_stats_file(stats_dir, dataset, "label"))]
    if len(labels) != len(names):
        raise DataFormatError(f"{stats_dir}: {len(names)} names but {len(labels)} labels for {dataset}")
    ids_file = stats_dir / "ntu_official_splits.json"
    if not ids_file.is_file():
        raise DataFormatError(
            f"{ids_file}: missing (training subjects / cameras / setups of the NTU protocols)"
        )
    ids = json.loads(ids_file.read_text())
    key, field = {
        "xsub": (f"{dataset}_xsub_train_subjects", "performer"),
        "xview": (f"{dataset}_xview_train_cameras", "camera"),
        "xset": (f"{dataset}_xset_train_setups", "setup"),
    }[bench]
    if key not in ids:
        raise DataFormatError(f"{ids_file}: no '{key}' (protocol {protocol} is not defined for {dataset})")
    train_ids = set(ids[key])
    values = [int(x) for x in read_lines(_stats_file(stats_dir, dataset, field))]
    out: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    for name, label, v in zip(names, labels, values, strict=True):
        out["train" if v in train_ids else "test"].append((name, label - 1))
    return out


def load_split(cfg, split: str, *, need_pose: bool = True) -> SplitData:
    """Records of ``split`` (``train`` / ``test``) under ``cfg.protocol``; see the module docstring."""
    protocol = getattr(cfg, "protocol", "") or "ntu60_xsub"
    root = Path(cfg.root or ".")
    stats = Path(cfg.ann_file) if cfg.ann_file else root
    if not stats.is_absolute() and cfg.ann_file:
        stats = root / cfg.ann_file
    splits = protocol_split(stats, protocol)
    if split not in splits:
        raise DataFormatError(
            f"NTU protocol {protocol} has splits 'train' and 'test', not '{split}' (see data.splits)"
        )
    video_root = Path(cfg.video_root) if getattr(cfg, "video_root", "") else None
    records = []
    for name, label in splits[split]:
        skel = root / f"{name}.skeleton"
        video = None
        if video_root is not None:
            for cand in (
                video_root / f"{name}_rgb.avi",
                video_root / f"{name}.avi",
                video_root / f"{name}.mp4",
            ):
                if cand.is_file():
                    video = cand
                    break
        records.append(
            SampleRecord(
                id=name,
                label=label,
                video=video,
                pose_file=skel if skel.is_file() else None,
                img_shape=NTU_IMG_SHAPE,
                fps=30.0,
                extra=parse_name(name),
            )
        )
    k = 60 if protocol.startswith("ntu60") else 120
    return SplitData(records, class_names_from(cfg, [f"A{i + 1:03d}" for i in range(k)]))
