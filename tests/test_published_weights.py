"""The published weights (weights/, weights/recipes/): each loads offline in one call, matches its
catalogue entry byte for byte, and scores its recorded test metric again on the real test split
(when ../shared/datasets or $ZOO_DATA_DIR holds it)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

import zoo
from tests.conftest import real_data_dir, run_script
from zoo import catalogue
from zoo.catalogue import CatalogueError, index, recipes
from zoo.word_vectors import WordVectors

ENTRIES = sorted(index())


def test_every_published_weight_has_its_recipe_and_the_catalogue_fits_the_size_budget():
    assert ENTRIES, "no weights are published"
    assert set(ENTRIES) <= set(recipes())
    in_repository = [entry["bytes"] for entry in index().values() if "url" not in entry]
    assert sum(in_repository) <= 60 * 2**20
    rows = zoo.list_weights()
    assert [row["name"] for row in rows] == ENTRIES
    assert all(row["parameters"] > 0 and row["value"] > 0 and row["data"] for row in rows)


@pytest.mark.parametrize("name", ENTRIES)
def test_a_published_weight_loads_offline_in_one_call(name):
    entry = index()[name]
    loaded = zoo.load(entry["model"], weights=entry["tag"])
    if isinstance(loaded, WordVectors):  # the input vectors of a word2vec network (its output ones stay behind)
        assert len(loaded) > 0 and 0 < loaded.vectors.numel() < entry["parameters"]
    else:
        assert sum(p.numel() for p in loaded.model.parameters()) == entry["parameters"]
        assert not loaded.training
    hub = torch.hub.load(str(catalogue.ROOT), entry["model"], weights=entry["tag"], source="local", trust_repo=True)
    assert type(hub) is type(loaded)


@pytest.mark.parametrize("name", ENTRIES)
def test_a_published_weight_scores_its_recorded_metric_on_the_real_test_split(name, make_cfg):
    data_dir = real_data_dir()
    if data_dir is None:
        pytest.skip("../shared/datasets (or $ZOO_DATA_DIR) holds no real data here")
    from zoo.training import evaluate

    entry = index()[name]
    results = evaluate(make_cfg(f"weights={name}", f"data_root={data_dir}", name="eval"))
    # to 4 decimals: within half a unit of the 4th. One changed prediction moves an accuracy by at least
    # 1e-4 (10,000 test images at most), so accuracies must match exactly; float noise in a loss stays far under 5e-5
    assert results[entry["metric"]] == pytest.approx(entry["value"], abs=5e-5)


def test_unknown_tags_and_tampered_files_are_one_line(tmp_path, monkeypatch):
    name = ENTRIES[0]
    entry = index()[name]
    with pytest.raises(CatalogueError, match=f"no weights 'nope' for '{entry['model']}' \\(published tags of"):
        zoo.load(entry["model"], weights="nope")
    with pytest.raises(CatalogueError, match="the zoo publishes no weights of 'vgg19'"):
        zoo.load("vgg19", weights="mnist")
    copy = tmp_path / "weights"
    shutil.copytree(catalogue.WEIGHTS_DIR, copy)
    monkeypatch.setattr(catalogue, "WEIGHTS_DIR", copy)
    data = bytearray((copy / entry["file"]).read_bytes())
    data[-1] ^= 0xFF
    (copy / entry["file"]).write_bytes(bytes(data))
    with pytest.raises(CatalogueError, match="does not match the catalogue .*changed or truncated"):
        zoo.load(entry["model"], weights=entry["tag"])
    (copy / entry["file"]).write_bytes(bytes(data[:100]))
    with pytest.raises(CatalogueError, match="does not match the catalogue"):
        zoo.load(entry["model"], weights=entry["tag"])


def test_evaluate_cli_scores_a_published_weight_or_says_what_to_give(tmp_path):
    result = run_script("evaluate.py", f"paths.log_dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: nothing to evaluate: give ckpt_path=")
    result = run_script("evaluate.py", "weights=lenet5.nope", f"paths.log_dir={tmp_path}")
    assert result.returncode == 1 and "error: no weights 'nope' for 'lenet5'" in result.stderr.strip().splitlines()[-1]


def test_the_readme_tables_are_generated_from_the_catalogue():
    from zoo.catalogue_tables import README, TABLE, readme_with_tables

    text = README.read_text()
    assert len(TABLE.findall(text)) >= 5, "the README lost its generated tables"
    assert readme_with_tables(text) == text, "README's generated tables are stale: run python -m zoo.weights readme"


def test_loading_a_published_weight_imports_neither_lightning_nor_the_data_modules():
    """What keeps ``zoo.load(model, weights=tag)`` fast (benchmarks/load_published.py): the task's notebook
    object is read from its file's source, and a file the catalogue vouches for skips the data-module checks."""
    code = (
        "import sys, zoo; zoo.load('lenet5', weights='mnist');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'torchmetrics', 'sklearn')"
        " or m.startswith(('datamodules.mnist', 'datamodules.cifar', 'zoo.tasks.'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=catalogue.ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_task_declares_the_notebook_object_zoo_load_reads_from_its_source():
    from zoo.tasks import get_task, list_tasks, notebook_object

    for task in list_tasks():
        assert notebook_object(task) == get_task(task).notebook_object != ""
