"""Diagnostic: one real clip's estimated poses turned by fixed angles before a model, to see whether the model
knows the action and only not at the clip's angle (an incline push-up is a push-up turned by ~45 degrees).

    python -m benchmarks.turned_clip ../shared/realdata/wild/pushup.mp4 [--model FOLDER]

Prints the top-1 (probability) of ``deformer3d predict`` per angle, clockwise on screen, about the mean of the
person's present joints. The poses are estimated once (MediaPipe, the predictor's windows) and reused for every
angle. It wraps the predictor's private layout step, so it is a diagnostic, not an API.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from benchmarks.paths import repo_root

ANGLES = (-60, -45, -30, -15, 0, 15, 30, 45, 60)
app = typer.Typer(add_completion=False)


def turn(keypoints: np.ndarray, scores: np.ndarray, degrees: float) -> np.ndarray:
    """``keypoints (M, T, V, 2)`` pixels turned by ``degrees`` (clockwise on screen: y points down) about the mean
    of the present joints; missing joints stay (0, 0)."""
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    present = scores > 0
    if not present.any():
        return keypoints
    centre = keypoints[present].mean(0)
    out = (keypoints - centre) @ rot.T + centre
    out[~present] = 0.0
    return out.astype(keypoints.dtype)


@app.command()
def main(clip: Path, model: Annotated[Path | None, typer.Option(help="model folder (default: bundled)")] = None):
    from deformer3d.serve.predictor import Predictor

    predictor = Predictor(model or repo_root() / "src/deformer3d/pretrained/penn-action-pose")
    angle = [0.0]
    estimated: dict[str, tuple] = {}
    to_layout, estimate = predictor._to_model_layout, predictor._estimate_windows

    def turned_layout(kp, sc, layout, name):
        kp, sc = to_layout(kp, sc, layout, name)
        return turn(kp, sc, angle[0]), sc

    def estimate_once(reader, windows):
        key = str([int(w[0]) for w in windows])
        if key not in estimated:
            estimated[key] = estimate(reader, windows)
        return estimated[key]

    predictor._to_model_layout, predictor._estimate_windows = turned_layout, estimate_once
    row = []
    for a in ANGLES:
        angle[0] = float(a)
        label, p = predictor.predict(clip).top_k[0]
        row.append(f"{a:+d}: {label} ({p:.2f})")
    predictor.close()
    print(f"{clip.name}  " + "  ".join(row))


if __name__ == "__main__":
    sys.exit(app())
