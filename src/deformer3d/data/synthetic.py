"""SynthActions: procedurally generated stick-figure actions with exact COCO-17 joints (the embedded dataset).

    write_synthactions("data/synth", num_clips=1000, seed=0, size=112, frame_range=(24, 64), workers=2)
    # -> data/synth/videos/clip_00000.mp4 ... + data/synth/synthactions.pkl (pyskl format, pixel keypoints)

Fourteen classes, built so that the modalities separate by accuracy:
- **time matters**: ``sit_down`` / ``stand_up`` are the same poses in opposite order; ``arm_circle_cw`` /
  ``arm_circle_ccw`` differ only in the direction of the circle (so horizontal flipping is not label-preserving:
  the pkl says ``hflip: False``);
- **RGB matters**: ``drink`` / ``phone_call`` and ``lift_box`` / ``lift_ball`` have identically distributed motion
  and differ only by the held object (colour and shape), which skeletons cannot see;
- **pose matters**: in some clips a distractor person performs another action; the annotation holds the actor's
  joints only, so an RGB-only model cannot tell which person to follow, while pose tells it.
Nuisances: position, scale, body proportions, speed, phase, clothing colours, cluttered backgrounds, camera shake,
keypoint noise and dropout (annotation only: frames are rendered from the exact joints), occluders, distractor.
``difficulty`` (0..2, default 1) scales the nuisances.

Deterministic: clip i is drawn from ``np.random.default_rng([seed, i])`` whatever the number of workers, and the pkl
is written with a fixed protocol and key order, so the same seed gives the same pkl bytes.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from deformer3d.errors import UserError

CLASSES = (
    "sit_down",
    "stand_up",
    "arm_circle_cw",
    "arm_circle_ccw",
    "drink",
    "phone_call",
    "lift_box",
    "lift_ball",
    "wave",
    "jumping_jack",
    "kick",
    "clap",
    "jump",
    "walk",
)
# The object each class holds (None = empty hands). Colours are reserved: clothes and clutter never use them.
OBJECTS = {"drink": "cup", "phone_call": "phone", "lift_box": "box", "lift_ball": "ball"}
OBJECT_COLOURS = {"cup": (255, 235, 0), "phone": (255, 0, 255), "box": (0, 235, 255), "ball": (255, 110, 0)}
FPS = 25
ANN_FILE = "synthactions.pkl"  # the pyskl annotation file of a SynthActions folder
VIDEO_DIR = "videos"  # its MP4 clips, named clip_00000.mp4, ...
PARAMS_FILE = "synthactions_params.json"  # the generator settings of a complete folder (see ensure_synthactions)

# COCO-17 joint indices
NOSE, LEYE, REYE, LEAR, REAR, LSH, RSH, LEL, REL, LWR, RWR, LHIP, RHIP, LKN, RKN, LAN, RAN = range(17)


# --------------------------------------------------------------------------- motion
def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _d(theta):
    """Unit vector at angle theta from 'straight down', increasing towards +x (image right). ``(..., 2)``"""
    return np.stack([np.sin(theta), np.cos(theta)], axis=-1)


@dataclass
class Body:
    height: float  # pixels, head top to feet
    torso: float
    neck: float
    head_r: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    shoulder_w: float
    hip_w: float

    @classmethod
    def sample(cls, height: float, rng: np.random.Generator, variation: float) -> Body:
        def f(base):
            return base * height * (1 + variation * rng.uniform(-1, 1))

        return cls(height, f(0.30), f(0.04), f(0.07), f(0.16), f(0.15), f(0.23), f(0.22), f(0.11), f(0.07))

    @property
    def leg(self) -> float:
        return self.thigh + self.shin


def _two_link(shoulder, target, l1, l2, bend_sign):
    """Elbow for a wrist at ``target`` (clamped to reach): ``(T, 2)`` each; bend_sign picks the elbow side."""
    v = target - shoulder
    dist = np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-6)
    reach = np.minimum(dist, (l1 + l2) * 0.999)
    target = shoulder + v / dist * reach
    a = (l1**2 - l2**2 + reach**2) / (2 * reach)
    h = np.sqrt(np.clip(l1**2 - a**2, 0, None))
    u = v / dist
    perp = np.stack([-u[..., 1], u[..., 0]], axis=-1) * bend_sign
    elbow = shoulder + u * a + perp * h
    return elbow, target


def _action_angles(action: str, tau: np.ndarray, rng: np.random.Generator):
    """Per-frame pose parameters for ``action`` at normalised times ``tau (T,)`` in [0, 1].

    Returns a dict of ``(T,)`` arrays: limb angles (rad, see :func:`_d`), ``crouch`` (knee bend 0..1), ``dx`` /
    ``dy`` root offsets in body heights, and optional wrist targets ``wr_target`` / ``wl_target`` relative to the
    neck in body heights (``(T, 2)``, NaN = use the angles).
    """
    t = len(tau)
    z = np.zeros(t)
    rest_r, rest_l = -0.15, 0.15
    p = {
        "rua": z + rest_r, "rfa": z + rest_r, "lua": z + rest_l, "lfa": z + rest_l,
        "rth": z - 0.08, "rsh": z - 0.08, "lth": z + 0.08, "lsh": z + 0.08,
        "crouch": z.copy(), "dx": z.copy(), "dy": z.copy(),
    }  # fmt: skip
    # at most ~1.5 cycles per clip: an 8-frame clip then samples every cycle >= 5 times, so direction and order
    # are not aliased (2+ cycles over 8 frames can look like the opposite rotation)
    cycles = rng.uniform(0.8, 1.5)
    phase = rng.uniform(0, 2 * math.pi)
    osc = 2 * math.pi * cycles * tau + phase
    t0, t1 = rng.uniform(0.05, 0.3), rng.uniform(0.6, 0.9)

    def one_shot():
        return _smooth((tau - t0) / (t1 - t0))

    if action in ("sit_down", "stand_up"):
        s = one_shot()
        if action == "stand_up":
            s = 1 - s
        p["crouch"] = s * 0.85
        p["rth"], p["lth"] = -0.08 - 1.0 * s, 0.08 + 1.0 * s  # knees go out as the hips drop
        p["rsh"], p["lsh"] = -0.08 + 0.25 * s, 0.08 - 0.25 * s
        p["rua"], p["lua"] = rest_r - 0.9 * s, rest_l + 0.9 * s  # arms out for balance
        p["rfa"], p["lfa"] = rest_r - 1.2 * s, rest_l + 1.2 * s
    elif action in ("arm_circle_cw", "arm_circle_ccw"):
        # on screen (y down) increasing theta turns down -> right -> up: anticlockwise; clockwise decreases it
        direction = -1.0 if action == "arm_circle_cw" else 1.0
        theta = phase + direction * 2 * math.pi * cycles * tau
        p["rua"] = p["rfa"] = theta
        p["lua"] = p["lfa"] = theta + math.pi
    elif action in ("drink", "phone_call"):
        # identical motion for both: the hand goes to the side of the mouth, stays, comes back
        up_a, up_b = rng.uniform(0.05, 0.25), rng.uniform(0.3, 0.45)
        dn_a = rng.uniform(0.6, 0.75)
        dn_b = dn_a + (up_b - up_a)
        s = _smooth((tau - up_a) / (up_b - up_a)) * (1 - _smooth((tau - dn_a) / (dn_b - dn_a)))
        rest = np.array([-0.17, 0.33])
        mouth = np.array([-0.05, -0.10])
        p["wr_target"] = rest[None] * (1 - s[:, None]) + mouth[None] * s[:, None]
    elif action in ("lift_box", "lift_ball"):
        s = 0.5 - 0.5 * np.cos(2 * math.pi * rng.uniform(0.8, 1.4) * tau + rng.uniform(0, 0.5))
        y = 0.22 - 0.45 * s  # from belly height to above the head
        p["wr_target"] = np.stack([z - 0.08, y], -1)
        p["wl_target"] = np.stack([z + 0.08, y], -1)
    elif action == "wave":
        p["rua"] = z - 2.2
        p["rfa"] = math.pi + 0.6 * np.sin(osc)  # forearm swings around vertical-up
    elif action == "jumping_jack":
        s = 0.5 - 0.5 * np.cos(osc)
        p["rua"], p["lua"] = rest_r - 2.6 * s, rest_l + 2.6 * s
        p["rfa"], p["lfa"] = rest_r - 2.8 * s, rest_l + 2.8 * s
        p["rth"], p["lth"] = -0.08 - 0.35 * s, 0.08 + 0.35 * s
        p["rsh"], p["lsh"] = p["rth"] * 1.0, p["lth"] * 1.0
        p["dy"] = -0.05 * np.abs(np.sin(osc))
    elif action == "kick":
        s = np.clip(np.sin(osc), 0, None) ** 2
        p["rth"] = -0.08 - 1.3 * s
        p["rsh"] = -0.08 - 1.5 * s
        p["lua"], p["rua"] = rest_l + 0.5 * s, rest_r + 0.3 * s
    elif action == "clap":
        s = 0.5 - 0.5 * np.cos(osc)
        x = 0.03 + 0.22 * s
        p["wr_target"] = np.stack([-x, z + 0.14], -1)
        p["wl_target"] = np.stack([x, z + 0.14], -1)
    elif action == "jump":
        c = np.sin(osc)
        air = np.clip(c, 0, None)
        bend = np.clip(-c, 0, None)
        p["crouch"] = 0.45 * bend
        p["rth"], p["lth"] = -0.08 - 0.5 * bend, 0.08 + 0.5 * bend
        p["rsh"], p["lsh"] = -0.08 + 0.2 * bend, 0.08 - 0.2 * bend
        p["dy"] = -0.22 * air
        p["rua"], p["lua"] = rest_r - 2.4 * air, rest_l + 2.4 * air
        p["rfa"], p["lfa"] = p["rua"], p["lua"]
    elif action == "walk":
        swing = 0.4 * np.sin(osc)
        p["rth"], p["lth"] = -0.05 + swing, 0.05 - swing
        p["rsh"], p["lsh"] = p["rth"] - 0.2 * np.abs(swing), p["lth"] - 0.2 * np.abs(swing)
        p["rua"], p["lua"] = rest_r - swing, rest_l + swing
        p["rfa"], p["lfa"] = p["rua"], p["lua"]
        direction = 1.0 if rng.random() < 0.5 else -1.0
        p["dx"] = direction * (tau - 0.5) * rng.uniform(0.5, 0.8)
        p["dy"] = -0.015 * np.abs(np.cos(osc))
    else:  # pragma: no cover - CLASSES and this function are kept in sync
        raise ValueError(action)
    return p


def _skeleton(body: Body, root: np.ndarray, p: dict) -> np.ndarray:
    """COCO-17 joints ``(T, 17, 2)`` (pixels) from pose parameters; ``root (2,)`` = feet centre on the ground."""
    t = len(p["rua"])
    h = body.height
    j = np.zeros((t, 17, 2))
    # hips: lowered by the crouch and lifted by the legs' vertical extent so the feet stay on the ground
    legs_r = body.thigh * np.cos(p["rth"]) + body.shin * np.cos(p["rsh"])
    legs_l = body.thigh * np.cos(p["lth"]) + body.shin * np.cos(p["lsh"])
    leg_y = np.maximum(legs_r, legs_l) * (1 - 0.35 * p["crouch"])
    hip_c = np.stack([root[0] + p["dx"] * h, root[1] - leg_y + p["dy"] * h], -1)
    j[:, RHIP] = hip_c - [body.hip_w, 0]
    j[:, LHIP] = hip_c + [body.hip_w, 0]
    scale_leg = (1 - 0.35 * p["crouch"])[:, None]
    j[:, RKN] = j[:, RHIP] + body.thigh * _d(p["rth"]) * scale_leg
    j[:, LKN] = j[:, LHIP] + body.thigh * _d(p["lth"]) * scale_leg
    j[:, RAN] = j[:, RKN] + body.shin * _d(p["rsh"]) * scale_leg
    j[:, LAN] = j[:, LKN] + body.shin * _d(p["lsh"]) * scale_leg
    neck = hip_c - [0, body.torso]
    j[:, RSH] = neck - [body.shoulder_w, 0]
    j[:, LSH] = neck + [body.shoulder_w, 0]
    for side, sh, el, wr, ua, fa, bend in (
        ("r", RSH, REL, RWR, "rua", "rfa", 1.0),
        ("l", LSH, LEL, LWR, "lua", "lfa", -1.0),
    ):
        target = p.get(f"w{side}_target")
        if target is not None:
            elbow, wrist = _two_link(j[:, sh], neck + target * h, body.upper_arm, body.forearm, bend)
            j[:, el], j[:, wr] = elbow, wrist
        else:
            j[:, el] = j[:, sh] + body.upper_arm * _d(p[ua])
            j[:, wr] = j[:, el] + body.forearm * _d(p[fa])
    head = neck - [0, body.neck + body.head_r]
    r = body.head_r
    j[:, NOSE] = head + [0, 0.25 * r]
    j[:, REYE] = head + [-0.4 * r, -0.15 * r]
    j[:, LEYE] = head + [0.4 * r, -0.15 * r]
    j[:, REAR] = head + [-0.95 * r, 0]
    j[:, LEAR] = head + [0.95 * r, 0]
    return j


# --------------------------------------------------------------------------- drawing
def _muted_colour(rng, lo=30, hi=200):
    """A clothing / clutter colour that stays away from the saturated object colours."""
    while True:
        c = rng.integers(lo, hi, size=3)
        if c.max() - c.min() < 110:  # not too saturated: objects own the vivid colours
            return tuple(int(v) for v in c)



def _style(rng, limb: int) -> dict:
    """A person's clothing and skin colours (drawn in this order from ``rng``) and limb width."""
    return {"shirt": _muted_colour(rng), "legs": _muted_colour(rng), "skin": _muted_colour(rng, 120, 235), "limb": limb}


