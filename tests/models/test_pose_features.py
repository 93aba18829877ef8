"""The pose-only tokenizer's joint / bone / motion inputs."""

from __future__ import annotations

import pytest
import torch

from deformer3d.config import ConfigError
from deformer3d.models import build_model
from deformer3d.models.tokens import skeleton_features

PARENTS = (0, 0, 1)  # a 3-joint chain: 0 <- 1 <- 2


def test_bone_and_motion_features():
    pose = torch.tensor(
        [[[[0.5, 0.5, 1.0], [0.6, 0.5, 1.0], [0.6, 0.7, 1.0]],
          [[0.5, 0.6, 1.0], [0.7, 0.5, 1.0], [0.6, 0.7, 0.0]]]]
    )  # (B=1, T=2, R=3, 3)  # fmt: skip
    f = skeleton_features(pose, ("joint", "bone", "motion"), PARENTS)
    assert f.shape == (1, 2, 3, 7)
    joint, bone, motion, score = f[..., 0:2], f[..., 2:4], f[..., 4:6], f[..., 6]
    torch.testing.assert_close(joint[0, 0, 1], torch.tensor([0.1, 0.0]))
    torch.testing.assert_close(bone[0, 0, 0], torch.zeros(2))  # the root's bone
    torch.testing.assert_close(bone[0, 0, 2], torch.tensor([0.0, 0.2]))  # joint 2 - joint 1
    torch.testing.assert_close(motion[0, 0, 1], torch.tensor([0.1, 0.0]))  # frame 1 - frame 0
    torch.testing.assert_close(motion[0, 1], torch.zeros(3, 2))  # the last frame has no successor
    # a missing joint (frame 1, joint 2) contributes no coordinate, bone or motion
    assert joint[0, 1, 2].abs().sum() == 0 and bone[0, 1, 2].abs().sum() == 0 and motion[0, 0, 2].abs().sum() == 0
    assert score[0, 1, 2] == 0


def test_two_persons_use_their_own_parents():
    one = torch.rand(1, 4, 3, 3) + torch.tensor([0, 0, 1.0])
    two = torch.cat([one, one + torch.tensor([0.3, 0.0, 0.0])], dim=2)  # the second person shifted right
    f = skeleton_features(two, ("bone",), PARENTS)
    torch.testing.assert_close(f[:, :, :3, :2], f[:, :, 3:, :2])  # bones do not depend on where the body is


def test_model_with_bone_motion_inputs_and_config_errors():
    cfg = {"name": "deformer3d", "preset": "tiny", "modality": "pose", "num_joints": 3, "num_frames": 4,
           "pose_features": ["joint", "bone", "motion"], "joint_parents": list(PARENTS)}  # fmt: skip
    model = build_model(cfg, 5)
    assert model(pose=torch.rand(2, 4, 3, 3)).logits.shape == (2, 5)
    with pytest.raises(ConfigError, match="joint_parents"):
        build_model({**cfg, "joint_parents": []}, 5)
    with pytest.raises(ConfigError, match="pose_features"):
        build_model({**cfg, "pose_features": ["joint", "speed"]}, 5)


def test_default_features_keep_the_original_tokenizer():
    """``["joint"]`` is the (x, y, score) embedding models were saved with: same parameter shapes."""
    model = build_model({"name": "deformer3d", "preset": "tiny", "modality": "pose", "num_joints": 3}, 5)
    assert model.pose_tokens.mlp[0].weight.shape[1] == 3
