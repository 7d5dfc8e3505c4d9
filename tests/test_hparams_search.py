"""Optuna searches (``python train.py -m hparams_search=...``): the search space's syntax, the pruning
callback, how a job's end becomes a trial's state, and a tiny search on digits that resumes."""

from __future__ import annotations

import re
import shlex
from types import SimpleNamespace

import optuna
import pytest
import torch
import yaml
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from tests.conftest import run_script
from zoo.errors import NonFiniteLossError, RunInterruptedError, SettingError
from zoo.callbacks.optuna_pruning import OptunaPruning, current_trial, running
from zoo.hparams_search import best_command, interruption, job_outcome, tell
from zoo.search_space import distribution, override_value, search_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_search_space_in_the_configs_syntax_and_in_hydras():
    log_lr = FloatDistribution(1e-4, 0.1, log=True)
    assert distribution("optimizer.lr", {"type": "float", "low": 1e-4, "high": 0.1, "log": True}) == log_lr
    assert distribution("model.num_layers", {"type": "int", "low": 1, "high": 4}) == IntDistribution(1, 4)
    batch = CategoricalDistribution([32, 64])
    assert distribution("data.batch_size", {"type": "categorical", "choices": [32, 64]}) == batch
    assert distribution("data.batch_size", [32, 64]) == batch
    assert distribution("optimizer.lr", "tag(log, interval(1e-4, 1e-1))") == log_lr
    assert distribution("model.num_layers", "range(1, 5)") == IntDistribution(1, 4)
    assert distribution("optimizer", "choice(adam, sgd)") == CategoricalDistribution(["adam", "sgd"])
    bad_ranges = ({"type": "float", "low": 1}, {"type": "float", "low": 1, "high": 2, "lg": True},
                  {"type": "uniform"}, "0.1")  # fmt: skip
    for bad in bad_ranges:
        with pytest.raises(SettingError, match=r"hydra\.sweeper\.params\.x"):
            distribution("x", bad)
    # a sweep on the command line joins the space; a plain value there fixes the key for every trial
    command_line = ["trainer.max_epochs=2", "data.batch_size=16", "model.dropout=interval(0, 0.5)"]
    fixed, space = search_space({"optimizer.lr": [0.1, 0.01], "data.batch_size": [32, 64]}, command_line)
    assert fixed == ["trainer.max_epochs=2", "data.batch_size=16"]
    assert space == {"optimizer.lr": CategoricalDistribution([0.1, 0.01]), "model.dropout": FloatDistribution(0.0, 0.5)}


def test_values_are_written_as_overrides_that_repeat_the_trial():
    assert override_value(0.0012345678) == "0.00123457" and override_value(20.0) == "20.0"
    assert override_value(20, float_param=True) == "20.0" and override_value(64) == "64"
    assert override_value(1e-7) == "1e-07" and override_value(True) == "true" and override_value(None) == "null"
    config = OmegaConf.create({"hydra": {"runtime": {"choices": {"experiment": "lstm_word_grimm"}}}})
    command = best_command(config, ["hparams_search=lstm_word_optuna", "trainer=gpu"], ["optimizer.lr=12.5"])
    assert command == "python train.py experiment=lstm_word_grimm trainer=gpu optimizer.lr=12.5"


class FakeTrial:
    def __init__(self, prune: bool) -> None:
        self.prune, self.reports = prune, []

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return self.prune


def fake_trainer(val_acc: float) -> SimpleNamespace:
    metrics = {"val/acc": torch.tensor(val_acc)}
    return SimpleNamespace(sanity_checking=False, should_stop=False, callback_metrics=metrics)


def test_pruning_callback_reports_each_validation_and_stops_a_pruned_trial():
    callback = OptunaPruning(monitor="val/acc")
    trainer = fake_trainer(val_acc=0.5)
    callback.on_validation_end(trainer, None)  # outside a search: nothing happens
    assert current_trial() is None and not trainer.should_stop
    keep = FakeTrial(prune=False)
    with running(keep) as run:
        callback.on_validation_end(trainer, None)
        callback.on_validation_end(fake_trainer(val_acc=0.75), None)
        callback.on_validation_end(SimpleNamespace(**{**vars(trainer), "sanity_checking": True}), None)  # skipped
    assert keep.reports == [(0, 0.5), (1, 0.75)] and run.pruned_at is None and not trainer.should_stop
    prune = FakeTrial(prune=True)
    with running(prune) as run:
        callback.on_validation_end(trainer, None)
    assert trainer.should_stop and run.pruned_at == 0 and current_trial() is None