def _draw_person(draw: ImageDraw.ImageDraw, j: np.ndarray, body: Body, style: dict, offset) -> None:
    w = style["limb"]
    pts = j + offset

    def line(a, b, colour, width=w):
        draw.line([tuple(pts[a]), tuple(pts[b])], fill=colour, width=width)
        for q in (a, b):  # round joints so thick limbs connect
            x, y = pts[q]
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=colour)

    for a, b in ((RHIP, RKN), (RKN, RAN), (LHIP, LKN), (LKN, LAN)):
        line(a, b, style["legs"])
    torso = [tuple(pts[i]) for i in (RSH, LSH, LHIP, RHIP)]
    draw.polygon(torso, fill=style["shirt"])
    for a, b in ((RSH, REL), (REL, RWR), (LSH, LEL), (LEL, LWR)):
        line(a, b, style["shirt"] if a in (RSH, LSH) else style["skin"])
    head = (pts[LEAR] + pts[REAR]) / 2
    r = body.head_r
    draw.ellipse([head[0] - r, head[1] - r, head[0] + r, head[1] + r], fill=style["skin"])


def _draw_object(draw, kind: str, j: np.ndarray, body: Body, offset) -> None:
    colour = OBJECT_COLOURS[kind]
    h = body.height
    if kind in ("cup", "phone"):
        x, y = j[RWR] + offset
        w, hh = (0.11 * h, 0.13 * h) if kind == "cup" else (0.06 * h, 0.16 * h)
        if kind == "cup":
            draw.polygon(
                [
                    (x - w / 2, y - hh / 2),
                    (x + w / 2, y - hh / 2),
                    (x + w / 3, y + hh / 2),
                    (x - w / 3, y + hh / 2),
                ],
                fill=colour,
            )
        else:
            draw.rectangle([x - w / 2, y - hh / 2, x + w / 2, y + hh / 2], fill=colour)
    else:
        x, y = (j[RWR] + j[LWR]) / 2 + offset
        s = 0.10 * h
        y = y - s * 0.6  # held above the hands
        if kind == "box":
            draw.rectangle([x - s, y - s, x + s, y + s], fill=colour)
        else:
            draw.ellipse([x - s, y - s, x + s, y + s], fill=colour)


