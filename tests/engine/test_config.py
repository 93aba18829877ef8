from pathlib import Path

import pytest

from deformer3d.config import ConfigError, load_config, realdata_root


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_overrides_and_types(tmp_path):
    p = write(tmp_path, "model: {name: deformer3d, preset: tiny}\noptim: {lr: 0.01}\n")
    cfg = load_config(p, ["optim.lr=3e-4", "data.num_frames=12"])
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.data.num_frames == 12
    assert cfg.model["preset"] == "tiny"


def test_unknown_key_lists_valid_keys(tmp_path):
    p = write(tmp_path, "model: {name: deformer3d}\noptim: {lrr: 0.01}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert "exp.yaml" in msg and "lrr" in msg and "weight_decay" in msg


def test_wrong_type_names_key(tmp_path):
    p = write(tmp_path, "model: {name: deformer3d}\n")
    with pytest.raises(ConfigError, match="data.num_frames"):
        load_config(p, ["data.num_frames=many"])


def test_missing_file_and_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    p = write(tmp_path, "model: {name: deformer3d}\n")
    with pytest.raises(ConfigError, match="key=value"):
        load_config(p, ["optim.lr"])


def test_realdata_resolver(tmp_path, monkeypatch):
    monkeypatch.setenv("DEFORMER3D_REALDATA", str(tmp_path))
    p = write(tmp_path, "model: {name: deformer3d}\ndata: {root: '${realdata:}/pennaction'}\n")
    assert load_config(p).data.root == f"{tmp_path}/pennaction"
    assert realdata_root() == tmp_path


def test_person_crop_on_and_off_survive_yaml_booleans(tmp_path):
    """YAML 1.1 reads a bare on / off as a boolean: `data.person_crop=off` and `person_crop: on` still mean the
    choices, in a file and on the command line."""
    from deformer3d.config import load_config

    assert load_config("configs/synth_demo.yaml", ["data.person_crop=off"]).data.person_crop == "off"
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: deformer3d, preset: tiny}\ndata: {person_crop: on}\n")
    assert load_config(path).data.person_crop == "on"
