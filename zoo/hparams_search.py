"""Optuna hyperparameter search: ``python train.py -m hparams_search=lenet5_optuna`` (configs/hparams_search/).

The sweeper (``hydra/sweeper=zoo_optuna``, in ``hydra_plugins/zoo_optuna_sweeper``) runs ``run_search``:

- the search space: ``zoo.search_space`` (the config's ``hydra.sweeper.params`` and command-line sweeps);
- it asks Optuna (TPE by default) for one trial at a time and runs it as a job of the multirun, in this
  process (Hydra's basic launcher), in ``<sweep dir>/<trial number>``;
- ``OptunaPruning`` (``callbacks.optuna_pruning``) reports the job's ``optimized_metric`` to the trial
  after each validation and stops the run early when the pruner (median by default) says so;
- the job's return value (``train.py`` returns its ``optimized_metric``) is the trial's value,
  maximised or minimised as ``optimized_mode`` says; a run that fails or returns NaN is a failed trial;
- the study lives in ``hydra.sweeper.storage`` (SQLite by default): the same command again resumes it,
  running trials until the study holds ``n_trials`` finished ones. A trial stopped by Ctrl-C or SIGTERM
  is not counted and is run again, with the same values, first;
- at the end it prints the best trial as a ready-to-run command and writes ``optimization_results.yaml``
  in the sweep's folder.
"""

from __future__ import annotations

import logging
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf

from zoo.errors import RunInterruptedError, SettingError
from zoo.callbacks.optuna_pruning import TrialRun, running
from zoo.search_space import override_value, search_space, trial_overrides

log = logging.getLogger(__name__)

DIRECTIONS = {"max": "maximize", "min": "minimize", "maximize": "maximize", "minimize": "minimize"}
RESULTS_FILE = "optimization_results.yaml"


# --- the study ----------------------------------------------------------------------------------------


def build(settings: Any, seed_offset: int = 0) -> Any:
    """A sampler or pruner from its ``_target_`` config; a ``seed`` is moved on by ``seed_offset``
    (a resumed study must not draw its first random trials again)."""
    from hydra.utils import instantiate

    settings = OmegaConf.to_container(settings, resolve=True) if isinstance(settings, DictConfig) else dict(settings)
    if not isinstance(settings, dict) or "_target_" not in settings:
        raise SettingError(f"hydra.sweeper: {settings!r} is not {{_target_: optuna.<samplers|pruners>.<class>, ...}}")
    if settings.get("seed") is not None:
        settings["seed"] = int(settings["seed"]) + seed_offset
    try:
        return instantiate(settings)
    except Exception as error:
        cause = error.__cause__ or error
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise SettingError(f"hydra.sweeper: {settings.get('_target_')} refused its settings: {reason}") from None


def storage_url(url: str | None) -> str | None:
    """The storage URL, with the folder of an SQLite file made."""
    if url and url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return url or None


def counted(trial: Any) -> bool:
    """A trial that ran to an outcome (complete, pruned or failed): counts towards ``n_trials``."""
    return "outcome" in trial.user_attrs


def exception_chain(error: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def interruption(error: BaseException) -> bool:
    """Ctrl-C or SIGTERM (a cluster's time limit): the sweep stops and the trial is run again on resume."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    stops = (KeyboardInterrupt, RunInterruptedError, SIGTERMException)
    return any(isinstance(cause, stops) for cause in exception_chain(error))


def failure_reason(error: BaseException) -> str:
    for cause in exception_chain(error):
        if not isinstance(cause, SystemExit):
            text = str(cause).strip()
            return f"{type(cause).__name__}: {text.splitlines()[0][:200]}" if text else type(cause).__name__
    return f"exit status {getattr(error, 'code', '?')}"


@dataclass
class Outcome:
    state: str  # complete, pruned, failed
    value: float | None = None
    reason: str = ""


def job_outcome(job: Any, run: TrialRun, metric: str) -> Outcome:
    """What a job's ``JobReturn`` (or the exception its launch raised) means for its trial."""
    from hydra.core.utils import JobStatus

    if isinstance(job, BaseException):
        return Outcome("failed", reason=failure_reason(job))
    if job.status != JobStatus.COMPLETED:
        return Outcome("failed", reason=failure_reason(job._return_value))
    value = job.return_value
    if value is None:
        return Outcome("failed", reason=f"the run returned no {metric} (no validation ran?)")
    value = float(value)
    if run.pruned_at is not None:
        return Outcome("pruned", value)
    if not math.isfinite(value):
        return Outcome("failed", value, reason=f"{metric} is {value}")
    return Outcome("complete", value)


def tell(study: Any, trial: Any, outcome: Outcome) -> None:
    """Record a trial's outcome in the study."""
    from optuna.trial import TrialState

    trial.set_user_attr("outcome", outcome.state)
    if outcome.reason:
        trial.set_user_attr("failure", outcome.reason)
    if outcome.state == "complete":
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=TrialState.PRUNED if outcome.state == "pruned" else TrialState.FAIL)


