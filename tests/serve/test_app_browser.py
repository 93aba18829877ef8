"""The served page in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium, never downloaded)."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from exported_models import make_exported

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.realdata]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {timeout:.0f} s")


def _serve(models):
    """Start the page on a free port for ``models``; yields its URL and stops it afterwards."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)")
    pytest.importorskip("playwright")
    from deformer3d.serve.app import serve

    port = _free_port()
    proc = serve(models, host="127.0.0.1", port=port, max_upload_mb=50, wait=False)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


@pytest.fixture
def served_page(tmp_path):
    yield from _serve([make_exported(tmp_path / "rgb_pose_model", "rgb_pose")])


def test_browser_upload_shows_prediction_and_screenshot(served_page, realdata, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = realdata / "videos" / "stgcn_ta_chi.mp4"
    shot = tmp_path / "page.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.goto(served_page, wait_until="domcontentloaded")
            page.get_by_text("Upload a video to see the model's prediction.").wait_for(timeout=120_000)
            page.locator("input[type=file]").set_input_files(str(clip))
            page.get_by_text("Where the model looked").wait_for(timeout=240_000)
            bars = page.locator('[data-testid="stProgress"]')
            bars.nth(4).wait_for(timeout=60_000)
            assert bars.count() == 5
            # the script has finished when Streamlit's "running" status widget is gone; then every figure is
            # in the page, and the images have loaded once the network is idle
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=240_000)
            page.wait_for_load_state("networkidle")
            page.get_by_text("Joint attention").wait_for(timeout=60_000)
            page.wait_for_function(
                "[...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                ".every(img => img.complete && img.naturalWidth > 0)",
                timeout=60_000,
            )
            assert page.locator('[data-testid="stAlert"]').count() == 0 or not page.get_by_text("error").count()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("DEFORMER3D_SCREENSHOT_DIR"):  # keep a copy for looking at it
        target = Path(os.environ["DEFORMER3D_SCREENSHOT_DIR"]) / "web_page.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shot.read_bytes())


@pytest.fixture
def served_bundled():
    """The page as `deformer3d serve` starts it with no --model: the bundled models."""
    pytest.importorskip("mediapipe")
    from bundled import bundled_model
    from deformer3d.pretrained import bundled_models

    bundled_model()  # skips while the model is not shipped
    yield from _serve(list(bundled_models().values()))


def test_browser_bundled_model_on_a_real_pushup_video(served_bundled, realdata, tmp_path):
    """A real phone-style clip uploaded to the page started without --model: the bundled Penn Action model answers
    with its 15 classes, and the frames shown hold the person with the skeleton drawn on the body (the same pose the
    predictor returns lies inside the frames: checked on the Prediction; look at the screenshot for the overlay)."""
    from playwright.sync_api import sync_playwright

    from bundled import bundled_model
    from deformer3d.serve.predictor import Predictor

    clip = realdata / "wild" / "pushup.mp4"
    shot = tmp_path / "bundled_page.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.goto(served_bundled, wait_until="domcontentloaded")
            # the sidebar's summary of the selected model (the select box's own text is not in the page's text)
            page.get_by_text("deformer3d (pose), 15 classes").first.wait_for(timeout=120_000)
            page.locator("input[type=file]").set_input_files(str(clip))
            page.get_by_text("Sampled frames and skeleton").wait_for(timeout=300_000)
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=300_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_function(
                "[...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                ".every(img => img.complete && img.naturalWidth > 0)",
                timeout=60_000,
            )
            assert page.locator('[data-testid="stProgress"]').count() >= 5
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    predictor = Predictor(bundled_model())
    try:
        result = predictor.predict(clip)
    finally:
        predictor.close()
    assert result.pose is not None and len(predictor.labels) == 15
    present = result.pose[..., 2] > 0
    assert present.mean() > 0.8  # the person is found in the frames shown
    xy = result.pose[..., :2][present]
    assert (xy >= 0).all() and (xy <= 1).all()  # and the skeleton lies inside the frames
    if os.environ.get("DEFORMER3D_SCREENSHOT_DIR"):
        target = Path(os.environ["DEFORMER3D_SCREENSHOT_DIR"]) / "web_page_bundled.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shot.read_bytes())
