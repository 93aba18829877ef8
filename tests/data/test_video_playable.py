"""Every playable file opens: index that over-announces (edit list, cut GOP, truncated tail), rotation tag, variable
frame rate, B-frames, reduction in the decoder, the picture-size limit, and every real clip.

Frames carry their own index as a grey level (``STEP * i``), so "the right frames" is read off the pixels."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from deformer3d.data.video import open_video
from deformer3d.errors import VideoError

STEP = 4
BFRAMES = {"preset": "medium", "bf": "3", "g": "12", "crf": "10"}  # x264 with B-frames and a short GOP


def coded_frames(t: int, h: int = 32, w: int = 32) -> np.ndarray:
    return np.stack([np.full((h, w, 3), STEP * i, np.uint8) for i in range(t)])


def read_index(frames: np.ndarray) -> list[int]:
    return [int(round(f.mean() / STEP)) for f in frames]


def encode(path, frames, *, fps=25, options=None, rotation=None, pts_ms=None, fmt_options=None):
    """H.264 (B-frames unless ``options`` say otherwise); ``pts_ms`` gives each frame's timestamp (VFR)."""
    with av.open(str(path), "w", options=fmt_options or {}) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = dict(options or BFRAMES)
        if rotation is not None:
            s.set_display_rotation(rotation)
        if pts_ms is not None:
            s.time_base = Fraction(1, 1000)
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = int(pts_ms[i]), Fraction(1, 1000)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def remux(src, dst, *, shift_frames=0, drop_first=0):
    """Copy the packets of ``src`` into ``dst`` without decoding: ``shift_frames`` moves every timestamp back by
    that many frames (the mp4 muxer then writes an edit list that starts at 0: the first frames are never shown
    although their packets are there); ``drop_first`` drops packets from the start (a GOP cut mid-way)."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        si = i.streams.video[0]
        so = o.add_stream_from_template(si)
        shift = int(shift_frames / (si.time_base * si.average_rate))
        for n, p in enumerate(p for p in i.demux(si) if p.dts is not None):
            if n < drop_first:
                continue
            p.pts, p.dts, p.stream = p.pts - shift, p.dts - shift, so
            o.mux(p)
    return dst


def packets(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(video=0) if p.size)


def test_edit_list_index_over_announces(tmp_path):
    """The container holds 40 packets; its edit list shows frames 6..39 only (what every player plays)."""
    src = encode(tmp_path / "b.mp4", coded_frames(40))
    path = remux(src, tmp_path / "edit.mp4", shift_frames=6)
    assert packets(path) == 40
    r = open_video(path)
    assert r.num_frames == 34 == r.count_frames_by_decoding()
    assert read_index(r.get_frames(range(34))) == list(range(6, 40))
    assert read_index(r.get_frames([33, 0, 20, 21, 5])) == [39, 6, 26, 27, 11]


def test_stream_cut_mid_gop(tmp_path):
    """Packets before the first key frame decode to nothing: the count comes from decoding."""
    src = encode(tmp_path / "b.mp4", coded_frames(40))
    path = remux(src, tmp_path / "cut.mkv", drop_first=5)
    r = open_video(path)
    assert packets(path) == 35 and r.num_frames < 35 and "non-key" in r.corrected
    got = read_index(r.get_frames(range(r.num_frames)))
    assert got == list(range(got[0], got[0] + r.num_frames)) and got[-1] == 39
    assert read_index(r.get_frames([r.num_frames - 1, 2])) == [39, got[2]]


def test_truncated_tail_plays_what_decodes(tmp_path):
    """A faststart mp4 cut at 80%: the index announces the whole clip, the last packet is partial. It opens with
    the frames that decode (at least what a plain decode gives before its error), each the right one."""
    src = encode(tmp_path / "fs.mp4", coded_frames(60), options={"bf": "2", "g": "10"},
                 fmt_options={"movflags": "faststart"})
    data = src.read_bytes()[: int(src.stat().st_size * 0.8)]
    path = tmp_path / "cut.mp4"
    path.write_bytes(data)
    plain = 0
    with av.open(io.BytesIO(data)) as c:
        try:
            for _ in c.decode(video=0):
                plain += 1
        except av.FFmpegError:
            pass
    r = open_video(path)
    assert r.corrected and r.num_frames >= plain > 0
    assert read_index(r.get_frames(range(r.num_frames))) == list(range(r.num_frames))
    with pytest.raises(VideoError, match="out of range"):
        r.get_frames([r.num_frames])


def test_rotation_tag_is_applied(tmp_path):
    """A portrait picture stored landscape with the display matrix a phone held upright writes (-90 degrees: show
    it turned a quarter clockwise, as ffmpeg's autorotate does) comes out portrait, marker top-left."""
    portrait = np.zeros((48, 32, 3), np.uint8)
    portrait[:8, :8] = 250
    stored = np.ascontiguousarray(np.rot90(portrait, k=1))  # (32, 48): the sensor's landscape picture
    path = encode(tmp_path / "rot.mp4", np.stack([stored] * 5), rotation=-90)
    r = open_video(path)
    assert (r.height, r.width) == (48, 32) and r.rotation == 270
    frames = r.get_frames([4, 0])
    assert frames.shape == (2, 48, 32, 3)
    assert frames[:, :8, :8].mean() > 240 and frames[:, -8:, -8:].mean() < 10
    reduced = open_video(path, short_side=16).get_frames([0])
    assert reduced.shape == (1, 24, 16, 3) and reduced[0, :4, :4].mean() > 240


def test_variable_frame_rate_with_b_frames(tmp_path):
    gaps_ms = [40, 40, 120, 40, 80, 40, 200, 40, 40, 40, 80, 40, 40, 120, 40, 40, 40, 40, 40]
    pts_ms = np.concatenate([[0], np.cumsum(gaps_ms)])
    path = encode(tmp_path / "vfr.mp4", coded_frames(len(pts_ms)), pts_ms=pts_ms)
    r = open_video(path)
    assert r.num_frames == len(pts_ms) == r.count_frames_by_decoding()
    assert np.allclose(r.times, pts_ms / 1000.0)
    assert read_index(r.get_frames([19, 0, 7, 8, 3, 13])) == [19, 0, 7, 8, 3, 13]


def test_b_frames_random_access(tmp_path):
    path = encode(tmp_path / "b.mp4", coded_frames(60))
    r = open_video(path)
    assert r.num_frames == 60 and len(r.keyframes) >= 5
    rng = np.random.default_rng(0)
    for _ in range(4):
        idx = rng.integers(0, 60, size=7)
        assert read_index(r.get_frames(idx)) == idx.tolist()


def test_frames_are_reduced_in_the_decoder(tmp_path):
    path = encode(tmp_path / "big.mp4", 10 * coded_frames(6, 240, 320))  # grey 40 * i: a wide margin
    r = open_video(path, short_side=60)
    assert (r.height, r.width, r.source_height, r.source_width) == (60, 80, 240, 320) and r.scale == 0.25
    frames = r.get_frames([5, 1])
    assert frames.shape == (2, 60, 80, 3) and np.round(frames.mean((1, 2, 3)) / 40).tolist() == [5, 1]
    # keypoints in source pixels map onto the reduced frame's pixels (pixel centres scale)
    assert np.allclose(r.to_output_pixels(np.array([[319.0, 239.0], [4.0, 0.0], [0.0, 0.0]])),
                       [[79.375, 59.375], [0.625, -0.375], [0, 0]])  # (0, 0) marks a missing joint
    pts = np.array([[319.0, 239.0], [17.0, 3.0]])
    assert np.allclose(r.to_source_pixels(r.to_output_pixels(pts)), pts)
    assert open_video(path, short_side=1000).get_frames([0]).shape == (1, 240, 320, 3)  # never enlarged


def test_picture_size_limit(tmp_path, monkeypatch):
    path = encode(tmp_path / "wide.mp4", coded_frames(2, 64, 128), options={"preset": "ultrafast"})
    with pytest.raises(VideoError, match=r"wide\.mp4: 128x64 pictures .* limit of 0\.0* ?.*Mpx"):
        open_video(path, max_pixels=64 * 64)
    assert open_video(path, max_pixels=128 * 64).num_frames == 2
    # the streaming decoder of the timeline / live stream / web page holds to the same limit
    from deformer3d.serve.frames import FrameSampler

    monkeypatch.setenv("DEFORMER3D_MAX_VIDEO_PIXELS", str(64 * 64))
    with pytest.raises(VideoError, match=r"wide\.mp4: 128x64 pictures"):
        FrameSampler(path, step_s=0.1)
    with pytest.raises(VideoError, match=r"wide\.mp4: 128x64 pictures"):
        open_video(path)


@pytest.mark.realdata
def test_every_real_clip_opens_frame_exact(realdata):
    """Every clip of videos/ and wild/: the count is what decodes, random access equals a sequential decode."""
    clips = sorted((realdata / "videos").iterdir()) + sorted((realdata / "wild").iterdir())
    assert len(clips) >= 10
    for path in clips:
        r = open_video(path, short_side=96)
        with av.open(str(path)) as c:
            n = sum(1 for _ in c.decode(video=0))
        assert r.num_frames == n, path.name
        picks = sorted({0, n // 3, n // 3 + 1, (2 * n) // 3, n - 1})
        with av.open(str(path)) as c:
            want = {i: f.reformat(width=r.width, height=r.height, format="rgb24", interpolation="AREA").to_ndarray()
                    for i, f in enumerate(c.decode(video=0)) if i in picks}
        got = r.get_frames(picks[::-1])
        for i, frame in zip(picks[::-1], got, strict=True):
            assert np.array_equal(frame, want[i]), (path.name, i)
    pullup = open_video(realdata / "wild" / "pullup.mp4")
    assert (pullup.height, pullup.width) == (640, 360)  # portrait stays portrait
