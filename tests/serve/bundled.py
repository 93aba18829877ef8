"""The bundled Penn Action model (package data), or a clear skip while it is not shipped yet."""

from __future__ import annotations

from pathlib import Path

import pytest

import deformer3d

BUNDLED = Path(deformer3d.__file__).parent / "pretrained" / "penn-action-pose"


def bundled_model() -> Path:
    if not (BUNDLED / "config.json").is_file() or not (BUNDLED / "model.safetensors").is_file():
        pytest.skip(f"the bundled Penn Action model is not in the package yet ({BUNDLED}: config.json + "
                    "model.safetensors); its label tests run once it ships")
    return BUNDLED