def _background(size: int, rng: np.random.Generator, clutter: int) -> Image.Image:
    img = Image.new("RGB", (size, size), _muted_colour(rng, 60, 220))
    d = ImageDraw.Draw(img)
    for _ in range(clutter):
        c = _muted_colour(rng, 20, 240)
        x0, y0 = rng.uniform(-0.1, 1.0, 2) * size
        w, h = rng.uniform(0.05, 0.35, 2) * size
        kind = rng.integers(0, 3)
        if kind == 0:
            d.rectangle([x0, y0, x0 + w, y0 + h], fill=c)
        elif kind == 1:
            d.ellipse([x0, y0, x0 + w, y0 + h], fill=c)
        else:
            d.line([(x0, y0), (x0 + w, y0 + h)], fill=c, width=int(max(1, size * 0.02)))
    return img


# --------------------------------------------------------------------------- one clip
def render_clip(index: int, seed: int, size: int = 112, frame_range=(24, 64), difficulty: float = 1.0):
    """Render clip ``index`` -> ``(frames (T, S, S, 3) uint8, annotation dict)`` (keypoints in video pixels)."""
    rng = np.random.default_rng([seed, index])
    label = index % len(CLASSES)
    action = CLASSES[label]
    t = int(rng.integers(frame_range[0], frame_range[1] + 1))
    tau = np.linspace(0, 1, t)
    diff = float(difficulty)
    margin = int(math.ceil(0.04 * size * diff)) + 1  # room for camera shake
    big = size + 2 * margin

    has_distractor = rng.random() < 0.3 * diff
    height = size * rng.uniform(0.55, 0.75)
    body = Body.sample(height, rng, 0.08 * diff)
    # the actor stands on one side when a distractor shares the frame, anywhere otherwise
    if has_distractor:
        side = rng.choice([-1, 1])
        x = size / 2 + side * size * rng.uniform(0.18, 0.26)
    else:
        x = size * rng.uniform(0.35, 0.65)
    ground = size * rng.uniform(0.86, 0.96)
    params = _action_angles(action, tau, rng)
    joints = _skeleton(body, np.array([x, ground]), params)

    limb = max(2, int(round(body.height * rng.uniform(0.045, 0.065))))
    style = _style(rng, limb)
    others = []
    if has_distractor:
        other_action = CLASSES[
            int(rng.choice([i for i in range(len(CLASSES)) if CLASSES[i] not in OBJECTS and i != label]))
        ]
        ob = Body.sample(size * rng.uniform(0.55, 0.75), rng, 0.08 * diff)
        ox = size - x + rng.uniform(-0.04, 0.04) * size
        oj = _skeleton(
            ob,
            np.array([ox, ground + rng.uniform(-0.03, 0.03) * size]),
            _action_angles(other_action, tau, rng),
        )
        ostyle = _style(rng, limb)
        others.append((oj, ob, ostyle))

    bg = _background(big, rng, clutter=int(rng.integers(3, 6 + 6 * diff)))
    shake = np.cumsum(rng.normal(0, 0.25 * diff * size / 112, (t, 2)), axis=0)
    shake = np.clip(shake, -margin + 1, margin - 1)
    occluder = None
    if rng.random() < 0.25 * diff:
        ow, oh = rng.uniform(0.08, 0.18) * size, rng.uniform(0.15, 0.4) * size
        oy = rng.uniform(0.2, 0.7) * size
        ox0, ox1 = rng.uniform(-0.1, 1.1, 2) * size
        occluder = (ow, oh, oy, ox0, ox1, _muted_colour(rng))
    obj = OBJECTS.get(action)

    frames = np.empty((t, size, size, 3), np.uint8)
    offset = np.array([margin, margin], float)
    for f in range(t):
        img = bg.copy()
        d = ImageDraw.Draw(img)
        for oj, ob, ostyle in others:
            _draw_person(d, oj[f], ob, ostyle, offset)
        _draw_person(d, joints[f], body, style, offset)
        if obj is not None:
            _draw_object(d, obj, joints[f], body, offset)
        if occluder is not None:
            ow, oh, oy, ox0, ox1, oc = occluder
            ox = ox0 + (ox1 - ox0) * tau[f]
            d.rectangle([ox + margin, oy + margin, ox + ow + margin, oy + oh + margin], fill=oc)
        sx, sy = int(round(margin + shake[f, 0])), int(round(margin + shake[f, 1]))
        frames[f] = np.asarray(img)[sy : sy + size, sx : sx + size]
        joints[f] += [margin - sx, margin - sy]  # the camera moved: joints move the other way in the frame
    # annotation = a good but imperfect pose estimator: jitter, dropped joints, slightly varying confidence
    kp = joints + rng.normal(0, 0.008 * diff * body.height, joints.shape)
    score = rng.uniform(0.85, 1.0, joints.shape[:2])
    drop = rng.random(joints.shape[:2]) < 0.03 * diff
    kp[drop] = 0.0
    score[drop] = 0.0
    ann = {
        "frame_dir": f"clip_{index:05d}",
        "filename": f"{VIDEO_DIR}/clip_{index:05d}.mp4",
        "label": label,
        "img_shape": (size, size),
        "original_shape": (size, size),
        "total_frames": t,
        "fps": float(FPS),
        "keypoint": kp[None].astype(np.float32),
        "keypoint_score": score[None].astype(np.float32),
    }
    return frames, ann


