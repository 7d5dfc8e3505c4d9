"""A killed run loses at most one epoch and no checkpoint is ever half-written: last.ckpt holds the end of
every epoch (and of a run stopped mid-epoch), writes are atomic under kill -9, SIGTERM leaves a resumable
run, resuming takes the command line's learning rate, and metrics.json is right under ddp_spawn."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_script
from tests.helpers import RecordLearningRates
from zoo.checkpoint import read_checkpoint
from zoo.errors import CheckpointError, SettingError
from zoo.training import train

QUICK = ["callbacks.prediction_grid=null", "callbacks.weight_histograms=null", "callbacks.first_layer_filters=null"]
STEPS_PER_EPOCH = 41  # digits: 1,294 training images, batch 32


def summary_of(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


def last_of(cfg) -> dict:
    return read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")


def test_last_checkpoint_holds_the_last_epoch_even_when_the_best_was_earlier(make_cfg):
    # mode=min on val/acc makes the first epoch the "best": Lightning 2.6 then never rewrote last.ckpt
    cfg = make_cfg("trainer.max_epochs=4", "callbacks.model_checkpoint.mode=min", "test=false", *QUICK)
    train(cfg)
    last = last_of(cfg)
    assert (last["epoch"], last["global_step"]) == (3, 4 * STEPS_PER_EPOCH)
    best = read_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "best.ckpt")
    assert best["epoch"] == 0


def test_a_run_stopped_mid_epoch_by_max_steps_saves_its_last_step(make_cfg):
    cfg = make_cfg("trainer.max_steps=50", "test=false", *QUICK)
    train(cfg)
    assert last_of(cfg)["global_step"] == summary_of(cfg)["global_step"] == 50


ATOMIC_WRITER = """
import importlib.util, os
if {named}:
    del os.O_TMPFILE  # the systems without anonymous temporary files
spec = importlib.util.spec_from_file_location("atomic", {module!r})  # zoo.atomic alone: starts in milliseconds
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
version = 0
while True:
    version += 1
    atomic.atomic_write_bytes({path!r}, payload(version))
    print(version, flush=True)
"""
PAYLOAD = """
def payload(version):
    return version.to_bytes(4, "big") + bytes([version % 251]) * 4_000_000
