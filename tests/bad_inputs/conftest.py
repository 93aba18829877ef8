"""Fixtures of the bad-input suite (the checks themselves are in contract.py)."""

from __future__ import annotations

import lightning.pytorch  # noqa: F401  imported before any CliRunner: its log handler then binds to the real
import pytest  # stderr, not to the first in-process run's captured stream (closed when that run ends)
from contract import refused


@pytest.fixture()
def cli():
    """``cli(*args, names=[...])``: run ``deformer3d ARGS`` and assert the one-line refusal naming ``names``."""
    return refused
