"""``deformer3d train``: config -> Lightning Trainer -> checkpoints -> test-split evaluation and report.

Run folder (``trainer.out_dir``)::

    config.yaml              the resolved config (all defaults and overrides filled in)
    checkpoints/best.ckpt    best validation top-1
    checkpoints/last.ckpt    end of the latest epoch (``--resume last`` continues from it)
    tb/                      TensorBoard logs (``tensorboard --logdir <out_dir>/tb``)
    history.json             per-epoch metrics (for the training-curve plot)
    eval/                    results.json, report.md, confusion matrix PNG/CSV, per-class CSV, plots

Several GPUs / nodes: ``trainer.devices=4 trainer.strategy=ddp`` (and ``trainer.num_nodes`` under SLURM, where
Lightning reads the SLURM environment of ``srun``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
    WeightAveraging,
)
from lightning.pytorch.loggers import TensorBoardLogger

from deformer3d.config import ExperimentConfig, load_config, save_config
from deformer3d.engine.checkpoint import (
    CheckpointError,
    SafeCheckpointIO,
    check_resumable,
    remove_interrupted_writes,
)
from deformer3d.engine.datamodule import ActionDataModule
from deformer3d.engine.module import ActionModule
from deformer3d.engine.precision import resolve_precision

MONITOR = "val/top1"


class History(Callback):
    """Per-epoch metrics in ``history.json`` (rank 0), with ``time/epoch_s``: the epoch's wall seconds from its
    first batch's loading to its end (validation included in the epochs where it runs). The rows also live in the
    checkpoint (callback state), so a resumed run continues the same history."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = []
        self._epoch_start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # runs before the checkpoint callbacks of this hook (Lightning orders those last): the saved state has it
        epoch = trainer.current_epoch
        row: dict[str, float] = {"epoch": epoch, "step": trainer.global_step}
        for k, v in trainer.callback_metrics.items():
            if not k.endswith("_step"):
                row[k.removesuffix("_epoch")] = float(v)
        if self._epoch_start is not None:
            row["time/epoch_s"] = time.perf_counter() - self._epoch_start
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        if trainer.is_global_zero:  # replaced atomically: readers (plots, a watching user) never see half a file
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.rows, indent=1))
            os.replace(tmp, self.path)


class EpochAverage(WeightAveraging):
    """The uniform mean of the weights at the end of each epoch from ``start_epoch`` on (``trainer.average_from_epoch``).
    Validation and the checkpoints see the mean (the running weights ride along in the checkpoint, so ``--resume``
    continues both); after the last epoch the model holds it."""

    def __init__(self, start_epoch: int) -> None:
        super().__init__(use_buffers=True)
        self.start_epoch = start_epoch

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return epoch_idx is not None and epoch_idx >= self.start_epoch


def resolve_resume(resume: str | Path | None, ckpt_dir: Path) -> Path | None:
    if resume is None or str(resume) == "":
        return None
    path = ckpt_dir / "last.ckpt" if str(resume) == "last" else Path(resume)
    if not path.is_file():
        raise CheckpointError(f"--resume: checkpoint not found: {path}")
    return path


def build_trainer(cfg: ExperimentConfig, run_dir: Path, *, max_steps: int = -1) -> L.Trainer:
    """The Lightning Trainer for ``cfg``, logging and checkpointing under ``run_dir``."""
    t = cfg.trainer
    ckpt_dir = run_dir / "checkpoints"
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=MONITOR,
        mode="max",
        save_top_k=1,
        enable_version_counter=False,  # one best.ckpt per run, overwritten when validation improves
        auto_insert_metric_name=False,
    )
    # "last" as its own callback: Lightning 2.6's save_last only writes when a top-k checkpoint was written
    last = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="last",
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [best, last, LearningRateMonitor("step"), History(run_dir / "history.json")]
    if t.average_from_epoch >= 0:
        callbacks.append(EpochAverage(t.average_from_epoch))
    if t.progress:
        callbacks.append(RichProgressBar(leave=True))
    return L.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=resolve_precision(cfg),
        max_epochs=t.max_epochs,
        max_steps=max_steps,
        deterministic=t.deterministic,
        default_root_dir=run_dir,
        logger=TensorBoardLogger(save_dir=str(run_dir), name="tb", version=""),
        callbacks=callbacks,
        plugins=[SafeCheckpointIO()],
        log_every_n_steps=t.log_every_n_steps,
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches,
        accumulate_grad_batches=t.accumulate_grad_batches,
        gradient_clip_val=cfg.optim.grad_clip or None,
        enable_progress_bar=t.progress,
        enable_model_summary=t.progress,
        num_sanity_val_steps=0,  # a sanity pass would consume RNG state differently on resume
        use_distributed_sampler=False,  # the datamodule shards with its own epoch-seeded sampler
    )


