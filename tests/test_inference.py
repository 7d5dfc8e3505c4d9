"""Notebook use: ``zoo.load`` on a checkpoint and on exported safetensors, predictions on raw
uint8 images, TensorBoard events read back with TensorBoard's reader, and the quickstart notebook."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
import zoo.notebook
from datamodules import DigitsDataModule
from tests.conftest import ROOT, real_data_dir
from zoo.run_settings import build_datamodule
from zoo.training import train

pytestmark = pytest.mark.slow


def events(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def test_load_predicts_raw_uint8_images_as_well_as_at_training(digits_run):
    model = zoo.load(digits_run["summary"]["best_checkpoint"])
    assert not model.training and model.class_names == [str(d) for d in range(10)]
    test = build_datamodule(model.data_config).raw_split("test")
    assert test.images.dtype == torch.uint8 and test.images.shape[-2:] == (8, 8)
    predicted = model.predict(test.images)
    accuracy = (predicted == test.labels).float().mean().item()
    assert accuracy == pytest.approx(digits_run["summary"]["metrics"]["test/acc"], abs=1e-6)
    as_numpy = model.predict(test.images[:5, 0].numpy())  # (N, H, W) numpy arrays work too
    assert torch.equal(as_numpy, predicted[:5])
    assert model.predict(test.images[0, 0]).shape == (1,)  # and one (H, W) image
    assert model.predict_labels(test.images[:3]) == [str(i) for i in predicted[:3].tolist()]
    probabilities = model.predict_proba(test.images[:4])
    assert torch.allclose(probabilities.sum(1), torch.ones(4))


def test_exported_safetensors_load_to_the_same_predictions(digits_run, tmp_path):
    best = digits_run["summary"]["best_checkpoint"]
    exported = zoo.export_safetensors(best, tmp_path / "lenet5_digits.safetensors")
    images = DigitsDataModule().raw_split("test").images[:64]
    assert torch.equal(zoo.load(exported).predict(images), zoo.load(best).predict(images))
    (tmp_path / "bad.safetensors").write_bytes(exported.read_bytes()[:100])
    with pytest.raises(zoo.CheckpointError, match="truncated"):
        zoo.load(tmp_path / "bad.safetensors")


def test_tensorboard_events_hold_scalars_images_histograms_and_hparams(digits_run):
    accumulator = events(digits_run["dir"])
    tags = accumulator.Tags()
    for scalar in ("train/loss_step", "train/acc", "val/loss", "val/acc", "val/acc_top5", "test/acc", "test/loss",
                   "lr-Adam", "grad_norm/model.features.0.weight", "grad_norm/model.classifier.5.weight",
                   "grad_norm/total", "hp/test/acc"):  # fmt: skip
        assert scalar in tags["scalars"], scalar
    assert {"val/predictions", "val/misclassified", "test/confusion_matrix", "filters/first_conv"} <= set(tags["images"])
    assert "weights/model.features.0.weight" in tags["histograms"]
    assert len(accumulator.Scalars("val/acc")) == 30 and len(accumulator.Images("val/predictions")) == 30
    learning_rates = [event.value for event in accumulator.Scalars("lr-Adam")]
    assert learning_rates[0] == pytest.approx(1e-3, rel=1e-2) and learning_rates[-1] < 1e-4  # the cosine schedule
    plugins = accumulator.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(plugins)


def test_deep_sigmoid_mlp_gradients_vanish_where_relu_ones_do_not(make_cfg):
    ratios = {}
    for activation in ("sigmoid", "relu"):
        cfg = make_cfg("experiment=mlp_vanishing_gradients", f"model.activation={activation}",
                       "trainer.max_epochs=1", "test=false", "callbacks.prediction_grid=null")  # fmt: skip
        train(cfg)
        accumulator = events(Path(cfg.paths.output_dir))
        first = np.mean([e.value for e in accumulator.Scalars("grad_norm/model.layers.1.weight")])
        last = np.mean([e.value for e in accumulator.Scalars("grad_norm/model.layers.19.weight")])
        ratios[activation] = first / last
    assert ratios["sigmoid"] < 1e-3 < 1e-1 < ratios["relu"], ratios


def notebook_text(notebook: nbformat.NotebookNode) -> tuple[str, list[dict]]:
    """What an executed notebook's code cells printed or returned (as text), and their outputs."""
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in outputs)
    return text, outputs