"""


def payload(version: int) -> bytes:
    return version.to_bytes(4, "big") + bytes([version % 251]) * 4_000_000


@pytest.mark.parametrize("named", [False, True], ids=["anonymous_temporary", "named_temporary"])
def test_kill_9_while_writing_never_leaves_a_broken_file(tmp_path, named):
    path = tmp_path / "checkpoints" / "last.ckpt"
    rng = random.Random(0)
    code = PAYLOAD + ATOMIC_WRITER.format(module=str(ROOT / "zoo" / "atomic.py"), named=named, path=str(path))
    stale: set[str] = set()
    for _ in range(25):
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        process.stdout.readline()  # the first version is written: the file exists from here on
        time.sleep(rng.uniform(0.0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        saved = path.read_bytes()  # the previous (or newest) complete version
        assert saved == payload(int.from_bytes(saved[:4], "big"))
        assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
        # A named temporary of the killed writer may stay (always with named temporaries, and with anonymous
        # ones only if the kill fell in the microseconds between naming the written file and renaming it):
        # nothing else, and the next write removes it.
        leftovers = {p.name for p in path.parent.iterdir() if p != path}
        assert leftovers <= {f".last.ckpt.{process.pid}.tmp"} | stale
        stale = leftovers
    from zoo.atomic import atomic_write_bytes

    atomic_write_bytes(path.parent / "other.bin", b"x")  # the next write into the folder cleans up
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt", "other.bin"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_resuming_with_a_lower_learning_rate_trains_at_it(make_cfg):
    first = make_cfg("optimizer=sgd", "optimizer.lr=0.05", "scheduler=step", "scheduler.step_size=1",
                     "scheduler.gamma=0.5", "trainer.max_epochs=2", "test=false", *QUICK)  # fmt: skip
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0.05 * 0.25)
    rates = RecordLearningRates()
    resumed = make_cfg("optimizer=sgd", "optimizer.lr=0.01", "scheduler=step", "scheduler.step_size=1",
                       "scheduler.gamma=0.5", "trainer.max_epochs=3", "test=false", f"ckpt_path={last}", *QUICK)  # fmt: skip
    train(resumed, extra_callbacks=[rates])
    # the schedule goes on from its position (two halvings), scaled to the new rate: 0.01 * 0.25
    assert rates.rates[0] == pytest.approx(0.01 * 0.25) and len(rates.rates) == STEPS_PER_EPOCH
    assert last_of(resumed)["epoch"] == 2
    # the same command line without a new rate keeps the checkpoint's schedule
    again = make_cfg("optimizer=sgd", "optimizer.lr=0.05", "scheduler=step", "scheduler.step_size=1",
                     "scheduler.gamma=0.5", "trainer.max_epochs=3", "test=false", f"ckpt_path={last}", *QUICK)  # fmt: skip
    kept = RecordLearningRates()
    train(again, extra_callbacks=[kept])
    assert kept.rates[0] == pytest.approx(0.05 * 0.25)


def test_resuming_another_models_or_optimizers_checkpoint_is_one_line(make_cfg):
    cfg = make_cfg("trainer.max_epochs=1", "trainer.limit_train_batches=2", "test=false", *QUICK)
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    with pytest.raises(CheckpointError, match=f"cannot resume from {last}: it holds model 'lenet5'.*this run builds 'mlp'"):
        train(make_cfg("model=mlp", f"ckpt_path={last}", *QUICK))
    with pytest.raises(CheckpointError, match="trained with optimizer 'adam', this run asks for 'sgd': resume with optimizer=adam"):
        train(make_cfg("optimizer=sgd", f"ckpt_path={last}", *QUICK))


@pytest.mark.parametrize("override, expected", [
    ("data.batch_size=0", "data.batch_size=0 is not a positive number of samples"),
    ("data.batch_size=-5", "data.batch_size=-5 is not a positive number of samples"),
    ("optimizer.lr=0", "optimizer.lr=0 is not a positive number"),
    ("optimizer.lr=-0.1", "optimizer.lr=-0.1 is not a positive number"),
    ("optimizer.lr=nan", "optimizer.lr is NaN"),
    ("optimizer.lr=abc", "optimizer.lr='abc' is not a"),
    ("+optimizer.warmup=3", "optimizer.warmup is not one of its settings"),
    ("+model.input_size=big", "model.input_size='big' is not an int"),
])  # fmt: skip
def test_impossible_settings_are_one_line_before_training(make_cfg, override, expected):
    with pytest.raises(SettingError) as error:
        train(make_cfg(override))
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_sigterm_exits_non_zero_with_metrics_and_a_resumable_last_checkpoint(tmp_path):
    common = ["trainer.max_epochs=3", *QUICK]
    stopped = run_script("train.py", *common, f"paths.log_dir={tmp_path / 'a'}",
                         "+callbacks.stop._target_=tests.helpers.SigtermAtStep", "+callbacks.stop.step=60")  # fmt: skip
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert stopped.stderr.strip().splitlines()[-1].startswith("error: the run was stopped by SIGTERM at epoch 1, step 60;")
    (summary_file,) = (tmp_path / "a").glob("*/runs/*/metrics.json")
    summary = json.loads(summary_file.read_text())
    assert summary["status"] == "interrupted by SIGTERM" and summary["global_step"] == 60
    last = read_checkpoint(summary["last_checkpoint"])
    assert last["global_step"] == 60
    resumed = run_script("train.py", *common, f"paths.log_dir={tmp_path / 'b'}", f"ckpt_path={summary['last_checkpoint']}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (done,) = (tmp_path / "b").glob("*/runs/*/metrics.json")
    final = json.loads(done.read_text())
    assert (final["epochs"], final["global_step"], final["status"]) == (3, 3 * STEPS_PER_EPOCH, "finished")


@pytest.mark.slow
def test_metrics_json_counts_the_training_done_in_spawned_processes(tmp_path):
    result = run_script("train.py", "trainer.devices=2", "trainer.strategy=ddp_spawn", "data.batch_size=16",
                        "trainer.max_epochs=2", f"paths.log_dir={tmp_path}", *QUICK)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (summary_file,) = tmp_path.glob("*/runs/*/metrics.json")
    summary = json.loads(summary_file.read_text())
    assert (summary["epochs"], summary["global_step"]) == (2, 2 * STEPS_PER_EPOCH)
    assert read_checkpoint(summary["last_checkpoint"])["global_step"] == 2 * STEPS_PER_EPOCH
    assert summary["metrics"]["test/acc"] > 0.5
