"""extract-poses: a folder of real videos -> a pyskl pkl, with worker processes, failures listed, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from deformer3d.data.formats.pyskl import read_pyskl
from deformer3d.data.video import open_video, write_video
from deformer3d.errors import UserError
from deformer3d.pose.extract import extract_folder

pytest.importorskip("mediapipe")


@pytest.fixture
def video_folder(realdata, tmp_path):
    """riding/clip.mp4 (a real 32-frame Kinetics cut, pool cleaning), makeup/clip.mp4 (10 real UCF101 frames), a corrupt file."""
    root = tmp_path / "videos"
    (root / "riding").mkdir(parents=True)
    (root / "makeup").mkdir()
    (root / "riding" / "clip.mp4").write_bytes((realdata / "videos" / "mmaction2_rawvideo_part_0.mp4").read_bytes())
    frames = open_video(realdata / "frames" / "mmaction2_tests_imgs").read_all()
    write_video(root / "makeup" / "clip.mp4", frames, fps=25)
    (root / "makeup" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return root


@pytest.mark.realdata
def test_extract_folder_writes_pyskl_and_resumes(video_folder, tmp_path):
    out = tmp_path / "poses.pkl"
    first = extract_folder(video_folder, out, workers=2, progress=False)
    assert (first.total, first.processed, first.skipped) == (3, 2, 0)
    assert list(first.failed) == ["makeup/broken"] and "broken.mp4" in first.failed["makeup/broken"]

    data = read_pyskl(out)
    assert data["class_names"] == ["makeup", "riding"]
    anns = {a["frame_dir"]: a for a in data["annotations"]}
    assert set(anns) == {"makeup/clip", "riding/clip"} and data["split"]["all"] == sorted(anns)
    riding = anns["riding/clip"]
    assert riding["label"] == 1 and riding["filename"] == "riding/clip.mp4"
    assert riding["keypoint"].shape == (1, 32, 17, 2) and riding["keypoint_score"].shape == (1, 32, 17)
    assert riding["img_shape"] == (256, 340) and riding["total_frames"] == 32
    assert anns["makeup/clip"]["keypoint"].shape == (1, 10, 17, 2)
    # a person is found (the pool cleaner at the right edge) in most frames; the joints it is sure of lie in the
    # frame, give or take the margin BlazePose extrapolates to
    scores = riding["keypoint_score"][0]
    assert (scores.max(axis=-1) > 0.5).mean() > 0.5
    sure = riding["keypoint"][0][scores > 0.5]
    assert len(sure) and (sure >= -34).all() and (sure[:, 0] <= 374).all() and (sure[:, 1] <= 282).all()
    assert not (tmp_path / "poses.pkl.parts").exists()

    # second run: the two good videos are skipped (their poses kept as they were), the broken one is retried
    before = riding["keypoint"].copy()
    again = extract_folder(video_folder, out, workers=1, progress=False)
    assert (again.processed, again.skipped, list(again.failed)) == (0, 2, ["makeup/broken"])
    np.testing.assert_array_equal(read_pyskl(out)["annotations"][1]["keypoint"], before)


@pytest.mark.realdata
def test_interrupted_run_resumes_from_parts(video_folder, tmp_path):
    """A part written by an interrupted run is used as is; only the missing video is estimated."""
    from deformer3d.pose import build_pose_estimator
    from deformer3d.pose.extract import _write_part, estimate_video

    out = tmp_path / "poses.pkl"
    with build_pose_estimator("mediapipe") as est:
        ann = estimate_video(video_folder / "riding" / "clip.mp4", est)
    _write_part(tmp_path / "poses.pkl.parts", "riding/clip", ann)
    summary = extract_folder(video_folder, out, workers=1, progress=False)
    assert (summary.processed, summary.skipped) == (1, 1)
    got = {a["frame_dir"]: a for a in read_pyskl(out)["annotations"]}
    np.testing.assert_array_equal(got["riding/clip"]["keypoint"], ann["keypoint"])


def test_empty_folder_and_bad_backend_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="no videos found"):
        extract_folder(tmp_path, tmp_path / "x.pkl")
    write_video(tmp_path / "a.mp4", np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(UserError, match="unknown"):
        extract_folder(tmp_path, tmp_path / "x.pkl", backend="nope")