def train_from_config(
    config_path: str | Path | None,
    overrides: list[str] | None = None,
    resume: str | Path | None = None,
    *,
    evaluate: bool = True,
    cfg: ExperimentConfig | None = None,
) -> dict[str, Any]:
    """Train the experiment of ``config_path`` (+ dot-list ``overrides``), then evaluate the best checkpoint.

    ``resume``: a checkpoint path, or ``"last"`` for ``<out_dir>/checkpoints/last.ckpt``; training continues
    exactly where it stopped (same batches, augmentations and schedule as an uninterrupted run).
    Returns ``{"run_dir", "best", "last", "results"}`` (results of the test-split evaluation, or None).
    """
    cfg = cfg or load_config(config_path, overrides)
    run_dir = Path(cfg.trainer.out_dir).resolve()
    resume_path = resolve_resume(resume, run_dir / "checkpoints")
    for tmp in remove_interrupted_writes(run_dir / "checkpoints"):
        from rich.console import Console

        Console(stderr=True).print(f"note: removed {tmp}, the temporary file of an interrupted checkpoint write")
    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    created = not run_dir.exists()
    try:
        datamodule, module = build_module_and_data(cfg)
        if resume_path is not None:
            check_resumable(resume_path, module)
        run_dir.mkdir(parents=True, exist_ok=True)
        trainer = build_trainer(cfg, run_dir)
        if trainer.is_global_zero:
            save_config(cfg, run_dir / "config.yaml")
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume_path) if resume_path else None)
    except BaseException:
        # a run that failed before its first checkpoint leaves nothing behind (only what this call wrote)
        first_process = all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "NODE_RANK"))
        if created and first_process and not any(run_dir.rglob("*.ckpt")):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise

    ckpt_cb = trainer.checkpoint_callback
    best = Path(ckpt_cb.best_model_path) if ckpt_cb and ckpt_cb.best_model_path else None
    last = run_dir / "checkpoints" / "last.ckpt"
    results = None
    if evaluate and trainer.is_global_zero:
        from rich.console import Console

        from deformer3d.engine.evaluate import evaluate_checkpoint, print_summary, resolve_checkpoint

        # what `deformer3d test` would pick; a run that never validated has no best.ckpt
        choice = "last" if cfg.eval.checkpoint == "best" and not (best and best.is_file()) else None
        results = evaluate_checkpoint(cfg, resolve_checkpoint(cfg, choice), run_dir / "eval")
        print_summary(results, Console())
    return {"run_dir": run_dir, "best": best, "last": last, "results": results, "trainer": trainer}


def build_module_and_data(cfg: ExperimentConfig) -> tuple[ActionDataModule, ActionModule]:
    """The datamodule and the LightningModule of ``cfg`` (the model decides which modalities are loaded)."""
    from deformer3d.data.preprocessing import preprocessing_of
    from deformer3d.models import build_model
    from deformer3d.models.inputs import uses_pose, uses_video

    # the class list comes from the training split; the model tells which inputs it needs
    probe_model = build_model(dict(cfg.model), max(cfg.data.num_classes, 2))
    need_video, need_pose = uses_video(probe_model), uses_pose(probe_model)
    del probe_model
    # seeded after the probe so the weights depend only on trainer.seed
    L.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
    datamodule = ActionDataModule(cfg.data, need_video=need_video, need_pose=need_pose, seed=cfg.trainer.seed)
    class_names = datamodule.class_names
    datamodule.dataset("val")  # a bad or empty validation split fails here, before the Trainer starts
    module = ActionModule(
        model_cfg=dict(cfg.model),
        num_classes=len(class_names),
        class_names=class_names,
        optim=asdict(cfg.optim),
        data_info=preprocessing_of(cfg.data),
    )
    if cfg.trainer.compile:
        module.model.compile()  # in place: state-dict keys stay those of the plain model
    return datamodule, module
