"""Several people: detection by painting out, per-person crops, stable track ids; per-person labels."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.pose.detect import expand_box, iou, paint_out, pose_box


def test_box_helpers():
    kp = np.array([[10, 20], [30, 60], [20, 40], [15, 25], [25, 55], [0, 0]], np.float32)
    sc = np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.0], np.float32)
    assert pose_box(kp, sc) == (10.0, 20.0, 30.0, 60.0)  # the missing joint at (0, 0) does not count
    assert pose_box(kp, np.where(np.arange(6) < 3, 0.9, 0.0)) is None  # too few joints for a person
    assert expand_box((10, 20, 30, 60), 0.25, (100, 200)) == (0, 10, 40, 70)
    assert expand_box((190, 90, 199, 99), 0.5, (100, 200), min_side=32) == (174, 74, 200, 100)  # clipped
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    image = np.full((50, 50, 3), 200, np.uint8)
    hidden = paint_out(image, [(10, 10, 20, 20)], hw_margin=0.0)
    assert hidden[15, 15].max() == 0 and hidden[30, 30].min() == 200 and image[15, 15].min() == 200


@pytest.fixture(scope="module")
def two_people(realdata, tmp_path_factory):
    """wild/squat.mp4 (left) and wild/pushup.mp4 (right), scaled to 360 px high and stacked, 12 s."""
    from realvideos import side_by_side

    path = tmp_path_factory.mktemp("two") / "squat_pushup.mp4"
    side_by_side(realdata / "wild" / "squat.mp4", realdata / "wild" / "pushup.mp4", path, seconds=12.0)
    return path


@pytest.mark.realdata
def test_two_people_side_by_side_become_two_stable_tracks(two_people):
    pytest.importorskip("mediapipe")
    from deformer3d.pose.tracking import TrackedPoses
    from deformer3d.serve.frames import FrameSampler

    with FrameSampler(two_people, step_s=0.125) as sampler:
        images = [f.image for f in sampler]
    width = images[0].shape[1]
    seen: dict[int, list[float]] = {}
    with TrackedPoses(max_people=2) as people:
        for s in range(0, len(images), 16):
            for poses in people.process(images[s : s + 16]):
                for track, (kp, sc) in poses.items():
                    seen.setdefault(track, []).append(float(np.median(kp[sc > 0.3, 0])))
    assert len(seen) == 2, {t: len(x) for t, x in seen.items()}  # two people, no identity switches or re-births
    sides = sorted((np.median(xs) < width / 2, t) for t, xs in seen.items())
    assert [left for left, _ in sides] == [False, True]  # one track on each half
    for xs in seen.values():
        halves = np.asarray(xs) < width / 2
        assert halves.all() or not halves.any()  # a track never jumps to the other person
        assert len(xs) >= 0.6 * len(images)  # followed most of the video, not just found now and then


@pytest.mark.realdata
@pytest.mark.slow
def test_each_of_two_people_gets_their_own_right_label(two_people):
    """The acceptance: squatter on the left, push-ups on the right -> two tracks labelled squat and pushup."""
    pytest.importorskip("mediapipe")
    from bundled import bundled_model
    from deformer3d.serve.predictor import Predictor
    from deformer3d.serve.timeline import run_timeline, track_top_k

    tl = run_timeline(Predictor(bundled_model()), two_people, persons=2, progress=False)
    best = track_top_k(tl, 3)
    assert len(best) == 2, best
    by_side = {("left" if tl.windows[t].centre()[0] < 0.5 else "right"): labels for t, labels in best.items()}
    assert by_side["left"][0][0] == "squat", best
    assert by_side["right"][0][0] == "pushup", best
    for track in best:  # and each person's own timeline says so for most of the video
        segs = tl.segments_of(track)
        right = sum(s.duration for s in segs if s.label == best[track][0][0])
        assert right >= 0.5 * sum(s.duration for s in segs), tl.segments
