"""Errors that are the user's to fix. The CLI prints them as one clear line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: a missing file, an unreadable video, a malformed annotation. Say which and what to do."""


class VideoError(UserError):
    """A video that cannot be opened or decoded (corrupt, truncated, zero frames)."""


class DataFormatError(UserError):
    """An annotation or skeleton file that does not match its format."""


class ModelInputError(UserError, ValueError):
    """A tensor given to a model with the wrong shape, dtype or values."""
