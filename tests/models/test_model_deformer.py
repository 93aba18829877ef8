"""Deformer3D end to end: shapes for every preset x modality x switch, gradients, explanations, clip lengths,
multi-person poses, determinism."""

from __future__ import annotations

import pytest
import torch

from deformer3d.config import ConfigError
from deformer3d.errors import ModelInputError
from deformer3d.models import Deformer3D, Deformer3DConfig, build_model

SMALL = {"num_frames": 4, "image_size": 32, "depth": 1}  # tiny, shrunk further so the sweep stays fast


def _inputs(model: Deformer3D, batch=2, frames=None, size=None, persons=1, joints=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = model.config
    t, s = frames or c.num_frames, size or c.image_size
    r = persons * (joints or c.num_joints)
    out = {}
    if model.uses_video:
        out["video"] = torch.randn(batch, 3, t, s, s, generator=g)
    if model.uses_pose:
        out["pose"] = torch.rand(batch, t, r, 3, generator=g)
    return out


_SWITCH_VALUES = {
    "deformable": ["deformable", "full", "none"],
    "joint_attention": ["stride", "full", "none"],
    "temporal_attention": ["stride", "full", "none"],
    "modal_tokens": ["cross", "single", "none"],
}
_DEFAULTS = {k: v[0] for k, v in _SWITCH_VALUES.items()}


def _switch_grid() -> list[tuple[str, dict[str, str]]]:
    """For every modality: every value of every switch (others at default), plus the all-full and all-none
    corners -- every (modality, switch value) pair is covered without the 243-model full product."""
    grid = []
    for modality in ["rgb_pose", "rgb", "pose"]:
        for name, values in _SWITCH_VALUES.items():
            for value in values:
                if value != _DEFAULTS[name] or name == "deformable":
                    grid.append((modality, {**_DEFAULTS, name: value}))
        grid.append((modality, {k: ("full" if "full" in v else "single") for k, v in _SWITCH_VALUES.items()}))
        grid.append((modality, {k: "none" for k in _SWITCH_VALUES}))
    return grid


SWITCHES = [(m, *s.values()) for m, s in _switch_grid()]


def test_every_modality_and_switch_value_gives_logits():
    torch.manual_seed(0)
    seen = set()
    for modality, deformable, joint, temporal, tokens in SWITCHES:
        cfg = Deformer3DConfig.preset(
            "tiny",
            num_classes=7,
            modality=modality,
            deformable=deformable,
            joint_attention=joint,
            temporal_attention=temporal,
            modal_tokens=tokens,
            **SMALL,
        )
        model = Deformer3D(cfg).eval()
        with torch.no_grad():
            out = model(**_inputs(model), return_explanations=True)
        assert out.logits.shape == (2, 7), (modality, deformable, joint, temporal, tokens)
        assert torch.isfinite(out.logits).all()
        expl = out.explanations
        has_rgb_attention = modality != "pose" and deformable != "none"
        assert len(expl["deformable"]) == (1 if has_rgb_attention else 0)
        has_joint_attention = modality != "rgb" and joint != "none"
        assert (expl["joint_attention"] is not None) == has_joint_attention
        # the switch really changes the network: module presence follows it
        block = model.blocks[0]
        assert (block.rgb is not None) == has_rgb_attention
        assert (block.temporal is not None) == (temporal != "none")
        if has_rgb_attention:
            assert block.rgb.mode == deformable
        seen.add(model.num_parameters())
    assert len(seen) > 20  # switches produce genuinely different architectures


@pytest.mark.parametrize("modality", ["rgb_pose", "rgb", "pose"])
def test_presets_build_and_run(modality):
    # paper preset at its real widths/depth but a small clip (the full 12x224x224 clip is in the slow test)
    for preset, overrides in [("tiny", {}), ("paper", {"num_frames": 4, "image_size": 64})]:
        model = build_model(
            {"name": "deformer3d", "preset": preset, "modality": modality, **overrides}, 5
        ).eval()
        with torch.no_grad():
            out = model(**_inputs(model, batch=1))
        assert out.logits.shape == (1, 5)
        assert model.uses_video == (modality != "pose") and model.uses_pose == (modality != "rgb")
    paper = Deformer3DConfig.preset("paper")
    assert (paper.width, paper.dim, paper.heads, paper.depth, paper.num_frames, paper.image_size) == (
        64,
        256,
        8,
        4,
        12,
        224,
    )
    assert (paper.joint_window, paper.temporal_window, paper.num_joints) == (8, 4, 17)


@pytest.mark.slow
def test_paper_preset_full_clip_forward():
    model = build_model({"name": "deformer3d", "preset": "paper"}, 60).eval()
    with torch.no_grad():
        out = model(**_inputs(model, batch=1), return_explanations=True)
    assert out.logits.shape == (1, 60)
    assert len(out.explanations["deformable"]) == 4
    assert out.explanations["joint_attention"].shape == (1, 12, 17)


@pytest.mark.parametrize("modality", ["rgb_pose", "rgb", "pose"])
def test_every_parameter_gets_a_gradient(modality):
    torch.manual_seed(0)
    model = Deformer3D(
        Deformer3DConfig.preset("tiny", modality=modality, num_classes=4, num_frames=4, image_size=32)
    )
    model.train()
    out = model(**_inputs(model, persons=2))
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 3])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"
    if modality == "pose":
        assert not hasattr(model, "backbone")  # pose-only runs without any RGB branch


