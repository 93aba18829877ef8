"""Config values of the right type that cannot work are refused when the config loads, before any data is read."""

from __future__ import annotations

import pytest
from contract import run_cli, snapshot

from engine_fixtures import write_config

pytestmark = pytest.mark.bad_inputs

BAD_VALUES = [
    "data.batch_size=0",
    "data.batch_size=-4",
    "data.num_workers=-1",
    "optim.lr=-0.001",
    "optim.lr=0",
    "trainer.max_epochs=-2",
    "trainer.accelerator=tpu",
    "data.sampler=sometimes",
    "data.test_sampler=sometimes",
    "data.num_frames=0",
    "eval.crops=2",
    "eval.clips=0",
    "data.layout=coco18",
    "data.format=csv",
    "data.max_persons=0",
    "data.frame_interval=0",
    "data.image_size=0",
    "data.val_fraction=1.0",
    "data.random_crop_scale=[0.9,0.2]",
    "optim.name=adam",
    "optim.scheduler=step",
    "optim.label_smoothing=1.5",
    "optim.grad_clip=-1",
    "trainer.precision=8-bit",
    "trainer.devices=0",
    "trainer.limit_train_batches=0",
    "trainer.accumulate_grad_batches=0",
    "eval.frame_sweep=[4,0]",
]


@pytest.mark.parametrize("override", BAD_VALUES)
def test_bad_value_refused_at_load(tiny, cli, override):
    tmp, data = tiny
    run = tmp / "run"
    cfg = write_config(tmp / "exp.yaml", data, run)
    before = snapshot(tmp)
    key = override.split("=")[0]
    for command in ("train", "test", "validate"):
        cli(command, cfg, override, names=[key, "exp.yaml", "invalid"])
    assert not run.exists()  # refused before the run folder, a checkpoint or a log was made
    assert snapshot(tmp) == before


def test_bad_value_in_the_file_names_the_file(tiny, cli):
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run")
    cfg.write_text(cfg.read_text().replace("batch_size: 8", "batch_size: 0"))
    out = cli("train", cfg, names=["data.batch_size", str(cfg.name)])
    assert "override" not in out.text


def test_missing_gpu_refused_for_train_not_for_validate(tiny, cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: trainer.accelerator=gpu is available")
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run")
    cli("train", cfg, "trainer.accelerator=gpu", names=["trainer.accelerator", "GPU"])
    assert not (tmp / "run").exists()
    assert run_cli("validate", cfg, "trainer.accelerator=gpu").exit_code == 0  # scanning data needs no GPU
