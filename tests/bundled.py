"""The bundled Penn Action model (package data), or a clear skip while it is not shipped yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from deformer3d.pretrained import DEFAULT_MODEL, bundled_models


def bundled_model() -> Path:
    models = bundled_models()
    if DEFAULT_MODEL not in models or not (models[DEFAULT_MODEL] / "model.safetensors").is_file():
        pytest.skip(f"the bundled model '{DEFAULT_MODEL}' is not in the package yet (deformer3d/pretrained/"
                    f"{DEFAULT_MODEL}: config.json + model.safetensors); its label tests run once it ships")
    return models[DEFAULT_MODEL]
