"""Training end to end: fast_dev_run of every model, the default job's accuracy, evaluate.py,
resume after a kill, NaN loss, DDP on 2 CPU processes, sweeps, and each bad input's error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import run_script
from zoo.checkpoint import read_checkpoint
from zoo.errors import CheckpointError, ModelDataMismatchError, NonFiniteLossError
from zoo.tasks.classification import ImageClassifier
from zoo.training import evaluate, train

FAST = ["trainer.max_epochs=1", "callbacks.prediction_grid=null", "callbacks.weight_histograms=null"]


# the presets of the MNIST table take 784 values: digits are resized to 28x28 for them (sizes follow the data)
@pytest.mark.parametrize("model, size", [("lenet5", 32), ("lenet5_classic", 32), ("mlp", 32), ("mlp_500_300", 28), ("mlp_800", 28)])
def test_fast_dev_run_of_every_model(make_cfg, model, size):
    metrics = train(make_cfg(f"model={model}", f"data.image_size={size}", "debug=fast"))
    assert 0.0 <= metrics["test/acc"] <= 1.0 and torch.isfinite(torch.tensor(metrics["train/loss"]))


@pytest.mark.parametrize("scheduler", ["none", "step", "cosine", "one_cycle"])
def test_schedulers_train(make_cfg, scheduler):
    cfg = make_cfg(f"scheduler={scheduler}", "optimizer=sgd", "trainer.limit_train_batches=3", "trainer.limit_val_batches=1",
                   "test=false", *FAST)  # fmt: skip
    assert "val/acc" in train(cfg)


def test_squared_error_loss_and_label_smoothing_train(make_cfg):
    for task in (["task.loss=mse"], ["task.label_smoothing=0.1"]):
        assert train(make_cfg(*task, "debug=fast"))["test/acc"] >= 0


@pytest.mark.slow
def test_default_job_reaches_95_percent_and_reports_where_things_are(digits_run):
    summary, stdout = digits_run["summary"], digits_run["stdout"]
    assert summary["metrics"]["test/acc"] >= 0.95
    assert summary["epochs"] == 30
    best = Path(summary["best_checkpoint"])
    assert best.name == "best.ckpt" and best.is_file() and (best.parent / "last.ckpt").is_file()
    assert "test/acc" in stdout and str(best) in stdout and "tensorboard --logdir" in stdout
    config = (digits_run["dir"] / "config.yaml").read_text()
    assert "${" not in config and "name: lenet5" in config  # the resolved config sits beside the run


@pytest.mark.slow
def test_mlp_reaches_95_percent_on_digits(make_cfg):
    metrics = train(make_cfg("model=mlp", "trainer.max_epochs=30", "callbacks.prediction_grid=null"))
    assert metrics["test/acc"] >= 0.95


@pytest.mark.slow
def test_evaluate_reproduces_the_accuracy_recorded_at_training(digits_run, tmp_path):
    summary = digits_run["summary"]
    metrics_path = tmp_path / "eval.json"
    result = run_script("evaluate.py", f"ckpt_path={summary['best_checkpoint']}", f"paths.log_dir={tmp_path}",
                        f"metrics_path={metrics_path}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(metrics_path.read_text())
    assert report["data"] == "digits" and report["split"] == "test"
    assert report["metrics"]["test/acc"] == pytest.approx(summary["metrics"]["test/acc"], abs=1e-6)
    assert "test/acc" in result.stdout  # the printed table


def test_evaluate_on_another_compatible_data_set(make_cfg, tmp_path):
    from tests.helpers import write_mnist_files

    write_mnist_files(tmp_path / "data" / "MNIST" / "raw")
    cfg = make_cfg("trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false", *FAST)
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    eval_cfg = make_cfg(f"ckpt_path={last}", "data=mnist", f"data.root={tmp_path / 'data'}", "data.download=false",
                        name="eval")  # fmt: skip
    metrics = evaluate(eval_cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    report = json.loads(Path(eval_cfg.metrics_path).read_text())
    assert report["data"] == "mnist" and report["metrics"] == metrics


def test_resume_after_a_kill_mid_epoch_ends_at_the_same_epoch_count(tmp_path):
    common = ["trainer.max_epochs=4", f"paths.log_dir={tmp_path}", "callbacks.prediction_grid=null"]
    # digits: 41 steps an epoch (1,294 training images, batch 32), so step 100 is in the middle of the third epoch
    killed = run_script("train.py", *common, "+callbacks.kill._target_=tests.helpers.KillAtStep",
                        "+callbacks.kill.step=100")  # fmt: skip
    assert killed.returncode != 0
    (last,) = tmp_path.glob("*/runs/*/checkpoints/last.ckpt")
    assert read_checkpoint(last)["epoch"] == 1  # epochs 0 and 1 finished before the kill
    resumed = run_script("train.py", *common, f"ckpt_path={last}", f"paths.log_dir={tmp_path / 'resumed'}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (metrics_file,) = (tmp_path / "resumed").glob("*/runs/*/metrics.json")
    summary = json.loads(metrics_file.read_text())
    assert summary["epochs"] == 4 and summary["global_step"] == 4 * 41
    assert "Restoring states from the checkpoint" in resumed.stdout + resumed.stderr


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(make_cfg):
    cfg = make_cfg("trainer.max_epochs=3", "+callbacks.poison._target_=tests.helpers.PoisonWeightsAtStep",
                   "+callbacks.poison.step=50", "callbacks.prediction_grid=null")  # fmt: skip
    with pytest.raises(NonFiniteLossError, match="loss became nan at epoch 1.*last good checkpoint stays"):
        train(cfg)
    last = read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 0 and all(torch.isfinite(v).all() for v in last["state_dict"].values())


def test_nan_loss_cli_message_is_one_line(tmp_path):
    result = run_script("train.py", "trainer.max_epochs=2", f"paths.log_dir={tmp_path}",
                        "+callbacks.poison._target_=tests.helpers.PoisonWeightsAtStep", "+callbacks.poison.step=5")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: training loss became nan")


def test_model_that_does_not_fit_the_data_is_caught_before_training(make_cfg):
    with pytest.raises(ModelDataMismatchError) as error:
        train(make_cfg("model=mlp_500_300", "data.image_size=32"))
    message = str(error.value)
    assert "\n" not in message and "'mlp_500_300'" in message and "'digits'" in message and "1x32x32" in message
    rgb = {"name": "cifar10", "num_classes": 10, "class_names": list("abcdefghij"), "channels": 3,
           "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "resize": "pad"}  # fmt: skip
    with pytest.raises(ModelDataMismatchError, match="'mlp_500_300' cannot take the 3x32x32 images of data set 'cifar10'"):
        ImageClassifier(model={"name": "mlp_500_300"}, data_info=rgb, optimizer={})
    with pytest.raises(ModelDataMismatchError, match="outputs \\(100,\\) scores per image but data set 'cifar10' has 10"):
        ImageClassifier(model={"name": "lenet5", "num_classes": 100, "in_channels": 3}, data_info=rgb, optimizer={})


@pytest.mark.parametrize("argument, expected", [
    ("model=resnet999", "error: unknown model 'resnet999'; valid names: ae_classifier, alexnet, alexnet_cifar, audio_rnn"),
    ("data=cifar1000", "error: unknown data 'cifar1000'; valid names: cifar10, cifar100, digits, fashion_mnist"),
    ("model=mlp_500_300 data.image_size=32", "error: model 'mlp_500_300' cannot take the 1x32x32 images"),
])  # fmt: skip
def test_cli_bad_input_is_one_line(tmp_path, argument, expected):
    result = run_script("train.py", *argument.split(), f"paths.log_dir={tmp_path}")
    assert result.returncode in (1, 2)
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_corrupt_checkpoint_is_a_clear_error(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast", "callbacks.model_checkpoint.save_last=true")
    train(cfg)
    good = Path(cfg.paths.output_dir) / "checkpoints"
    ckpt = next(good.glob("*.ckpt"))
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        read_checkpoint(tmp_path / "missing.ckpt")
    for script in ("evaluate.py", "train.py"):
        result = run_script(script, f"ckpt_path={truncated}", f"paths.log_dir={tmp_path}")
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot read checkpoint {truncated}")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process_with_the_same_global_batch(tmp_path):
    common = ["trainer.max_epochs=10", "callbacks.prediction_grid=null", "callbacks.weight_histograms=null"]
    single = run_script("train.py", *common, "data.batch_size=32", f"paths.log_dir={tmp_path / 'one'}")
    ddp = run_script("train.py", *common, "trainer=ddp_cpu", "data.batch_size=16", f"paths.log_dir={tmp_path / 'ddp'}")
    assert single.returncode == 0, single.stderr[-2000:]
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    one = json.loads(next((tmp_path / "one").glob("*/runs/*/metrics.json")).read_text())
    two = json.loads(next((tmp_path / "ddp").glob("*/runs/*/metrics.json")).read_text())
    assert two["global_step"] == one["global_step"] == 10 * 41  # same number of (global) batches
    assert two["metrics"]["test/acc"] >= 0.9 and one["metrics"]["test/acc"] >= 0.9
    assert abs(two["metrics"]["test/acc"] - one["metrics"]["test/acc"]) <= 0.04
    assert "distributed_backend=gloo" in ddp.stdout + ddp.stderr and "All distributed processes registered" in ddp.stdout + ddp.stderr


def test_multirun_sweep_gives_each_job_its_folder_and_config(tmp_path):
    result = run_script("train.py", "-m", "optimizer=sgd,adam", "debug=fast", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    configs = sorted(tmp_path.glob("*/multiruns/*/*/config.yaml"))
    assert len(configs) == 2
    names = {yaml.safe_load(c.read_text())["optimizer"]["name"] for c in configs}
    assert names == {"sgd", "adam"}
