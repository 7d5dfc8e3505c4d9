"""A checkpoint is data, never code: every entry point that reads a checkpoint, a safetensors file or a
weights file refuses one that names code (a Hydra ``_target_`` at any depth, a pickled object, a model
or data module the zoo does not own, a value of the wrong type), in one line naming the file and the key,
and runs nothing. Truncated files are told apart from refused ones."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import zoo
from tests.conftest import ROOT, run_script
from zoo.checkpoint import read_checkpoint
from zoo.upgrade import upgrade_checkpoint
from zoo.errors import CheckpointError, RefusedFileError
from zoo.weights import WeightsError
from zoo.training import train


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    """A real checkpoint of a short digits run (LeNet-5)."""
    from zoo.config import compose_config

    out = tmp_path_factory.mktemp("good") / "run"
    cfg = compose_config("train", ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "test=false",
                                   "callbacks.prediction_grid=null"], out)  # fmt: skip
    train(cfg)
    return out / "checkpoints" / "last.ckpt"


def tampered(good: Path, folder: Path, name: str, edit) -> Path:
    """A copy of ``good`` whose hyper-parameters ``edit`` changed (still loads with weights_only=True)."""
    checkpoint = torch.load(good, weights_only=True)
    edit(checkpoint["hyper_parameters"])
    path = folder / name
    torch.save(checkpoint, path)
    torch.load(path, weights_only=True)  # the attack passes PyTorch's own safe loader
    return path


def code_in_data_config(marker: Path):
    def edit(hparams):
        hparams["data_config"] = {"_target_": "os.system", "command": f"touch {marker}"}

    return edit


def code_deep_inside(marker: Path):
    def edit(hparams):
        hparams["model"]["extra"] = [{"nested": {"_target_": "os.system", "command": f"touch {marker}"}}]

    return edit


def test_a_target_anywhere_in_the_hyperparameters_is_refused_naming_file_and_key(good_checkpoint, tmp_path):
    marker = tmp_path / "pwned"
    for name, edit, key in (
        ("top.ckpt", code_in_data_config(marker), "data_config._target_"),
        ("deep.ckpt", code_deep_inside(marker), "model.extra[0].nested._target_"),
    ):
        path = tampered(good_checkpoint, tmp_path, name, edit)
        with pytest.raises(RefusedFileError) as error:
            read_checkpoint(path)
        message = str(error.value)
        assert message.startswith(f"refused: {path}") and key in message and "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize("edit, key", [
    (lambda h: h["model"].update(name="evil_net"), "model.name 'evil_net' is not a model of the zoo"),
    (lambda h: h["data_config"].update(module="os"), "data_config.module 'os' is not a data module of the zoo"),
    (lambda h: h["optimizer"].update(name="subprocess"), "optimizer.name 'subprocess' is not an optimizer"),
    (lambda h: h["model"].update(num_classes="10; rm -rf /"), "num_classes='10; rm -rf /' is not an int"),
    (lambda h: h["data_config"].update(root="${oc.env:HOME}"), "data_config.root (an interpolation"),
])  # fmt: skip
def test_unknown_names_and_wrong_types_are_refused(good_checkpoint, tmp_path, edit, key):
    path = tampered(good_checkpoint, tmp_path, "bad.ckpt", edit)
    with pytest.raises(RefusedFileError, match="^refused: ") as error:
        zoo.load(path)
    assert key in str(error.value) and "\n" not in str(error.value)


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_object_is_refused_and_a_truncated_file_is_told_apart(good_checkpoint, tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = torch.load(good_checkpoint, weights_only=True)
    checkpoint["hyper_parameters"]["payload"] = RunsCode(marker)
    pickled = tmp_path / "pickled.ckpt"
    torch.save(checkpoint, pickled)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good_checkpoint.read_bytes()[:5000])
    plain_pickle = tmp_path / "plain.pth"
    plain_pickle.write_bytes(pickle.dumps(RunsCode(marker)))
    for reader in (read_checkpoint, zoo.load):
        with pytest.raises(RefusedFileError, match=f"^refused: {pickled} asks to build Python objects"):
            reader(pickled)
        with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
            reader(truncated)
        assert not isinstance(error.value, RefusedFileError)
    with pytest.raises(RefusedFileError):
        zoo.create_model("lenet5", weights_path=str(plain_pickle))
    assert not marker.exists()


def test_weights_path_and_encoder_ckpt_read_checkpoints_the_same_way(good_checkpoint, tmp_path):
    marker = tmp_path / "pwned"
    bad = tampered(good_checkpoint, tmp_path, "bad.ckpt", code_in_data_config(marker))
    with pytest.raises(RefusedFileError, match="data_config._target_"):
        zoo.create_model("lenet5", num_classes=10, weights_path=str(bad))
    with pytest.raises(RefusedFileError, match="data_config._target_"):
        zoo.create_model("ae_classifier", encoder_ckpt=str(bad))
    net = zoo.create_model("lenet5", num_classes=10, weights_path=str(good_checkpoint))  # a good one loads
    assert torch.equal(net.state_dict()["features.0.weight"] if "features.0.weight" in net.state_dict()
                       else next(iter(net.state_dict().values())),
                       next(v for k, v in torch.load(good_checkpoint, weights_only=True)["state_dict"].items()
                            if k.startswith("model.")))  # fmt: skip
    with pytest.raises(WeightsError, match="holds no state_dict"):
        torch.save({"weights": [1, 2, 3]}, tmp_path / "list.pth")
        zoo.create_model("lenet5", weights_path=str(tmp_path / "list.pth"))
    assert not marker.exists()


def test_safetensors_metadata_is_checked_like_a_checkpoint(good_checkpoint, tmp_path):
    exported = zoo.export_safetensors(good_checkpoint, tmp_path / "good.safetensors")
    assert isinstance(zoo.load(exported), zoo.Classifier)
    from safetensors import safe_open

    with safe_open(str(exported), framework="pt") as handle:
        config = json.loads(handle.metadata()["zoo"])
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    evil = copy.deepcopy(config)
    evil["data_config"]["_target_"] = "os.system"
    save_file(tensors, str(tmp_path / "evil.safetensors"), metadata={"zoo": json.dumps(evil)})
    with pytest.raises(RefusedFileError, match="data_config._target_"):
        zoo.load(tmp_path / "evil.safetensors")
    with pytest.raises(RefusedFileError, match="data_config._target_"):
        zoo.create_model("lenet5", weights_path=str(tmp_path / "evil.safetensors"))
    (tmp_path / "cut.safetensors").write_bytes(exported.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated") as error:
        zoo.load(tmp_path / "cut.safetensors")
    assert not isinstance(error.value, RefusedFileError)


def test_export_refuses_a_tampered_checkpoint_and_writes_nothing(good_checkpoint, tmp_path):
    bad = tampered(good_checkpoint, tmp_path, "bad.ckpt", code_in_data_config(tmp_path / "pwned"))
    with pytest.raises(RefusedFileError):
        zoo.export_safetensors(bad, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("script, arguments", [
    ("evaluate.py", ["ckpt_path={bad}"]),
    ("train.py", ["ckpt_path={bad}", "trainer.max_epochs=2"]),
    ("train.py", ["+model.weights_path={bad}", "trainer.max_epochs=1"]),
    ("generate.py", ["{bad}"]),
])  # fmt: skip
def test_every_command_refuses_in_one_line_and_runs_nothing(good_checkpoint, tmp_path, script, arguments):
    marker = tmp_path / "pwned"
    bad = tampered(good_checkpoint, tmp_path, "bad.ckpt", code_in_data_config(marker))
    result = run_script(script, *(a.format(bad=bad) for a in arguments), f"paths.log_dir={tmp_path / 'logs'}"
                        if script != "generate.py" else "--length=5")  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: refused: {bad}: data_config._target_")
    assert "Traceback" not in result.stderr and not marker.exists()


def test_the_quickstart_notebook_instantiates_nothing_from_a_checkpoint():
    notebook = json.loads((ROOT / "notebooks" / "quickstart.ipynb").read_text())
    source = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
    assert "instantiate" not in source and "hydra" not in source and "import_module" not in source


def test_an_older_zoo_checkpoint_is_refused_with_how_to_convert_and_converts(good_checkpoint, tmp_path):
    def old_format(hparams):  # what checkpoints of the zoo before names held
        hparams["data_config"] = {"_target_": "datamodules.DigitsDataModule", **{k: v for k, v in hparams["data_config"].items() if k != "module"}}
        hparams["optimizer"] = {"_target_": "torch.optim.Adam", "_partial_": True, **{k: v for k, v in hparams["optimizer"].items() if k != "name"}}
        hparams["scheduler"] = {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "_partial_": True,
                                **{k: v for k, v in hparams["scheduler"].items() if k != "name"}}  # fmt: skip

    old = tampered(good_checkpoint, tmp_path, "old.ckpt", old_format)
    with pytest.raises(RefusedFileError, match=f"convert it with python -m zoo.checkpoint upgrade {old}"):
        zoo.load(old)
    result = subprocess.run([sys.executable, "-m", "zoo.checkpoint", "upgrade", str(old), str(tmp_path / "new.ckpt")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    upgraded = read_checkpoint(tmp_path / "new.ckpt")
    assert upgraded["hyper_parameters"]["data_config"]["module"] == "digits"
    assert upgraded["hyper_parameters"]["optimizer"]["name"] == "adam"
    images = torch.randint(0, 256, (8, 8, 8), dtype=torch.uint8)
    assert torch.equal(zoo.load(tmp_path / "new.ckpt").predict(images), zoo.load(good_checkpoint).predict(images))
    # a class path the zoo never wrote is not converted
    evil = tampered(good_checkpoint, tmp_path, "evil.ckpt", code_in_data_config(tmp_path / "pwned"))
    with pytest.raises(RefusedFileError, match="'os.system' is not a class the zoo ever wrote"):
        upgrade_checkpoint(evil, tmp_path / "evil_new.ckpt")
    assert not (tmp_path / "evil_new.ckpt").exists() and not (tmp_path / "pwned").exists()
