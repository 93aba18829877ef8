"""Shared fixtures: offline hub, headless plotting, the real-data folder (skip with a reason when absent)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

from deformer3d.config import REALDATA_ENV, realdata_root  # noqa: E402

pytest_plugins = ["engine_fixtures"]  # the `tiny` skeleton-dataset fixture shared by the engine and CLI tests


@pytest.fixture(scope="session")
def realdata():
    """Path to ../shared/realdata (or $DEFORMER3D_REALDATA); skips the test when it is absent."""
    root = realdata_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set {REALDATA_ENV} to its location)")
    return root
