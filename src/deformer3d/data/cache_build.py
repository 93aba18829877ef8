"""``deformer3d cache CONFIG``: fill ``data.cache_dir`` with every video of a dataset's stages, at the size each
stage decodes it at. Apart from :mod:`deformer3d.data.cache` (what the dataset reads), because building needs the
dataset and the dataset needs the reader: one direction of imports each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deformer3d.data.cache import entry_paths, write_entry
from deformer3d.data.dataset import build_dataset, decode_short_side, uses_person_crop


def cache_dataset(
    config_path: str | Path, overrides: list[str] | None = None, stages: Sequence[str] = ("train", "val", "test"),
    progress: bool = True,
) -> dict[str, int]:
    """``deformer3d cache``: decode every video of the config's ``stages`` into ``data.cache_dir`` at the short
    side each stage decodes at; entries already there are skipped (resume). Returns counts and bytes."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from deformer3d.config import ConfigError, load_config
    from deformer3d.data.validate import _needs

    cfg = load_config(config_path, overrides or [], check_hardware=False)
    if not cfg.data.cache_dir:
        raise ConfigError(f"{config_path}: data.cache_dir is empty; give the folder for the decoded frames, e.g. "
                          "`deformer3d cache CONFIG data.cache_dir=cache/NAME` (and the same key when training)")  # fmt: skip
    need_video, need_pose = _needs(dict(cfg.model))
    if not need_video:
        raise ConfigError(f"{config_path}: model '{cfg.model.get('name')}' (modality {cfg.model.get('modality')}) "
                          "reads no frames: there is nothing to cache")  # fmt: skip
    jobs: dict[tuple[str, int], None] = {}
    for stage in stages:
        data = build_dataset(cfg.data, stage, need_video=True, need_pose=need_pose)
        jobs.update({(str(rec.video), short): None for rec, short in _short_sides_for(data)})
    counts = {"videos": len(jobs), "cached": 0, "written": 0, "bytes": 0}
    console = Console(stderr=True)
    columns = [TextColumn("caching"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not progress) as bar:
        task = bar.add_task("cache", total=len(jobs))
        for video, short in jobs:
            existed = entry_paths(cfg.data.cache_dir, video, short)[0].is_file()
            _, size = write_entry(video, short, cfg.data.cache_dir)
            counts["cached" if existed else "written"] += 1
            counts["bytes"] += size
            bar.advance(task)
    console.print(f"{counts['videos']} videos in {cfg.data.cache_dir}: {counts['written']} decoded now, "
                  f"{counts['cached']} already cached, {counts['bytes'] / 2**30:.2f} GiB")  # fmt: skip
    return counts


def _short_sides_for(data) -> list[tuple[Any, int]]:
    """``(record, short side)`` of every sample of an :class:`ActionDataset`: the size its ``_load`` decodes at."""

    person = uses_person_crop(data.cfg, data.spec.need_pose)
    short = decode_short_side(data.cfg, data.spec.train, person_crop=person)
    return [(rec, short) for rec in data.records]
