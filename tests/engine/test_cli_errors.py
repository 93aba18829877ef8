"""Bad inputs through the CLI: one clear message and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import torch
from typer.testing import CliRunner

from deformer3d.cli import app
from engine_fixtures import write_config, write_motion_pkl

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    result.text = result.output.replace("\n", "")  # rich wraps long lines (paths) at the terminal width
    return result



def test_config_typo_lists_valid_keys(tiny):
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run")
    cfg.write_text(cfg.read_text().replace("weight_decay:", "weight_dekay:"))
    r = invoke("train", cfg)
    assert r.exit_code == 2
    assert "weight_dekay" in r.text and "valid keys" in r.text and "weight_decay" in r.text


def test_override_typo_and_wrong_type(tiny):
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run")
    r = invoke("train", cfg, "trainer.max_epoch=3")
    assert r.exit_code == 2 and "max_epoch" in r.text and "max_epochs" in r.text
    r = invoke("train", cfg, "data.batch_size=big")
    assert r.exit_code == 2 and "data.batch_size" in r.text


def test_missing_dataset_path(tmp_path):
    cfg = write_config(tmp_path / "exp.yaml", tmp_path / "no_such_dataset", tmp_path / "run")
    r = invoke("train", cfg)
    assert r.exit_code == 2
    assert "not found" in r.text and "no_such_dataset" in r.text


def test_empty_split(tmp_path):
    data = tmp_path / "data"
    write_motion_pkl(data / "motion.pkl", per_class={"train": 4, "val": 0, "test": 2})
    cfg = write_config(tmp_path / "exp.yaml", data, tmp_path / "run")
    r = invoke("train", cfg)
    assert r.exit_code == 2
    assert "val" in r.text and "empty" in r.text


def test_label_outside_class_list(tmp_path):
    data = tmp_path / "data"
    write_motion_pkl(data / "motion.pkl", bad_label=True)
    cfg = write_config(tmp_path / "exp.yaml", data, tmp_path / "run")
    r = invoke("train", cfg)
    assert r.exit_code == 2
    assert "label 7" in r.text and "outside" in r.text


def test_missing_checkpoints(tiny):
    tmp, data = tiny
    cfg = write_config(tmp / "exp.yaml", data, tmp / "run")
    r = invoke("train", cfg, "--resume", "last")
    assert r.exit_code == 2 and "last.ckpt" in r.text
    r = invoke("test", cfg)
    assert r.exit_code == 2 and "best.ckpt" in r.text and "train" in r.text
    r = invoke("export", tmp / "nope.ckpt", tmp / "model")
    assert r.exit_code == 2 and "not found" in r.text


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_export_refuses_a_payload_pickle(tmp_path):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload(marker)}}, evil)
    r = invoke("export", evil, tmp_path / "model")
    assert r.exit_code == 2 and "refused" in r.text
    assert not marker.exists() and not (tmp_path / "model").exists()
