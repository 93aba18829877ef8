"""One registry idiom for everything chosen by name in a config or on the command line (models, dataset formats,
pose backends): a name maps to an object registered now, or to a ``"module:attribute"`` imported on first use,
so heavy dependencies (transformers, MediaPipe) load only when their name is asked for.

    MODELS = Registry("model.name", ConfigError)
    MODELS.register("deformer3d", build_deformer3d)
    MODELS.register_lazy("vivit", "deformer3d.models.hf_video:build_vivit")
    MODELS.get("vivit")          # imports hf_video; an unknown name -> ConfigError listing the available ones
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from deformer3d.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind. ``what`` names the setting in messages (``model.name``, ``data.format``);
    ``error`` is the :class:`UserError` subclass raised for an unknown or unavailable name."""

    def __init__(self, what: str, error: Callable[[str], UserError] = UserError):
        self.what = what
        self.error = error
        self._objects: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def register(self, name: str, obj: T) -> None:
        """Make ``get(name)`` return ``obj``; re-registering a name replaces it."""
        self._objects[name] = obj

    def register_lazy(self, name: str, target: str) -> None:
        """Make ``get(name)`` import ``target`` (``"package.module:attribute"``) the first time it is asked for."""
        self._lazy[name] = target

    def names(self) -> list[str]:
        return sorted(set(self._objects) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        return name in self._objects or name in self._lazy

    def get(self, name: str) -> T:
        if name not in self._objects and name in self._lazy:
            module, _, attr = self._lazy[name].partition(":")
            try:
                self._objects[name] = getattr(importlib.import_module(module), attr)
            except ModuleNotFoundError as exc:
                raise self.error(f"{self.what}={name!r} needs {module}, which is not available ({exc})") from None
        if name not in self._objects:
            raise self.error(f"unknown {self.what}={name!r}; available: {', '.join(self.names())}")
        return self._objects[name]
