"""Optuna hyperparameter search: ``python train.py -m hparams_search=lenet5_optuna`` (configs/hparams_search/).

The sweeper (``hydra/sweeper=zoo_optuna``, in ``hydra_plugins/zoo_optuna_sweeper``) runs ``run_search``:

- the search space is ``hydra.sweeper.params`` (``key: {type: float|int|categorical, ...}``), plus any
  sweep on the command line in Hydra's syntax (``'optimizer.lr=tag(log, interval(1e-4, 1e-1))'``,
  ``data.batch_size=choice(32,64)``, ``range(1,4)``); a plain ``key=value`` on the command line fixes
  that key for every trial (and takes it out of the search space);
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
import re
import shlex
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import lightning as L
from omegaconf import DictConfig, ListConfig, OmegaConf

from zoo.errors import RunInterruptedError, SettingError

log = logging.getLogger(__name__)

DIRECTIONS = {"max": "maximize", "min": "minimize", "maximize": "maximize", "minimize": "minimize"}
SPEC_KEYS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}, "categorical": {"choices"}}
RESULTS_FILE = "optimization_results.yaml"


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


# --- the search space ----------------------------------------------------------------------------------


def distribution(key: str, spec: Any) -> Any:
    """An Optuna distribution from a ``hydra.sweeper.params`` entry: ``{type: float, low: 1e-4,
    high: 1e-1, log: true}``, ``{type: int, low: 1, high: 4, step: 1}``, ``{type: categorical,
    choices: [32, 64]}`` (or just the list), or a string in Hydra's sweep syntax."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(spec, (DictConfig, ListConfig)):
        spec = OmegaConf.to_container(spec, resolve=True)
    if isinstance(spec, str):
        return sweep_distribution(key, spec)
    if isinstance(spec, list):
        spec = {"type": "categorical", "choices": spec}
    if not isinstance(spec, dict) or spec.get("type") not in SPEC_KEYS:
        raise SettingError(
            f"hydra.sweeper.params.{key}: {spec!r} is not a search range; write {{type: float, low: .., high: ..,"
            " log: true}, {type: int, low: .., high: ..} or {type: categorical, choices: [..]}"
        )
    kind = spec["type"]
    unknown = set(spec) - SPEC_KEYS[kind] - {"type"}
    if unknown:
        raise SettingError(
            f"hydra.sweeper.params.{key}: a {kind} range takes {sorted(SPEC_KEYS[kind])}, not {sorted(unknown)}"
        )
    try:
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ValueError("choices must be a non-empty list")
            return CategoricalDistribution(choices)
        if "low" not in spec or "high" not in spec:
            raise ValueError("needs low and high")
        if kind == "float":
            step = None if spec.get("step") is None else float(spec["step"])
            log_scale = bool(spec.get("log", False))
            return FloatDistribution(float(spec["low"]), float(spec["high"]), log=log_scale, step=step)
        return IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                               step=int(spec.get("step") or 1))  # fmt: skip
    except (ValueError, TypeError) as error:
        raise SettingError(f"hydra.sweeper.params.{key}: {error}") from None


