"""Headless matplotlib, one figure saver: every PNG the package and the benchmarks write goes through here.

``new_figure`` makes a figure on the Agg backend (no display needed: tests, servers, benchmark workers);
``save_figure`` lays it out, writes the PNG (creating the folder) and closes it; ``figure_png`` renders one to
PNG bytes (the explanation sheet stacks several).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.8):
    """``(fig, axes (nrows, ncols))``: a figure of ``ncols x nrows`` panels, each ``width x height`` inches."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def save_figure(fig, path: str | Path, dpi: int = DPI) -> Path:
    """Lay out (tight, unless the figure has its own layout engine), write ``path`` (its folder is created), close
    ``fig``; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def figure_png(fig, dpi: int = DPI) -> bytes:
    """``fig`` as PNG bytes; closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
