"""``python -m zoo.weights build`` and ``verify`` on a tiny recipe (the default job cut to two batches),
in a scratch catalogue: what a build publishes and records, and what a rebuild records."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors import safe_open

import zoo
from zoo import catalogue, catalogue_build
from zoo.catalogue_verify import reproducibility, tensor_difference, verify

TINY = ("trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2")


@pytest.fixture()
def scratch_catalogue(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    monkeypatch.setattr(catalogue, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(catalogue, "INDEX", weights / "index.json")
    monkeypatch.setattr(catalogue_build, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(catalogue_build, "BUILD_DIR", tmp_path / "runs")
    return weights


def test_a_build_publishes_the_file_it_scored_and_records_how_it_was_made(scratch_catalogue):
    entry = catalogue_build.build("lenet5.digits", TINY)
    path = scratch_catalogue / entry["file"]
    assert json.loads((scratch_catalogue / "index.json").read_text())["lenet5.digits"] == entry
    assert entry["sha256"] == catalogue.sha256_of(path) and entry["bytes"] == path.stat().st_size
    assert entry["train_command"] == "python train.py experiment=lenet5_digits seed=42"
    assert entry["metric"] == "test/acc" and entry["test_metrics"]["test/acc"] == entry["value"]
    assert re.fullmatch(r"[0-9a-f]{40}(\+uncommitted changes)?|unknown", entry["commit"])  # flagged when the source is edited
    for key in ("versions", "machine", "threads", "wall_time_s", "parameters", "dtype", "paper"):
        assert key in entry
    with safe_open(str(path), framework="pt") as handle:
        assert json.loads(handle.metadata()["zoo_entry"])["value"] == entry["value"]
    loaded = zoo.load("lenet5", weights="digits")  # the scratch catalogue's file, through the one call
    assert sum(p.numel() for p in loaded.model.parameters()) == entry["parameters"]


def test_verify_rebuilds_without_publishing_and_records_the_comparison(scratch_catalogue):
    entry = catalogue_build.build("lenet5.digits", TINY)
    published = (scratch_catalogue / entry["file"]).read_bytes()
    record = verify("lenet5.digits", TINY)
    assert (scratch_catalogue / entry["file"]).read_bytes() == published  # nothing republished
    assert isinstance(record["identical"], bool) and record["metric"] == "test/acc"
    recorded = json.loads((scratch_catalogue / "index.json").read_text())["lenet5.digits"]
    assert recorded["rebuilds"] == [record] and recorded["sha256"] == entry["sha256"]
    assert reproducibility(recorded).startswith(("bit-identical in 1 rebuild", "0 of 1 rebuilds identical"))


def test_tensor_difference_tells_identical_from_close():
    a = {"w": torch.ones(3), "b": torch.zeros(2)}
    assert tensor_difference(a, {k: v.clone() for k, v in a.items()}) == (True, 0.0)
    assert tensor_difference(a, {"w": torch.ones(3) + 1e-3, "b": torch.zeros(2)})[0] is False
    assert tensor_difference(a, {"w": torch.ones(3)}) == (False, float("inf"))
    assert reproducibility({"metric": "test/acc", "value": 0.99}) == "not rebuilt yet"
