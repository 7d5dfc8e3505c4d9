"""Pruning in hyperparameter searches (``zoo.hparams_search``): the sweeper makes a trial current while
its job runs (``running``); ``OptunaPruning``, a callback of that job, reports the validation curve to
the trial and stops the run when the study's pruner says so."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import lightning as L

log = logging.getLogger(__name__)


# --- the trial being run: the sweeper sets it, the pruning callback of the job reads it ---------------


@dataclass
class TrialRun:
    """The Optuna trial of the job running now (jobs run one at a time in the sweeper's process)."""

    trial: Any  # optuna.Trial, or anything with report(value, step) and should_prune()
    reports: int = 0  # validations reported so far: the step of the next report
    pruned_at: int | None = None  # the step at which the pruner stopped the run


_RUNNING: TrialRun | None = None


def current_trial() -> TrialRun | None:
    """The trial of the job running now, or None outside a search."""
    return _RUNNING


@contextmanager
def running(trial: Any) -> Iterator[TrialRun]:
    """Make ``trial`` the current one while its job runs."""
    global _RUNNING
    previous, _RUNNING = _RUNNING, TrialRun(trial)
    try:
        yield _RUNNING
    finally:
        _RUNNING = previous


class OptunaPruning(L.Callback):
    """Reports ``monitor`` to the current Optuna trial after each validation (step: the validation's
    index, the epoch when validating once per epoch) and stops the run, as early stopping does, when
    the trial's pruner says it cannot catch up: the sweeper then marks the trial pruned. Does nothing
    outside a search (no current trial), so a search config's run also runs alone."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        run = current_trial()
        if run is None or trainer.sanity_checking or run.pruned_at is not None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return  # a NaN loss ends the run by itself (NonFiniteLossError): a failed trial
        step, run.reports = run.reports, run.reports + 1
        run.trial.report(float(value), step)
        if run.trial.should_prune():
            run.pruned_at = step
            trainer.should_stop = True
            log.info("the study's pruner stops this trial: %s %.4f at validation %d", self.monitor, float(value), step)