def _clip_job(args):
    index, seed, size, frame_range, difficulty, out = args
    from deformer3d.data.video import write_video

    frames, ann = render_clip(index, seed, size, frame_range, difficulty)
    write_video(Path(out) / ann["filename"], frames, fps=FPS)
    return ann


def assign_splits(labels: list[int], fractions=(0.7, 0.15, 0.15)) -> dict[str, list[int]]:
    """Per class: the first ~70% of its clips train, then ~15% val, ~15% test, each split >= 1 clip per class."""
    by_class: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    out = {"train": [], "val": [], "test": []}
    for lab in sorted(by_class):
        idx = by_class[lab]
        n = len(idx)
        n_test = max(1, round(fractions[2] * n))
        n_val = max(1, round(fractions[1] * n))
        n_train = n - n_val - n_test
        out["train"] += idx[:n_train]
        out["val"] += idx[n_train : n_train + n_val]
        out["test"] += idx[n_train + n_val :]
    return {k: sorted(v) for k, v in out.items()}


def write_synthactions(
    out: str | Path,
    num_clips: int = 1000,
    seed: int = 0,
    size: int = 112,
    frame_range: tuple[int, int] = (24, 64),
    workers: int = 2,
    difficulty: float = 1.0,
    progress: bool = True,
) -> Path:
    """Generate SynthActions into ``out`` (``videos/*.mp4`` + ``synthactions.pkl``); returns the pkl path."""
    from deformer3d.data.formats.pyskl import write_pyskl

    k = len(CLASSES)
    if num_clips < 3 * k:
        raise UserError(
            f"--clips {num_clips}: need at least {3 * k} clips so every one of the {k} classes is in train, val and test"
        )
    if size < 32:
        raise UserError(f"--size {size}: frames below 32 px are too small to draw the people and objects")
    lo, hi = int(frame_range[0]), int(frame_range[1])
    if not 2 <= lo <= hi:
        raise UserError(f"frame range {lo}..{hi}: need 2 <= MIN <= MAX")
    out = Path(out)
    (out / VIDEO_DIR).mkdir(parents=True, exist_ok=True)
    jobs = [(i, seed, size, (lo, hi), difficulty, str(out)) for i in range(num_clips)]
    anns: list[dict] = [None] * num_clips  # type: ignore[list-item]

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("SynthActions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("clips", total=num_clips)
        if workers <= 1:
            for i, job in enumerate(jobs):
                anns[i] = _clip_job(job)
                bar.advance(task)
        else:
            # fork: workers start instantly and need nothing from __main__ (the children only use numpy, PIL and
            # PyAV, never torch, so forking a parent that imported torch is safe); spawn where fork does not exist
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                chunk = max(1, min(16, num_clips // (workers * 8)))
                for i, ann in enumerate(pool.map(_clip_job, jobs, chunksize=chunk)):
                    anns[i] = ann
                    bar.advance(task)
    split_idx = assign_splits([a["label"] for a in anns])
    split = {name: [anns[i]["frame_dir"] for i in idx] for name, idx in split_idx.items()}
    path = out / ANN_FILE
    write_pyskl(path, anns, split, class_names=list(CLASSES), hflip=False, layout="coco17",
                generator={"seed": seed, "size": size, "frame_range": [lo, hi], "difficulty": difficulty})  # fmt: skip
    return path


def load_split(cfg, split: str, *, need_pose: bool = True):
    """``data.format: synth``: a SynthActions folder (``root/synthactions.pkl`` + ``root/videos/*.mp4``) read by the
    pyskl loader, the annotation defaulting to :data:`ANN_FILE`."""
    from deformer3d.data.formats import pyskl

    return pyskl.load_split(cfg, split, need_pose=need_pose, default_ann=ANN_FILE)


def ensure_synthactions(
    out: str | Path, *, num_clips: int, seed: int, size: int, frame_range: tuple[int, int],
    difficulty: float = 1.0, workers: int = 2,
) -> bool:
    """Generate SynthActions into ``out`` unless it already holds a complete folder made with the same settings
    (the demo, the studies and the data benchmark reuse theirs). Returns True when it generated."""
    out = Path(out)
    params = {"num_clips": int(num_clips), "seed": int(seed), "size": int(size),
              "frame_range": [int(frame_range[0]), int(frame_range[1])], "difficulty": float(difficulty)}
    marker = out / PARAMS_FILE
    if marker.is_file() and (out / ANN_FILE).is_file() and json.loads(marker.read_text()) == params:
        return False
    marker.unlink(missing_ok=True)  # a half-written folder must not look complete
    write_synthactions(out, num_clips=num_clips, seed=seed, size=size, frame_range=frame_range,
                       difficulty=difficulty, workers=workers)
    marker.write_text(json.dumps(params))
    return True
