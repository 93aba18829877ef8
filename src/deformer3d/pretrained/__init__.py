"""Models that ship with the package: each a model folder (``config.json``, ``model.safetensors``, ``README.md``
card) under this package, loadable by name wherever a model folder is expected.

    from deformer3d.pretrained import resolve_model
    Predictor(resolve_model(None))                 # the default: the Penn Action skeleton model
    resolve_model("penn-action-pose")              # a bundled model by name
    resolve_model("runs/demo/model")               # any other folder is passed through

Each folder's card says what it was trained on, how (the command that rebuilds it) and how well it does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from deformer3d.errors import UserError

DEFAULT_MODEL = "penn-action-pose"  # recognises real people: 15 sports / exercise classes from 2D skeletons


def bundled_models() -> dict[str, Path]:
    """Name -> folder of every model shipped inside the package."""
    root = Path(str(files(__name__)))
    return {p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()}


def resolve_model(model: str | Path | None) -> Path:
    """A model folder for ``model``: ``None`` = :data:`DEFAULT_MODEL`, a bundled model's name, or a path."""
    if model is None:
        model = DEFAULT_MODEL
    bundled = bundled_models()
    if str(model) in bundled and not Path(model).exists():
        return bundled[str(model)]
    if model == DEFAULT_MODEL:
        raise UserError(
            f"the bundled model '{DEFAULT_MODEL}' is missing from this installation ({Path(str(files(__name__)))}); "
            "reinstall deformer3d, or pass --model FOLDER"
        )
    return Path(model)


__all__ = ["DEFAULT_MODEL", "bundled_models", "resolve_model"]
