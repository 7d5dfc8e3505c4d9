"""Same seed, same result: two CPU runs of the default job with one seed write identical metrics.

The seed (``seed``, which ``data.seed`` follows) reaches every random draw of a run: Lightning's
``seed_everything`` seeds the global generators (the model's initial weights, the random crops),
the batch sampler shuffles from ``data.seed + epoch``, and the train/val/test split has its own
fixed ``split_seed``. The runs are shortened to 3 epochs (~10 s each) with the default callbacks
on; a difference of one bit anywhere in 120 steps would show in the losses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_script
from zoo.checkpoint import read_checkpoint
from zoo.training import train

SHORT = ("trainer.max_epochs=3",)
SEEDS = {"first": 42, "again": 42, "other": 7}  # 42 is train.yaml's default seed


def cli_run(log_dir: Path, seed: int) -> dict:
    """``python train.py trainer.max_epochs=3 seed=<seed>`` in a fresh process: its metrics.json and final weights."""
    result = run_script("train.py", *SHORT, f"seed={seed}", f"paths.log_dir={log_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics_file,) = log_dir.glob("*/runs/*/metrics.json")
    summary = json.loads(metrics_file.read_text())
    summary["weights"] = read_checkpoint(summary["last_checkpoint"])["state_dict"]
    return summary


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return {name: cli_run(tmp_path_factory.mktemp(f"seed_{name}"), seed) for name, seed in SEEDS.items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.slow
def test_two_runs_with_the_same_seed_write_identical_metrics(cli_runs):
    first, again = cli_runs["first"], cli_runs["again"]
    assert first["metrics"] == again["metrics"]  # every metric, exactly (floats compared bit for bit)
    assert {"train/loss", "val/loss", "val/acc", "test/loss", "test/acc"} <= first["metrics"].keys()
    assert (first["epochs"], first["global_step"]) == (again["epochs"], again["global_step"]) == (3, 3 * 41)
    assert same_weights(first["weights"], again["weights"])


@pytest.mark.slow
def test_another_seed_gives_another_result(cli_runs):
    first, other = cli_runs["first"], cli_runs["other"]
    for key in ("train/loss", "val/loss", "test/loss"):
        assert first["metrics"][key] != other["metrics"][key], key
    assert not same_weights(first["weights"], other["weights"])


@pytest.mark.slow
def test_a_second_run_in_one_process_repeats_a_fresh_process(cli_runs, make_cfg):
    """A notebook's second ``train()``: what the first run left in the process (the global generators'
    state, Lightning's and torch's flags) does not reach it."""
    other = train(make_cfg(*SHORT, f"seed={SEEDS['other']}"))
    again = train(make_cfg(*SHORT, f"seed={SEEDS['first']}"))
    assert other == cli_runs["other"]["metrics"]
    assert again == cli_runs["first"]["metrics"]
