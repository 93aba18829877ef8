"""deformer3d validate: every problem reported in one pass."""

from __future__ import annotations

import numpy as np

from deformer3d.data.formats.folder import write_sidecar
from deformer3d.data.validate import validate_from_config
from deformer3d.data.video import write_video


def _dataset(root, broken: bool):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            video = root / cls / f"{cls}{i}.mp4"
            write_video(video, rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8), fps=10)
            t = 6
            if broken and cls == "a" and i == 1:
                t = 12  # skeleton longer than its video
            if not (broken and cls == "b" and i == 2):  # one sidecar missing
                write_sidecar(video.with_suffix(".npz"), np.full((1, t, 17, 2), 5.0), np.ones((1, t, 17)))
    if broken:
        (root / "a" / "a3.mp4").write_bytes(b"not a video at all" * 10)


def _config(tmp_path, root):
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"model: {{name: deformer3d, modality: rgb_pose}}\ndata: {{format: folder, root: '{root}'}}\n"
    )
    return path


def test_clean_dataset_passes(tmp_path, capsys):
    _dataset(tmp_path / "ok", broken=False)
    assert validate_from_config(_config(tmp_path, tmp_path / "ok"), []) is True
    assert "dataset OK" in capsys.readouterr().out


def test_all_problems_reported(tmp_path, capsys):
    _dataset(tmp_path / "bad", broken=True)
    assert validate_from_config(_config(tmp_path, tmp_path / "bad"), ["data.split_seed=1"]) is False
    out = capsys.readouterr().out
    for problem in ("unreadable video", "missing skeleton", "frame count mismatch"):
        assert problem in out, problem