@pytest.fixture
def notebook_env(monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """The kernel imports this checkout's zoo and finds the real data (if any) from any folder; returns that folder."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    data = real_data_dir()
    if data is not None:
        monkeypatch.setenv("ZOO_DATA_DIR", str(data.resolve()))
    return data


def test_quickstart_notebook_loads_the_published_weight_from_any_folder(notebook_env, tmp_path):
    copy = tmp_path / "quickstart.ipynb"  # a copy, run with the working folder outside the repository
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", copy)
    notebook = nbformat.read(copy, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text, outputs = notebook_text(notebook)
    (published,) = [row for row in zoo.list_weights() if row["name"] == "lenet5.mnist"]
    assert "loaded the published weight lenet5.mnist: LeNet5 trained on mnist" in text
    assert "lenet5_classic.mnist" in text  # the table of published weights
    assert re.search(r"predicted: \['\d', '\d'", text)
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the plotted predictions
    if notebook_env is not None and list((notebook_env / "MNIST" / "raw").glob("t10k-images-idx3-ubyte*")):
        assert f"accuracy on the MNIST test set: {published['value']:.4f}" in text  # the catalogue's own number
    else:
        assert "NOT MNIST" in text
    assert [path.name for path in tmp_path.iterdir()] == ["quickstart.ipynb"]  # nothing written where it ran


def test_python_m_zoo_notebook_run_writes_the_executed_notebook_and_without_mnist_says_so(notebook_env, tmp_path):
    elsewhere, output, no_data = tmp_path / "cwd", tmp_path / "out" / "executed.ipynb", tmp_path / "no-data"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, "-m", "zoo.notebook", "run", "--output", str(output)], cwd=elsewhere,
                            env={**os.environ, "ZOO_DATA_DIR": str(no_data)}, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"executed notebook written to {output}"
    assert "WARNING" not in result.stderr, result.stderr  # the kernel's start-up warnings are not shown
    text, outputs = notebook_text(nbformat.read(output, as_version=4))
    assert f"no MNIST test files (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, or .gz) in {no_data}" in text
    stand_in = "scikit-learn's digits upscaled to 28x28 (NOT MNIST: this accuracy is only illustrative)"
    assert re.search(rf"accuracy on {re.escape(stand_in)}: 0\.[6-9]", text)  # 0.90 with lenet5.mnist
    assert any("image/png" in output.get("data", {}) for output in outputs)
    assert not any(elsewhere.iterdir())


def test_quickstart_notebook_takes_a_checkpoint_instead(notebook_env, digits_run, tmp_path):
    checkpoint = digits_run["summary"]["best_checkpoint"]
    with pytest.raises(ValueError, match="sets no CHECKPIONT; it sets CHECKPOINT, DATA_DIR, MODEL, WEIGHTS"):
        zoo.notebook.execute(output=tmp_path / "never.ipynb", parameters={"CHECKPIONT": checkpoint})
    output = zoo.notebook.execute(output=tmp_path / "executed.ipynb", parameters={"CHECKPOINT": checkpoint})
    text, outputs = notebook_text(nbformat.read(output, as_version=4))
    assert f"loaded {checkpoint}: LeNet5 trained on digits" in text
    test_accuracy = digits_run["summary"]["metrics"]["test/acc"]
    assert f"accuracy on the digits test set: {test_accuracy:.4f}" in text  # its own run's test split
    assert any("image/png" in output.get("data", {}) for output in outputs)


def test_opening_the_notebook_without_jupyter_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(zoo.notebook, "jupyter_command", lambda: None)
    assert zoo.notebook.main(["open"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "pip install jupyterlab" in line and "python -m zoo.notebook open" in line
