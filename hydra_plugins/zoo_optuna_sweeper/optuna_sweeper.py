"""``hydra/sweeper=zoo_optuna``: an Optuna study as a Hydra sweeper, for current Optuna (hydra-optuna-sweeper
pins Optuna below 3). Hydra imports this module whenever it starts (plugin discovery), so it imports
neither Optuna nor Lightning: ``zoo.hparams_search`` does the work, when a sweep starts. (No
``from __future__ import annotations``: Hydra runs this module before it is in ``sys.modules``, where
dataclasses would look up string annotations.)
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class ZooOptunaSweeperConf:
    _target_: str = "hydra_plugins.zoo_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    # sampler and pruner are built by the sweeper (the sampler's seed moves on when a study resumes)
    _recursive_: bool = False
    # the number of finished trials (complete, pruned or failed) the study should hold: rerunning the same
    # command resumes the study and runs only the trials still missing
    n_trials: int = 20
    # null: the hparams_search config's name (else run_name); one storage can hold many studies
    study_name: Optional[str] = None
    # an Optuna storage URL (null: in memory, nothing kept). The default keeps every study of a recipe in
    # logs/<run_name>/optuna.db, beside its runs/ and multiruns/
    storage: Optional[str] = "sqlite:///${paths.log_dir}/${run_name}/optuna.db"
    # maximize or minimize; null: from optimized_mode (max or min)
    direction: Optional[str] = None
    # {_target_: optuna.samplers.<Sampler>, ...}, built with hydra.utils.instantiate; its `seed` moves on by the
    # number of trials already in the study (a resumed study draws new values). null: TPE, seeded with `seed`
    sampler: Any = None
    # {_target_: optuna.pruners.<Pruner>, ...}, reading the optimized_metric reported after each validation
    # (callbacks.optuna_pruning). null: no pruning
    pruner: Any = None
    # the search space: key -> {type: float|int|categorical, ...} (see configs/hparams_search/lenet5_optuna.yaml)
    params: Dict[str, Any] = field(default_factory=dict)
    # stop the sweep when this many trials in a row failed (a setting that fails every trial); 0: never
    max_consecutive_failures: int = 3


ConfigStore.instance().store(group="hydra/sweeper", name="zoo_optuna", node=ZooOptunaSweeperConf, provider="zoo")


class OptunaSweeper(Sweeper):
    """Asks Optuna for one trial at a time, runs it as a job of the multirun and tells Optuna its result."""

    def __init__(
        self,
        n_trials: int,
        study_name: Optional[str],
        storage: Optional[str],
        direction: Optional[str],
        sampler: Any,
        pruner: Any,
        params: Optional[Dict[str, Any]],
        max_consecutive_failures: int = 3,
    ) -> None:
        self.n_trials = n_trials
        self.study_name = study_name
        self.storage = storage
        self.direction = direction
        self.sampler = sampler
        self.pruner = pruner
        self.params = params or {}
        self.max_consecutive_failures = max_consecutive_failures
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:
        from zoo.cli import exit_on_user_error
        from zoo.errors import ZooError
        from zoo.hparams_search import run_search

        try:
            return run_search(self, arguments)
        except ZooError as error:
            exit_on_user_error(error)