def test_a_pruned_run_is_a_pruned_trial_in_the_study():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.9))
    trial = study.ask({"optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True)})
    trainer = fake_trainer(val_acc=0.5)
    with running(trial) as run:
        OptunaPruning(monitor="val/acc").on_validation_end(trainer, None)
    assert trainer.should_stop
    job = JobReturn(status=JobStatus.COMPLETED, _return_value=0.5)
    outcome = job_outcome(job, run, "val/acc")
    tell(study, trial, outcome)
    (frozen,) = study.trials
    assert frozen.state == TrialState.PRUNED and frozen.intermediate_values == {0: 0.5}
    assert frozen.user_attrs["outcome"] == "pruned"


def test_failed_runs_and_nan_results_are_failed_trials_and_interruptions_stop_the_sweep():
    run = SimpleNamespace(pruned_at=None)
    assert job_outcome(JobReturn(status=JobStatus.COMPLETED, _return_value=0.9), run, "val/acc").state == "complete"
    nan = job_outcome(JobReturn(status=JobStatus.COMPLETED, _return_value=float("nan")), run, "val/acc")
    assert nan.state == "failed" and "val/acc is nan" in nan.reason
    oom = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("out of memory"))
    crashed = job_outcome(oom, run, "val/acc")
    assert crashed.state == "failed" and "out of memory" in crashed.reason
    try:  # train.py turns a user error into SystemExit, inside the except block: the error is its context
        try:
            raise NonFiniteLossError("the training loss is nan at step 3")
        except NonFiniteLossError:
            raise SystemExit(1)
    except SystemExit as error:
        exited = error
    outcome = job_outcome(exited, run, "val/acc")
    assert outcome.state == "failed" and "NonFiniteLossError: the training loss is nan" in outcome.reason
    assert not interruption(exited)
    for stop in (KeyboardInterrupt(), RunInterruptedError("stopped by SIGTERM")):
        try:
            try:
                raise stop
            except BaseException:
                raise SystemExit(1)
        except SystemExit as error:
            assert interruption(error)


def test_lstm_word_search_composes():
    result = run_script("train.py", "hparams_search=lstm_word_optuna", "--cfg", "all")
    assert result.returncode == 0, result.stderr[-2000:]
    config = yaml.safe_load(result.stdout)
    assert config["run_name"] == "lstm_word_grimm" and config["test"] is False
    assert config["callbacks"]["optuna_pruning"]["monitor"] == "${optimized_metric}"
    sweeper = config["hydra"]["sweeper"]
    assert sweeper["_target_"] == "hydra_plugins.zoo_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert set(sweeper["params"]) == {"optimizer.lr", "optimizer.weight_decay", "data.batch_size", "model.dropout"}
    for key, spec in sweeper["params"].items():
        distribution(key, spec)  # each one reads
        group, name = key.split(".")
        assert name in config[group]  # and names a setting the recipe has


TINY = ["trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.limit_val_batches=2",
        "callbacks.prediction_grid=null", "callbacks.weight_histograms=null",
        "callbacks.first_layer_filters=null"]  # fmt: skip
BEST = re.compile(r"^best val/acc (?P<value>[0-9.]+) \(trial (?P<trial>\d+)\): (?P<command>python train\.py .*)$", re.M)


@pytest.mark.slow
def test_tiny_lenet5_search_on_digits_prints_its_best_trial_and_resumes(tmp_path):
    search = ["-m", "hparams_search=lenet5_optuna", *TINY, f"paths.log_dir={tmp_path}"]
    result = run_script("train.py", *search, "hydra.sweeper.n_trials=3", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    database = tmp_path / "lenet5_digits" / "optuna.db"
    assert database.is_file()
    best = BEST.search(result.stdout)
    assert best, result.stdout[-3000:]
    words = shlex.split(best["command"])[2:]
    assert words[: len(TINY) + 1] == [*TINY, f"paths.log_dir={tmp_path}"]  # the sweep's settings, then the trial's
    values = dict(word.split("=", 1) for word in words[len(TINY) + 1 :])
    assert set(values) == {"optimizer.lr", "optimizer.weight_decay", "data.batch_size"}
    assert 1e-4 <= float(values["optimizer.lr"]) <= 1e-2
    assert 1e-6 <= float(values["optimizer.weight_decay"]) <= 1e-2
    assert int(values["data.batch_size"]) in (16, 32, 64, 128)
    (results_file,) = tmp_path.glob("lenet5_digits/multiruns/*/optimization_results.yaml")
    results = yaml.safe_load(results_file.read_text())
    assert results["command"] == best["command"] and results["best_trial"] == int(best["trial"])
    assert results["best_value"] == pytest.approx(float(best["value"]), abs=1e-4)
    assert sorted(p.name for p in results_file.parent.iterdir() if p.is_dir()) == ["0", "1", "2"]  # a run per trial

    storage = f"sqlite:///{database}"
    before = optuna.load_study(study_name="lenet5_optuna", storage=storage).trials
    assert [t.state for t in before] == [TrialState.COMPLETE] * 3

    again = run_script("train.py", *search, "hydra.sweeper.n_trials=4", timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 4 trials done" in again.stdout and BEST.search(again.stdout)
    after = optuna.load_study(study_name="lenet5_optuna", storage=storage).trials
    assert len(after) == 4 and [t.params for t in after[:3]] == [t.params for t in before]
    assert after[3].state == TrialState.COMPLETE and after[3].params != after[0].params  # a new draw
    assert list(tmp_path.glob("lenet5_digits/multiruns/*/3/metrics.json"))  # its run is named by its number

    # the study's trials ran with these settings: other settings would mix incomparable trials
    longer = [word.replace("max_epochs=2", "max_epochs=3") for word in search]
    other = run_script("train.py", *longer, "hydra.sweeper.n_trials=5")
    assert other.returncode == 1
    last_line = other.stderr.strip().splitlines()[-1]
    assert "ran its trials with trainer.max_epochs=2, this sweep with trainer.max_epochs=3" in last_line
