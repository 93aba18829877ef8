"""Every shipped experiment config loads, builds its model, and agrees with its data section."""

from __future__ import annotations

from pathlib import Path

import pytest

from deformer3d.config import load_config
from deformer3d.data.skeleton import get_layout
from deformer3d.models import build_model

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
REQUIRED = {"synth_demo", "synth_pose", "synth_rgb", "pennaction_pose", "pennaction_rgb_pose", "ntu60_xsub",
            "ntu60_xview", "ntu120_xsub", "ntu120_xset", "finegym", "hmdb51", "hmdb51_subset"}


def test_all_protocols_have_a_config():
    assert REQUIRED <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_consistent(path):
    text = path.read_text()
    assert text.startswith("#"), f"{path.name}: document what it reproduces in a comment at the top"
    cfg = load_config(path)
    if cfg.model["name"] != "deformer3d":
        return  # hub-pretrained models are checked by their own tests
    model = build_model(dict(cfg.model), 5)
    c = model.config
    assert c.num_frames == cfg.data.num_frames
    assert bool(model.uses_video) == (c.modality != "pose")
    if model.uses_video:
        assert c.image_size == cfg.data.image_size
    if model.uses_pose:
        assert c.num_joints == len(get_layout(cfg.data.layout).joints)
        assert c.max_persons >= cfg.data.max_persons
