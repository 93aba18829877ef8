"""benchmarks.penn_action: the accuracy figures it reports (the runs themselves need the real data and an hour)."""

from __future__ import annotations

import torch

from benchmarks.penn_action import REPEATED, accuracy, recipe_overrides, rotate_pose, shift_phase
from benchmarks.suites.skeleton_speed import CONFIG, EARLIER_RECIPES
from deformer3d.config import load_config
from deformer3d.models import build_model


def test_accuracy_top1_mean_class_top5_and_per_class():
    # 3 classes x 6 samples; class 0 has 4 samples (3 right), class 1 one (right), class 2 one (wrong, 2nd best)
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1],
                          [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]])
    y = torch.tensor([0, 0, 0, 0, 1, 2])
    got = accuracy(probs, y, ["a", "b", "c"])
    assert got["top1"] == round(100 * 4 / 6, 2)
    assert got["per_class"] == {"a": 75.0, "b": 100.0, "c": 0.0}
    assert got["mean_class"] == round((75 + 100 + 0) / 3, 2)
    assert got["top5"] == 100.0  # 3 classes: every label is within the top 5


def test_an_ensemble_of_two_is_the_mean_of_their_softmax():
    a = torch.tensor([[0.9, 0.1], [0.4, 0.6]])
    b = torch.tensor([[0.2, 0.8], [0.3, 0.7]])
    y = torch.tensor([1, 1])
    assert accuracy(a, y, ["x", "y"])["top1"] == 50.0
    assert accuracy((a + b) / 2, y, ["x", "y"])["top1"] == 50.0  # sample 0: 0.55 vs 0.45 -> still class 0
    assert accuracy((a + 2 * b) / 3, y, ["x", "y"])["top1"] == 100.0


def test_rotate_pose_turns_present_joints_clockwise_on_screen_about_the_centre():
    # (T=1, J=3, x y presence): right of the centre, below it, and a missing joint
    pose = torch.tensor([[[0.6, 0.5, 1.0], [0.5, 0.7, 1.0], [0.0, 0.0, 0.0]]])
    turned = rotate_pose(pose, 90.0)
    # y points down: a quarter turn clockwise takes "right of the centre" below it, and "below" to the left
    torch.testing.assert_close(turned[0, 0], torch.tensor([0.5, 0.6, 1.0]))
    torch.testing.assert_close(turned[0, 1], torch.tensor([0.3, 0.5, 1.0]))
    assert turned[0, 2].tolist() == [0.0, 0.0, 0.0]  # missing stays missing, not moved to the turned origin
    torch.testing.assert_close(rotate_pose(rotate_pose(pose, 30.0), -30.0), pose)


def test_shift_phase_starts_the_clip_elsewhere_in_its_back_and_forth_loop():
    # (views=2, T=5, J=1, C=1): the value is the frame's index
    pose = torch.arange(5.0).reshape(1, 5, 1, 1).repeat(2, 1, 1, 1)
    assert shift_phase(pose, 0.0) is pose
    assert shift_phase(pose, 0.5)[0, :, 0, 0].tolist() == [4, 3, 2, 1, 0]  # halfway round: backwards
    assert shift_phase(pose, 0.25)[1, :, 0, 0].tolist() == [2, 3, 4, 3, 2]  # 2 of the loop's 8 steps on
    assert shift_phase(pose, 0.25).shape == pose.shape


def test_the_repeated_classes_are_penn_action_classes():
    from bundled import bundled_model
    from deformer3d.models.hub import read_model_folder

    assert set(REPEATED) <= set(read_model_folder(bundled_model()).info()["labels"])


def test_the_epoch_timer_trains_each_earlier_recipe_as_the_speed_suite_builds_it():
    # the dot-list overrides must reach the config as the suite's model dicts do (types included: 'full', 64, ...)
    assert recipe_overrides(None) == []
    for name, fields in EARLIER_RECIPES.items():
        model = load_config(CONFIG, recipe_overrides(name)).model
        assert {k: model[k] for k in fields} == fields, name
        assert build_model(dict(model), 15).config.dim == fields["dim"]