def sweep_distribution(key: str, text: str) -> Any:
    """An Optuna distribution from Hydra's sweep syntax: ``choice(a,b)`` or ``a,b``, ``range(start, stop,
    step)`` (stop excluded, as Hydra's), ``interval(low, high)``; ``tag(log, ...)`` for a log scale,
    ``tag(int, interval(...))`` for integers."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (override,) = OverridesParser.create().parse_overrides([f"{key}={text}"])
    except Exception as error:  # Hydra's parser error: one line
        raise SettingError(f"hydra.sweeper.params.{key}: cannot read {text!r}: {str(error).splitlines()[0]}") from None
    found = override_distribution(override)
    if found is None:
        raise SettingError(
            f"hydra.sweeper.params.{key}: {text!r} is one value, not a range:"
            " give choice(..), interval(..) or range(..)"
        )
    return found


def override_distribution(override: Any) -> Any:
    """The distribution of a parsed Hydra sweep override, or None when it is not a sweep."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return None
    value, key = override.value(), override.key_or_group
    tags = set(getattr(value, "tags", ()) or ())
    if isinstance(value, IntervalSweep):
        if "int" in tags:
            return IntDistribution(int(value.start), int(value.end), log="log" in tags)
        return FloatDistribution(float(value.start), float(value.end), log="log" in tags)
    if "log" in tags:
        raise SettingError(f"{key}: tag(log, ...) goes with interval(low, high) only")
    if isinstance(value, RangeSweep):
        values = list(value.range())
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)) and value.step > 0 and values:
            return IntDistribution(values[0], values[-1], step=value.step)
        return CategoricalDistribution(values)
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution([choice_value(v) for v in value.list])
    raise SettingError(f"{key}: {override.input_line!r} is a sweep the Optuna sweeper cannot search (glob)")


def choice_value(value: Any) -> Any:
    """A parsed Hydra choice as Optuna takes it (None, bool, int, float or str)."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def search_space(params: Mapping[str, Any], arguments: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """(the overrides every trial gets, the search space) from the configured params and the command line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    space = {str(key): distribution(str(key), spec) for key, spec in (params or {}).items()}
    fixed = []
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        found = override_distribution(override)
        if found is not None:
            space[override.key_or_group] = found
        else:
            space.pop(override.key_or_group, None)  # fixed on the command line
            fixed.append(override.input_line)
    return fixed, space


def override_value(value: Any, float_param: bool = False) -> str:
    """A sampled value as the text of a Hydra override: six significant digits for floats (what the
    trial runs with, and what the best trial's command repeats)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) or (float_param and isinstance(value, int)):
        text = f"{float(value):.6g}"
        return text if re.search(r"[.e]|inf|nan", text) else f"{text}.0"
    if isinstance(value, str) and not re.fullmatch(r"[\w.\-/]+", value):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def trial_overrides(params: Mapping[str, Any], space: Mapping[str, Any]) -> list[str]:
    from optuna.distributions import FloatDistribution

    return [f"{key}={override_value(params[key], isinstance(space[key], FloatDistribution))}" for key in space]


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


def run_search(sweeper: Any, arguments: Sequence[str]) -> dict[str, Any]:
    """The sweep: ask, run, tell until the study holds ``n_trials`` finished trials; then the best."""
    import optuna
    from hydra.core.utils import configure_log

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweep prints its own lines
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
    attrs = {"optimized_metric": metric, "fixed_overrides": list(fixed), "storage": storage or "memory"}
    check_study(study, attrs, direction)
    sampler = sweeper.sampler or {"_target_": "optuna.samplers.TPESampler", "seed": config.get("seed")}
    study.sampler = build(sampler, seed_offset=len(study.trials))

    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    done = sum(map(counted, study.trials))
    log.info("study %r (%s): %d of %d trials done; %s %s over %s", study_name, storage or "in memory", done,
             sweeper.n_trials, direction, metric, ", ".join(space))  # fmt: skip

    failures = 0
    while sum(map(counted, study.get_trials(deepcopy=False))) < sweeper.n_trials:
        trial = study.ask(space)
        values = trial_overrides(trial.params, space)
        trial.set_user_attr("overrides", values)
        overrides = [*fixed, *values]
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
        failures = failures + 1 if outcome.state == "failed" else 0
        if 0 < sweeper.max_consecutive_failures <= failures:
            raise SettingError(
                f"{failures} trials in a row failed, the last with {outcome.reason}: the sweep stopped; fix what"
                f" they share (hydra.sweeper.max_consecutive_failures={sweeper.max_consecutive_failures})"
            )
    return report(study, config, fixed, metric, direction, storage, sweep_dir)


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
