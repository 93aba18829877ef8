"""``python -m benchmarks --suite NAME [--out DIR] [--no-train] [--jobs N]`` (run inside the repository)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from benchmarks.runner import main  # noqa: E402

if __name__ == "__main__":
    main()