def test_explanations_shapes_and_ranges():
    torch.manual_seed(0)
    model = Deformer3D(Deformer3DConfig.preset("tiny", num_classes=3, num_frames=4, image_size=64)).eval()
    with torch.no_grad():
        out = model(**_inputs(model, persons=2), return_explanations=True)
    expl = out.explanations
    assert len(expl["deformable"]) == model.config.depth
    for item in expl["deformable"]:
        points, weight = item["points"], item["weight"]
        assert points.shape[0] == 2 and points.shape[2] == 3 and weight.shape == points.shape[:2]
        assert (points >= 0).all() and (points <= 1).all()
        assert (weight >= 0).all() and (weight.sum(-1) <= 1 + 1e-5).all()
    joint = expl["joint_attention"]
    assert joint.shape == (2, 4, 34)
    torch.testing.assert_close(joint.sum(-1), torch.ones(2, 4))
    assert model(**_inputs(model)).explanations is None


def test_model_built_for_12_frames_runs_on_4_to_12():
    model = Deformer3D(Deformer3DConfig.preset("tiny", num_frames=12, image_size=32, depth=1)).eval()
    with torch.no_grad():
        for t in range(4, 13):
            assert model(**_inputs(model, batch=1, frames=t)).logits.shape == (1, 60)
        # other (multiple of 8) frame sizes run too: the spatial embedding is resampled
        assert model(**_inputs(model, batch=1, size=48)).logits.shape == (1, 60)


@pytest.mark.parametrize("modality", ["rgb_pose", "pose"])
def test_multi_person_gives_persons_times_joints_tokens(modality):
    model = Deformer3D(Deformer3DConfig.preset("tiny", modality=modality, **SMALL)).eval()
    captured = {}
    model.pose_tokens.register_forward_hook(lambda m, i, o: captured.update(tokens=o))
    with torch.no_grad():
        out = model(**_inputs(model, persons=2), return_explanations=True)
    v = model.config.num_joints
    assert captured["tokens"].shape == (2, 4, 2 * v, model.config.dim)
    assert out.explanations["joint_attention"].shape == (2, 4, 2 * v)
    # the two persons' copies of a joint get different embeddings (person identity)
    emb = model.pose_tokens.embed
    zeros = torch.zeros(1, 1, 2 * v, model.config.dim)
    tokens = emb(zeros)[0, 0]
    assert not torch.allclose(tokens[0], tokens[v])
    # any number of persons (beyond max_persons); a joint count that is not persons x V is refused, naming it
    with torch.no_grad():
        assert model(**_inputs(model, persons=3, joints=17)).logits.shape == (2, 60)
        for persons, joints in [(1, 13), (2, 25)]:
            with pytest.raises(ModelInputError, match="joint layout"):
                model(**_inputs(model, persons=persons, joints=joints))


