"""The timeline's frame sampler: grid frames by presentation time, bounded size, variable frame rate, rotation."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from deformer3d.data.video import write_video
from deformer3d.errors import VideoError
from deformer3d.serve.frames import FrameSampler, work_size


def _grey_video(path, n: int, fps: float = 30.0, hw=(64, 80)):
    frames = np.repeat((np.arange(n) * 4 % 256).astype(np.uint8)[:, None, None, None], 3, -1)
    write_video(path, np.broadcast_to(frames, (n, *hw, 3)).copy(), fps=fps)


def _level(image: np.ndarray) -> int:
    return int(round(float(image.mean()) / 4))


def test_grid_frames_are_the_first_at_or_after_each_grid_time(tmp_path):
    _grey_video(tmp_path / "v.mp4", 60)
    with FrameSampler(tmp_path / "v.mp4", step_s=0.25) as sampler:
        got = list(sampler)
    # frame i shows at i / 30 s; grid time g / 4 s -> the first frame at or after it: ceil(7.5 g)
    expected = [int(np.ceil(7.5 * g - 1e-6)) for g in range(len(got))]
    assert [f.index for f in got] == list(range(8))
    assert [_level(f.image) for f in got] == expected
    assert got[3].time == 0.75


def test_frames_are_downscaled_to_the_short_side_and_never_upscaled(tmp_path):
    _grey_video(tmp_path / "v.mp4", 4, hw=(360, 640))
    with FrameSampler(tmp_path / "v.mp4", step_s=0.1, short_side=180) as sampler:
        assert next(iter(sampler)).image.shape == (180, 320, 3)
        assert sampler.info.width == 640 and sampler.info.out_width == 320
    assert work_size(100, 60, 360) == (100, 60)


def test_variable_frame_rate_is_sampled_by_timestamps(tmp_path):
    path = tmp_path / "vfr.mp4"
    # 10 frames 0.1 s apart, then 10 frames 0.4 s apart: frame k shows grey level 12 k
    times = [0.1 * k for k in range(10)] + [1.0 + 0.4 * k for k in range(10)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for k, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 12 * k, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with FrameSampler(path, step_s=0.2) as sampler:
        got = {f.index: int(round(float(f.image.mean()) / 12)) for f in sampler}
    assert got[2] == 4  # 0.4 s: frame 4 (the fast part)
    assert got[7] == 11  # 1.4 s: frame 11 (at 1.4 s)
    assert got[8] == 12  # 1.6 s: nothing new until 1.8 s -> the first frame at or after 1.6 s
    assert max(got) == int(round(times[-1] / 0.2))


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "portrait.mp4"
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :16] = 255  # a white band on the left of the stored frame
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)  # shown turned a quarter counter-clockwise, as a phone writes it
        for _ in range(4):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with FrameSampler(path, step_s=0.05) as sampler:
        frame = next(iter(sampler)).image
        assert frame.shape[:2] == (64, 48)
        assert sampler.info.width == 48 and sampler.info.height == 64
    # the stored left band ends at the bottom once turned counter-clockwise
    assert frame[-8:].mean() > 200 and frame[:40].mean() < 50


def test_a_file_that_is_not_a_video_is_refused(tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match="cannot open"):
        FrameSampler(tmp_path / "x.mp4", step_s=0.1)
