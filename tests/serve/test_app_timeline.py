"""The web page shows a timeline for uploads longer than one window, and none for short ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deformer3d.data.video import write_video
from exported_models import make_exported

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import deformer3d.serve.app as app_module  # noqa: E402

APP = str(Path(app_module.__file__))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_exported(tmp_path_factory.mktemp("models") / "timesformer", "timesformer")


def _upload(monkeypatch, model, seconds: float, tmp_path) -> AppTest:
    n = int(seconds * 30)
    frames = np.zeros((n, 96, 128, 3), np.uint8)
    frames[:, :, :64] = (np.arange(n) * 7 % 256).astype(np.uint8)[:, None, None, None]
    write_video(tmp_path / "clip.mp4", frames, fps=30)
    monkeypatch.setenv(app_module.MODEL_DIRS_ENV, str(model))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.file_uploader[0].upload("clip.mp4", (tmp_path / "clip.mp4").read_bytes(), "video/mp4")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_a_long_upload_gets_a_timeline(model, monkeypatch, tmp_path):
    at = _upload(monkeypatch, model, 6.0, tmp_path)
    assert "Timeline" in [h.value for h in at.subheader]
    table = at.dataframe[0].value
    assert list(table.columns) == ["start", "end", "label", "confidence", "track"]
    assert table["start"].iloc[0] == 0.0 and table["end"].iloc[-1] == pytest.approx(6.0)
    assert any("windows of 2 s every 1 s" in c.value for c in at.caption)


def test_a_short_upload_gets_no_timeline(model, monkeypatch, tmp_path):
    at = _upload(monkeypatch, model, 1.5, tmp_path)
    assert "Timeline" not in [h.value for h in at.subheader]
    assert len(at.progress) == 5  # the top-5 as before