def test_missing_joints_do_not_depend_on_their_coordinates():
    model = Deformer3D(Deformer3DConfig.preset("tiny", **SMALL)).eval()
    inputs = _inputs(model)
    inputs["pose"][:, :, 5, 2] = 0.0  # joint 5 missing
    moved = {k: v.clone() for k, v in inputs.items()}
    moved["pose"][:, :, 5, :2] = torch.rand_like(moved["pose"][:, :, 5, :2])
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, model(**moved).logits)


def test_deterministic_with_a_seed():
    def run():
        torch.manual_seed(123)
        model = Deformer3D(Deformer3DConfig.preset("tiny", **SMALL)).eval()
        with torch.no_grad():
            return model(**_inputs(model, seed=5)).logits

    assert torch.equal(run(), run())


def test_batch_elements_are_independent():
    model = Deformer3D(Deformer3DConfig.preset("tiny", **SMALL)).eval()
    inputs = _inputs(model, batch=3)
    with torch.no_grad():
        full = model(**inputs).logits
        single = model(**{k: v[1:2] for k, v in inputs.items()}).logits
    torch.testing.assert_close(full[1:2], single, atol=1e-5, rtol=1e-5)


def test_pose_coordinates_make_rgb_pose_tokens_see_where_joints_are():
    from deformer3d.models.tokens import HeatmapPoseTokenizer

    f_a = torch.ones(2, 16, 4, 16, 16)  # the same feature everywhere: pooled appearance cannot tell positions apart
    pose = torch.rand(2, 4, 17, 3) * 0.6 + 0.2
    pose[..., 2] = 1.0
    moved = pose.clone()
    moved[..., :2] = moved[..., :2].flip(-1)
    torch.manual_seed(0)
    plain = HeatmapPoseTokenizer(16, 32, 17, 1, 4, sigma=0.1)
    torch.manual_seed(0)
    with_xy = HeatmapPoseTokenizer(16, 32, 17, 1, 4, sigma=0.1, coordinates=True)
    with torch.no_grad():
        torch.testing.assert_close(plain(f_a, pose), plain(f_a, moved))
        assert not torch.allclose(with_xy(f_a, pose), with_xy(f_a, moved))
    model = Deformer3D(Deformer3DConfig.preset("tiny", pose_coordinates=True, **SMALL)).eval()
    inputs = _inputs(model)
    inputs["pose"][:, :, 5, 2] = 0.0  # a missing joint's coordinates still do not matter
    moved_inputs = {k: v.clone() for k, v in inputs.items()}
    moved_inputs["pose"][:, :, 5, :2] = torch.rand_like(moved_inputs["pose"][:, :, 5, :2])
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, model(**moved_inputs).logits)


def test_rgb_pose_coordinate_embedding_reads_the_pose_features():
    from deformer3d.models.tokens import HeatmapPoseTokenizer

    f_a = torch.ones(2, 16, 4, 16, 16)
    pose = torch.rand(2, 4, 17, 3) * 0.6 + 0.2
    pose[..., 2] = 1.0
    later = pose.clone()
    later[:, 1:, :, :2] += 0.05  # frame 0 is the same, and it moves differently towards frame 1
    torch.manual_seed(0)
    joint = HeatmapPoseTokenizer(16, 32, 17, 1, 4, sigma=0.1, coordinates=True)
    torch.manual_seed(0)
    motion = HeatmapPoseTokenizer(16, 32, 17, 1, 4, sigma=0.1, coordinates=True, features=("joint", "motion"))
    with torch.no_grad():
        torch.testing.assert_close(joint(f_a, pose)[:, 0], joint(f_a, later)[:, 0])
        assert not torch.allclose(motion(f_a, pose)[:, 0], motion(f_a, later)[:, 0])
    cfg = Deformer3DConfig.preset("tiny", pose_coordinates=True, pose_features=["joint", "motion"], **SMALL)
    model = Deformer3D(cfg)
    assert model(**_inputs(model)).logits.shape[-1] == cfg.num_classes
    with pytest.raises(ConfigError, match="pose_coordinates"):
        Deformer3DConfig.preset("tiny", pose_features=["joint", "motion"], **SMALL)
