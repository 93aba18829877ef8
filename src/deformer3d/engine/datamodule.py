"""LightningDataModule over :func:`deformer3d.data.build_dataset`, with per-epoch seeding for exact resume.

A run resumed at epoch k must see the same batches, augmentations and dropout masks as a run that never stopped.
Lightning restores the model, optimiser, scheduler and loop counters, but not the random number generators, and
it creates (and prefetches from) the epoch's data iterator at different points for a fresh and a resumed epoch -
for a resumed one before its epoch counter is restored. So the datamodule counts the training epochs it has started
(saved in the checkpoint as its state) and the training loader re-seeds everything random from
``(seed, epoch, rank)`` when its iterator is created: the sample order (a
:class:`~torch.utils.data.DistributedSampler`, also with one process), the worker seeds (through the loader's
generator) and the main-process RNGs (``torch``, ``numpy``, ``random``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from deformer3d.config import DataConfig
from deformer3d.errors import DataFormatError


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """One 31-bit seed per (run seed, epoch, rank)."""
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % (2**31 - 1)


class EpochSeededLoader(DataLoader):
    """A DataLoader whose every epoch starts from RNG state ``epoch_seed(seed, epoch(), rank)``.

    ``epoch`` is called once per iterator (= once per training epoch) and returns that epoch's number.
    """

    def __init__(self, dataset: Dataset, *, seed: int, epoch: Callable[[], int], rank: int, **kwargs: Any):
        self._seed = seed
        self._epoch = epoch
        self._rank = rank
        super().__init__(dataset, generator=torch.Generator(), **kwargs)

    def __iter__(self):
        epoch = int(self._epoch())
        s = epoch_seed(self._seed, epoch, self._rank)
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(epoch)
        self.generator.manual_seed(s)  # -> worker seeds (base_seed is drawn from this generator)
        torch.manual_seed(s)  # -> dropout / drop-path and augmentations when num_workers == 0
        np.random.seed(s)
        random.seed(s)
        return super().__iter__()


def carve_validation(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified ``(train_indices, val_indices)``: ``round(fraction * n_c)`` (at least 1) of each class c with
    n_c >= 2 goes to validation; deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(int(y), []).append(i)
    train, val = [], []
    for y in sorted(by_class):
        idx = by_class[y]
        idx = [idx[j] for j in rng.permutation(len(idx))]
        n_val = max(1, round(fraction * len(idx))) if len(idx) >= 2 else 0
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


class ClassSubset(Subset):
    """A :class:`Subset` that keeps the dataset's ``class_names`` / ``num_classes``."""

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    @property
    def num_classes(self) -> int:
        return self.dataset.num_classes


def check_dataset(ds: Dataset, cfg: DataConfig, stage: str) -> None:
    """A split with no samples is a configuration problem: say which split of which file."""
    if len(ds) == 0:
        split = cfg.splits.get(stage, stage)
        raise DataFormatError(
            f"the '{stage}' split (split name '{split}' in {cfg.ann_file or cfg.root}) has no samples; "
            f"check data.splits (now {dict(cfg.splits)}) and the annotation file"
        )


class ActionDataModule(L.LightningDataModule):
    """Train / val / test datasets for one experiment.

    Args:
        cfg: the ``data:`` section.
        need_video / need_pose: from the model's ``uses_video`` / ``uses_pose``.
        seed: the run seed (sample order and augmentations per epoch derive from it).
    """

    def __init__(self, cfg: DataConfig, *, need_video: bool, need_pose: bool, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.need_video = need_video
        self.need_pose = need_pose
        self.seed = seed
        self.datasets: dict[str, Dataset] = {}
        self.epochs_started = 0  # training iterators created so far = the next epoch's number

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_started": self.epochs_started}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs_started = int(state_dict.get("epochs_started", 0))

    def _next_epoch(self) -> int:
        epoch = self.epochs_started
        self.epochs_started += 1
        return epoch

    def dataset(self, stage: str) -> Dataset:
        """The dataset of ``stage`` ('train' | 'val' | 'test'), built once."""
        if stage not in self.datasets:
            from deformer3d.data import build_dataset

            if self.cfg.val_fraction > 0 and stage in ("train", "val"):
                self.datasets[stage] = self._carved(stage)
            else:
                ds = build_dataset(self.cfg, stage, need_video=self.need_video, need_pose=self.need_pose)
                check_dataset(ds, self.cfg, stage)
                self.datasets[stage] = ds
        return self.datasets[stage]

    def _carved(self, stage: str) -> Dataset:
        """Train / val as disjoint stratified parts of the training split (``data.val_fraction``); the val part
        reads the training records with evaluation transforms (no augmentation)."""
        from dataclasses import replace

        from deformer3d.data import build_dataset

        train_split = self.cfg.splits.get("train", "train")
        cfg = replace(self.cfg, splits={**self.cfg.splits, "val": train_split})
        ds = build_dataset(cfg, stage, need_video=self.need_video, need_pose=self.need_pose)
        check_dataset(ds, cfg, stage)
        train_idx, val_idx = carve_validation(ds.labels, self.cfg.val_fraction, self.cfg.split_seed)
        return ClassSubset(ds, train_idx if stage == "train" else val_idx)

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset("train").class_names)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit"):
            self.dataset("train")
            self.dataset("val")
        if stage in (None, "test"):
            self.dataset("test")

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = self.cfg.num_workers
        return {
            "batch_size": self.cfg.batch_size,
            "num_workers": workers,
            "pin_memory": torch.cuda.is_available(),
        }

    def train_dataloader(self) -> DataLoader:
        ds = self.dataset("train")
        rank, world = self._rank_world()
        # the same sampler for 1 or N processes: its order depends only on (seed, epoch), and with N processes
        # each rank takes its own share (Lightning's automatic sampler injection is switched off in train.py)
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=self.seed, drop_last=True)
        return EpochSeededLoader(
            ds,
            seed=self.seed,
            epoch=self._next_epoch,
            rank=rank,
            sampler=sampler,
            drop_last=len(sampler) > self.cfg.batch_size,  # keep the last partial batch only for tiny sets
            # fresh workers each epoch so their RNG derives from the epoch seed (needed for exact resume)
            persistent_workers=False,
            **self._loader_kwargs(),
        )

    def _eval_loader(self, stage: str) -> DataLoader:
        ds = self.dataset(stage)
        rank, world = self._rank_world()
        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=False) if world > 1 else None
        return DataLoader(ds, sampler=sampler, shuffle=False, **self._loader_kwargs())

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
