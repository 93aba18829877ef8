"""Fixtures of the bad-input suite (the checks themselves are in contract.py)."""

from __future__ import annotations

import pytest
from contract import refused


@pytest.fixture()
def cli():
    """``cli(*args, names=[...])``: run ``deformer3d ARGS`` and assert the one-line refusal naming ``names``."""
    return refused
