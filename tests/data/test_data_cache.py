"""The decoded-frame cache (``deformer3d cache``, ``data.cache_dir``): lossless, so a clip read through it is the
same tensor as one decoded from the video; resumable; keyed by file version and decode size."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from deformer3d.config import DataConfig
from deformer3d.data.cache import CachedVideo, entry_paths, open_frames, write_entry
from deformer3d.data.dataset import build_dataset
from deformer3d.data.synthetic import CLASSES, write_synthactions
from deformer3d.data.video import VideoReader, open_video


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthcache")
    write_synthactions(out, num_clips=3 * len(CLASSES), seed=0, size=48, frame_range=(5, 12), workers=1,
                       progress=False)  # fmt: skip
    return out


def _cfg(root, **kw):
    base = dict(format="synth", root=str(root), num_frames=6, image_size=32, resize_short=36, sampler="equidistant")
    return DataConfig(**{**base, **kw})


def test_cached_frames_equal_decoded_frames(synth_root, tmp_path):
    video = sorted((synth_root / "videos").glob("*.mp4"))[0]
    path, size = write_entry(video, 36, tmp_path)
    cached = open_frames(video, 36, str(tmp_path))
    assert isinstance(cached, CachedVideo) and size == path.stat().st_size
    direct = open_video(video, short_side=36)
    assert (cached.num_frames, cached.height, cached.width) == (direct.num_frames, direct.height, direct.width)
    idx = [3, 0, 3, direct.num_frames - 1]
    np.testing.assert_array_equal(cached.get_frames(idx), direct.get_frames(idx))
    kp = np.array([[[10.0, 20.0], [0.0, 0.0]]], np.float32)
    np.testing.assert_array_equal(cached.to_output_pixels(kp), direct.to_output_pixels(kp))
    # another decode size is another entry; without an entry the video itself is opened
    assert isinstance(open_frames(video, 40, str(tmp_path)), VideoReader)
    assert isinstance(open_frames(video, 36, None), VideoReader)


def test_entries_resume_and_follow_the_file_version(synth_root, tmp_path):
    video = sorted((synth_root / "videos").glob("*.mp4"))[1]
    path, _ = write_entry(video, 36, tmp_path)
    before = path.stat().st_mtime_ns
    assert write_entry(video, 36, tmp_path)[0] == path and path.stat().st_mtime_ns == before  # skipped: resume
    assert not list(tmp_path.glob(".*tmp*"))  # no temporaries left behind
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(video.read_bytes())
    first = entry_paths(tmp_path, copy, 36)[0]
    os.utime(copy, ns=(before + 10**9, before + 10**9))  # edited file: new key, the old entry is not read
    assert entry_paths(tmp_path, copy, 36)[0] != first


@pytest.mark.parametrize("stage", ["train", "test"])
def test_dataset_reads_the_cache_with_identical_samples(synth_root, tmp_path, stage):
    plain = build_dataset(_cfg(synth_root), stage, need_video=True, need_pose=True)
    cached = build_dataset(_cfg(synth_root, cache_dir=str(tmp_path)), stage, need_video=True, need_pose=True)
    from deformer3d.data.cache_build import _short_sides_for

    for rec, short in _short_sides_for(cached):
        write_entry(rec.video, short, tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == len(cached)
    for i in range(len(plain)):
        torch.manual_seed(i)  # training draws its crops from torch's RNG (seeded per worker by the DataLoader)
        a = plain[i]
        torch.manual_seed(i)
        b = cached[i]
        assert torch.equal(a["video"], b["video"]) and torch.equal(a["pose"], b["pose"])