def check_study(study: Any, attrs: dict[str, Any], direction: str) -> None:
    """A resumed study must be the same search: same metric, direction and fixed settings (the
    command line's plain overrides); the trials of another would not be comparable."""
    where = f"study {study.study_name!r} in {attrs['storage']}"
    advice = "give the search another name with hydra.sweeper.study_name=<name>"
    if study.direction.name.lower() != direction:
        raise SettingError(f"{where} was created to {study.direction.name.lower()}, not {direction}: {advice}")
    old_metric = study.user_attrs.get("optimized_metric", attrs["optimized_metric"])
    if old_metric != attrs["optimized_metric"]:
        raise SettingError(f"{where} optimised {old_metric}, not {attrs['optimized_metric']}: {advice}")
    old, new = set(study.user_attrs.get("fixed_overrides", attrs["fixed_overrides"])), set(attrs["fixed_overrides"])
    if old != new:
        was = " ".join(sorted(old - new)) or "nothing more"
        now = " ".join(sorted(new - old)) or "nothing more"
        raise SettingError(f"{where} ran its trials with {was}, this sweep with {now}: to resume it, give the"
                           f" same settings; to start another, {advice}")  # fmt: skip
    study.set_user_attr("optimized_metric", attrs["optimized_metric"])
    study.set_user_attr("fixed_overrides", sorted(new))


def best_command(config: DictConfig, fixed: Sequence[str], overrides: Sequence[str]) -> str:
    """``python train.py <the sweep's fixed overrides> <the trial's values>``, the recipe included when
    the search config chose it (an ``override /experiment:`` in its defaults)."""
    keys = {item.split("=", 1)[0].lstrip("+~") for item in fixed}
    recipe = OmegaConf.select(config, "hydra.runtime.choices.experiment", default=None)
    head = [f"experiment={recipe}"] if recipe and "experiment" not in keys else []
    words = [item for item in fixed if not item.split("=", 1)[0].lstrip("+~").startswith("hparams_search")]
    return " ".join(["python train.py", *map(shlex.quote, [*head, *words, *overrides])])


@dataclass
class Search:
    """An open study and what its trials share."""

    study: Any
    config: DictConfig
    metric: str
    direction: str
    fixed: list[str]
    space: dict[str, Any]
    storage: str | None
    sweep_dir: Path


def open_study(sweeper: Any, arguments: Sequence[str]) -> Search:
    """Create or resume the study the sweeper's settings name, refusing one run with other fixed settings."""
    import optuna

    config: DictConfig = sweeper.config
    metric = config.get("optimized_metric")
    mode = sweeper.direction or config.get("optimized_mode")
    if not metric or mode not in DIRECTIONS:
        raise SettingError("the search needs optimized_metric and optimized_mode (max or min): see configs/task/")
    direction = DIRECTIONS[mode]
    fixed, space = search_space(sweeper.params, arguments)
    if not space:
        raise SettingError("nothing to search: hydra.sweeper.params is empty and no sweep is on the command line")
    study_name = (sweeper.study_name or OmegaConf.select(config, "hydra.runtime.choices.hparams_search", default=None)
                  or config.get("run_name") or "zoo")  # fmt: skip
    storage = storage_url(sweeper.storage)
    pruner = build(sweeper.pruner) if sweeper.pruner else optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=study_name, storage=storage, direction=direction, load_if_exists=True,
                                pruner=pruner)  # fmt: skip
    check_study(study, {"optimized_metric": metric, "fixed_overrides": list(fixed), "storage": storage or "memory"}, direction)
    sampler = sweeper.sampler or {"_target_": "optuna.samplers.TPESampler", "seed": config.get("seed")}
    study.sampler = build(sampler, seed_offset=len(study.trials))
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    log.info("study %r (%s): %d of %d trials done; %s %s over %s", study_name, storage or "in memory",
             sum(map(counted, study.trials)), sweeper.n_trials, direction, metric, ", ".join(space))  # fmt: skip
    return Search(study, config, metric, direction, list(fixed), space, storage, sweep_dir)


