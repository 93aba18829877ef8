"""Video reading: frame-exact access on index-coded videos, bytes, frame folders, odd sizes, VFR, audio, bad files."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from deformer3d.data.sampling import sample_indices
from deformer3d.data.video import open_video, write_video
from deformer3d.errors import VideoError

STEP = 4  # grey level = STEP * frame index; survives lossy coding with a wide margin


def coded_frames(t: int, h: int = 32, w: int = 32) -> np.ndarray:
    return np.stack([np.full((h, w, 3), STEP * i, np.uint8) for i in range(t)])


def read_index(frames: np.ndarray) -> list[int]:
    return [int(round(f.mean() / STEP)) for f in frames]


@pytest.fixture(scope="module")
def coded_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "coded.mp4"
    write_video(path, coded_frames(60), fps=25)
    return path


def test_frame_exact_random_access_mp4(coded_mp4):
    r = open_video(coded_mp4)
    assert r.num_frames == 60 and r.fps == 25 and (r.height, r.width) == (32, 32)
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = rng.integers(0, 60, size=6)
        assert read_index(r.get_frames(idx)) == idx.tolist()
    # far jumps (seek) and near ones (sequential) and backwards
    assert read_index(r.get_frames([59, 0, 30, 31, 58])) == [59, 0, 30, 31, 58]


def test_frame_exact_with_frequent_key_frames(tmp_path):
    """Seeks that land on key frames in the middle of the video (a key frame every 5 frames, B-frames allowed)."""
    path = tmp_path / "gop5.mp4"
    write_video(path, coded_frames(50), fps=25, gop=5)
    r = open_video(path)
    assert len(r.keyframes) >= 9
    rng = np.random.default_rng(1)
    for _ in range(5):
        idx = rng.integers(0, 50, size=5)
        assert read_index(r.get_frames(idx)) == idx.tolist()
    assert read_index(r.get_frames([4, 5, 6, 49, 0, 26, 10])) == [4, 5, 6, 49, 0, 26, 10]


def test_sampled_indices_are_the_decoded_frames(coded_mp4):
    r = open_video(coded_mp4)
    for sampler in ("uniform", "equidistant", "dense"):
        inds = sample_indices(sampler, r.num_frames, 8, interval=3, num_clips=2)
        for row in inds:
            assert read_index(r.get_frames(row)) == row.tolist()


def test_bytes_source(coded_mp4):
    r = open_video(coded_mp4.read_bytes())
    assert r.num_frames == 60
    assert read_index(r.get_frames([5, 45])) == [5, 45]


def test_avi_is_read_sequentially_and_exactly(tmp_path):
    path = tmp_path / "coded.avi"
    write_video(path, coded_frames(30), fps=30, codec="mpeg4")
    r = open_video(path)
    assert r.num_frames == 30
    assert read_index(r.get_frames([29, 3, 17])) == [29, 3, 17]


def test_frame_folder(tmp_path):
    for i in range(5):
        Image.fromarray(np.full((10, 14, 3), STEP * i, np.uint8)).save(tmp_path / f"img_{i + 1:05d}.png")
    r = open_video(tmp_path)
    assert r.num_frames == 5 and (r.height, r.width) == (10, 14)
    assert read_index(r.get_frames([4, 0, 2])) == [4, 0, 2]


def test_odd_size(tmp_path):
    path = tmp_path / "odd.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 33, 47, "yuv420p"
        for f in coded_frames(6, 47, 33):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    r = open_video(path)
    out = r.get_frames([5, 1])
    assert out.shape == (2, 47, 33, 3) and read_index(out) == [5, 1]


def test_variable_frame_rate_and_audio_track(tmp_path):
    """Frames at irregular timestamps plus an audio stream: index i is still the i-th picture."""
    path = tmp_path / "vfr_audio.mkv"
    gaps = [1, 3, 1, 7, 2, 1, 5, 1, 1, 4, 2, 3]
    with av.open(str(path), "w") as c:
        v = c.add_stream("ffv1", rate=30)
        v.width, v.height, v.pix_fmt = 16, 16, "yuv420p"
        v.time_base = Fraction(1, 30)
        a = c.add_stream("pcm_s16le", rate=8000)
        pts = 0
        for i, f in enumerate(coded_frames(len(gaps), 16, 16)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 30)
            pts += gaps[i]
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        samples.sample_rate = 8000
        for p in a.encode(samples):
            c.mux(p)
        for p in a.encode():
            c.mux(p)
    r = open_video(path)
    assert r.num_frames == len(gaps)
    assert read_index(r.get_frames([11, 0, 6, 3])) == [11, 0, 6, 3]


def test_one_frame_video(tmp_path):
    path = tmp_path / "one.mp4"
    write_video(path, coded_frames(1), fps=25)
    r = open_video(path)
    assert r.num_frames == 1
    assert read_index(r.get_frames([0, 0])) == [0, 0]


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="corrupt.mp4"):
        open_video(path)


def test_truncated_file(tmp_path, coded_mp4):
    path = tmp_path / "truncated.mp4"
    path.write_bytes(coded_mp4.read_bytes()[: coded_mp4.stat().st_size // 2])
    with pytest.raises(VideoError, match="truncated.mp4"):
        r = open_video(path)
        r.get_frames(range(r.num_frames))


def test_zero_frame_video(tmp_path):
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
    with pytest.raises(VideoError, match="empty.mp4"):
        open_video(path)


def test_missing_and_out_of_range(coded_mp4, tmp_path):
    with pytest.raises(VideoError, match="not found"):
        open_video(tmp_path / "nope.mp4")
    with pytest.raises(VideoError, match="out of range"):
        open_video(coded_mp4).get_frames([60])
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(VideoError, match="no images"):
        open_video(tmp_path / "emptydir")


@pytest.mark.realdata
def test_every_real_clip_and_the_frame_folder_decode(realdata):
    sources = sorted((realdata / "videos").iterdir()) + [realdata / "frames" / "mmaction2_tests_imgs"]
    assert len(sources) >= 6
    for src in sources:
        r = open_video(src)
        assert r.num_frames > 0
        last = r.get_frames([r.num_frames - 1, 0])
        assert last.shape == (2, r.height, r.width, 3) and last.std() > 0
        # the index agrees with a full decode
        assert r.count_frames_by_decoding() == r.num_frames


@pytest.mark.realdata
def test_seeking_matches_sequential_decode_on_real_mp4(realdata):
    path = realdata / "videos" / "mmaction2_tests_test.mp4"
    r = open_video(path)
    with av.open(str(path)) as c:
        seq = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(seq) == r.num_frames == 300
    for i, f in zip([250, 3, 120, 121, 299], r.get_frames([250, 3, 120, 121, 299]), strict=False):
        assert np.array_equal(f, seq[i])
