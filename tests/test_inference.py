"""Notebook use: ``zoo.load`` on a checkpoint and on exported safetensors, predictions on raw
uint8 images, TensorBoard events read back with TensorBoard's reader, and the quickstart notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
from datamodules import DigitsDataModule
from tests.conftest import ROOT
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


def test_quickstart_notebook_runs_against_a_checkpoint(digits_run, monkeypatch):
    monkeypatch.setenv("ZOO_CHECKPOINT", digits_run["summary"]["best_checkpoint"])
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs)
    assert "test accuracy" in text
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the plotted predictions
