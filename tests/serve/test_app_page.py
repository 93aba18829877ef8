"""The Streamlit page through streamlit.testing.v1.AppTest: real clip -> five predictions; bad uploads -> clear
messages; a model that fails to load -> warning + fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from exported_models import make_exported

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import deformer3d.serve.app as app_module  # noqa: E402

APP = str(Path(app_module.__file__))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {kind: make_exported(root / kind, kind) for kind in ("rgb_pose", "timesformer")}


def _page(monkeypatch, dirs, max_mb=None):
    monkeypatch.setenv(app_module.MODEL_DIRS_ENV, ":".join(str(d) for d in dirs))
    if max_mb is not None:
        monkeypatch.setenv(app_module.MAX_UPLOAD_ENV, str(max_mb))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.realdata
def test_real_clip_gives_five_predictions_and_figures(realdata, models, monkeypatch):
    at = _page(monkeypatch, [models["rgb_pose"]])
    clip = realdata / "videos" / "mmaction2_rawvideo_part_0.mp4"
    at.file_uploader[0].upload(clip.name, clip.read_bytes(), "video/mp4")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    bars = at.progress
    assert len(bars) == 5
    texts = [b.proto.text for b in bars]
    assert all("%" in t for t in texts)
    values = [b.value for b in bars]  # confidence bars in percent, best first
    assert values == sorted(values, reverse=True) and 0 < sum(values) <= 100 + 5  # rounding per bar
    # frames + skeleton, deformable points, joint attention
    assert len(at.get("image")) == 3
    headers = [h.value for h in at.subheader]
    assert "Where the model looked" in headers and any("skeleton" in h for h in headers)


def test_text_file_upload_gets_a_clear_error(models, monkeypatch):
    at = _page(monkeypatch, [models["timesformer"]])
    at.file_uploader[0].upload("notes.txt", b"hello, this is not a video", "text/plain")
    at.run()
    assert not at.exception
    assert any("notes.txt is not a video file" in e.value for e in at.error)
    assert len(at.progress) == 0


def test_undecodable_video_gets_a_clear_error(models, monkeypatch):
    at = _page(monkeypatch, [models["timesformer"]])
    at.file_uploader[0].upload("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(200), "video/mp4")
    at.run()
    assert not at.exception
    assert any("Could not use broken.mp4" in e.value for e in at.error)


def test_upload_over_the_limit_is_refused(models, monkeypatch):
    at = _page(monkeypatch, [models["timesformer"]], max_mb=0.001)
    at.file_uploader[0].upload("big.mp4", bytes(4096), "video/mp4")
    at.run()
    assert any("the limit is" in e.value for e in at.error)


def test_model_that_fails_to_load_warns_and_falls_back(models, tmp_path, monkeypatch):
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    at = _page(monkeypatch, [broken, models["timesformer"]])
    warnings = [w.value for w in at.warning]
    assert any("broken_model" in w and "could not be loaded" in w for w in warnings)
    assert any("Using 'timesformer' instead" in w for w in warnings)
    assert not at.error