def run_search(sweeper: Any, arguments: Sequence[str]) -> dict[str, Any]:
    """The sweep: ask, run, tell until the study holds ``n_trials`` finished trials; then the best."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep prints its own lines
    search = open_study(sweeper, arguments)
    failures = 0
    while sum(map(counted, search.study.get_trials(deepcopy=False))) < sweeper.n_trials:
        outcome = run_trial(sweeper, search)
        failures = failures + 1 if outcome.state == "failed" else 0
        if 0 < sweeper.max_consecutive_failures <= failures:
            raise SettingError(
                f"{failures} trials in a row failed, the last with {outcome.reason}: the sweep stopped; fix what"
                f" they share (hydra.sweeper.max_consecutive_failures={sweeper.max_consecutive_failures})"
            )
    return report(search.study, search.config, search.fixed, search.metric, search.direction, search.storage, search.sweep_dir)


def run_trial(sweeper: Any, search: Search) -> Outcome:
    """Ask the study for one trial, run it as a job of the multirun, tell the study how it went."""
    import optuna
    from hydra.core.utils import configure_log

    study, config, metric = search.study, search.config, search.metric
    trial = study.ask(search.space)
    values = trial_overrides(trial.params, search.space)
    trial.set_user_attr("overrides", values)
    overrides = [*search.fixed, *values]
    try:
        sweeper.validate_batch_is_legal([overrides])
    except BaseException:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    with running(trial) as run:
        try:
            (job,) = sweeper.launcher.launch([overrides], initial_job_idx=trial.number)
        except BaseException as error:  # SystemExit: train.py's one-line errors; Ctrl-C
            if interruption(error):
                trial.set_user_attr("interrupted", True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
                log.info("trial %d interrupted: the same command resumes the study, this trial first", trial.number)
                raise
            job = error
        finally:  # a job that raised left its own logging (its train.log) in place
            configure_log(config.hydra.hydra_logging, config.hydra.verbose)
        outcome = job_outcome(job, run, metric)
    tell(study, trial, outcome)
    error = job if isinstance(job, BaseException) else getattr(job, "_return_value", None)
    if outcome.state == "failed" and isinstance(error, BaseException) and not isinstance(error, SystemExit):
        log.error("trial %d failed", trial.number, exc_info=error)  # not a one-line error: a traceback
    shown = "" if outcome.value is None else f" {metric} {outcome.value:.4f}"
    pruned = f" at validation {run.pruned_at}" if outcome.state == "pruned" else ""
    reason = f" ({outcome.reason})" if outcome.reason else ""
    log.info("trial %d %s%s%s%s", trial.number, outcome.state, pruned, shown, reason)
    return outcome


def report(study: Any, config: DictConfig, fixed: Sequence[str], metric: str, direction: str, storage: str | None,
           sweep_dir: Path) -> dict[str, Any]:  # fmt: skip
    """Print the best trial as a command and write ``optimization_results.yaml`` in the sweep's folder."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    states = {state.name.lower(): sum(t.state == state and counted(t) for t in trials)
              for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}  # fmt: skip
    states["interrupted"] = sum("interrupted" in t.user_attrs for t in trials)
    if not states["complete"]:
        raise SettingError(f"no trial of study {study.study_name!r} ran to its end ({states['pruned']} pruned,"
                           f" {states['fail']} failed): no best trial")  # fmt: skip
    best = study.best_trial
    overrides = best.user_attrs.get("overrides") or [f"{k}={override_value(v)}" for k, v in best.params.items()]
    command = best_command(config, fixed, overrides)
    results = {
        "study_name": study.study_name,
        "storage": storage,
        "optimized_metric": metric,
        "direction": direction,
        "best_trial": best.number,
        "best_value": float(best.value),
        "best_overrides": list(overrides),
        "best_params": dict(best.params),
        "command": command,
        "trials": states,
    }
    (sweep_dir / RESULTS_FILE).write_text(OmegaConf.to_yaml(OmegaConf.create(results)))
    interrupted = f", {states['interrupted']} interrupted (and run again)" if states["interrupted"] else ""
    print(f"trials: {states['complete']} complete, {states['pruned']} pruned, {states['fail']} failed{interrupted};"
          f" results: {sweep_dir / RESULTS_FILE}")  # fmt: skip
    print(f"best {metric} {best.value:.4f} (trial {best.number}): {command}", flush=True)
    return results
