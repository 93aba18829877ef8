"""Repetitions that start anywhere: ``back_and_forth`` plays a clip forwards and back in a loop from another point,
and training applies it to ``data.repeated_classes`` with probability ``data.phase_shift``."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.data.sampling import back_and_forth


@pytest.mark.parametrize("total", [3, 5, 16])
def test_back_and_forth_is_the_loop_without_jumps_from_any_point(total):
    loop = np.r_[np.arange(total), np.arange(total - 2, 0, -1)]
    np.testing.assert_array_equal(back_and_forth(total, 0.0), np.arange(total))
    for offset in range(len(loop)):
        order = back_and_forth(total, offset / len(loop))
        assert len(order) == total and order[0] == loop[offset]
        assert (np.abs(np.diff(order)) == 1).all()  # every step is to a neighbouring frame
        assert order.min() >= 0 and order.max() < total
    # halfway round the loop the clip plays backwards
    np.testing.assert_array_equal(back_and_forth(total, 0.5), np.arange(total)[::-1])
    np.testing.assert_array_equal(back_and_forth(total, 0.999), back_and_forth(total, 0.0))  # round the loop


def test_two_frames_or_fewer_stay_as_they_are():
    np.testing.assert_array_equal(back_and_forth(2, 0.5), [0, 1])
    np.testing.assert_array_equal(back_and_forth(1, 0.5), [0])


def _clock_dataset(phase_shift: float, repeated: list[str]):
    """Two classes whose clips move right by 5 px a frame: the order of a sample's x positions is the order of its
    source frames."""
    from deformer3d.config import DataConfig
    from deformer3d.data.dataset import ActionDataset
    from deformer3d.data.formats import SampleRecord

    t = 8
    body = np.random.default_rng(0).uniform(100, 200, size=(13, 2)).astype(np.float32)
    kp = np.stack([body + [5.0 * i, 0.0] for i in range(t)])[None]
    sc = np.ones(kp.shape[:3], np.float32)
    records = [SampleRecord(id=name, label=i, keypoints=kp, scores=sc, img_shape=(240, 320), total_frames=t)
               for i, name in enumerate(["squat", "golf_swing"])]
    cfg = DataConfig(format="pennaction", layout="penn13", num_frames=t, pose_norm="person", flip=False,
                     sampler="equidistant", repeated_classes=repeated, phase_shift=phase_shift)
    return ActionDataset(records, ["squat", "golf_swing"], cfg, stage="train", need_video=False, need_pose=True)


def test_only_the_repeated_classes_start_mid_repetition():
    ds = _clock_dataset(1.0, ["squat"])
    starts, orders = set(), []
    for _ in range(60):
        x = ds[0]["pose"].numpy()[:, 0, 0]
        steps = np.diff(x)
        assert np.allclose(np.abs(steps), np.abs(steps[0]), atol=1e-5)  # one frame per step, forwards or back
        orders.append(np.sign(steps))
        starts.add(round(float(x[0]), 4))
    assert len(starts) > 4  # the clip starts at many points of the loop
    assert any((o < 0).any() for o in orders) and any((o > 0).all() for o in orders)
    for _ in range(20):  # golf_swing is not a repeated class: always the clip as it is, forwards
        assert (np.diff(ds[1]["pose"].numpy()[:, 0, 0]) > 0).all()


def test_phase_shift_zero_leaves_every_clip_as_it_is():
    ds = _clock_dataset(0.0, ["squat"])
    for _ in range(20):
        assert (np.diff(ds[0]["pose"].numpy()[:, 0, 0]) > 0).all()


def test_a_repeated_class_the_dataset_lacks_is_refused_by_name():
    from deformer3d.data.formats import DataFormatError

    with pytest.raises(DataFormatError, match=r"data\.repeated_classes names \['squats'\].*squat, golf_swing"):
        _clock_dataset(0.5, ["squats"])
