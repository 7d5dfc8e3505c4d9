"""A run's settings as plain data: the model, data, optimizer and schedule configs a task is built from.

Training builds them from Hydra's configs; evaluation, ``zoo.load`` and resuming rebuild them from
a checkpoint's hyper-parameters or a ``.safetensors`` file's metadata. Both go through the same
checks: every name must be one the zoo owns (a registered model, a data module of
``datamodules.registry``, an optimizer or schedule of ``zoo.optim``) and every value a plain value of
the type its parameter expects. Nothing here imports, evaluates or instantiates a name from a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from zoo.errors import SettingError, first_line
from zoo.optim import optimizer_problem, scheduler_problem
from zoo.plain_values import check_arguments, find_code_reference
from zoo.registry import get_model_entry, list_models
from zoo.weights import without_weight_sources

if TYPE_CHECKING:
    import lightning as L

BATCH_SIZE_KEYS = ("batch_size", "eval_batch_size")


def model_problem(config: Any) -> str | None:
    """What is wrong with a model config ``{"name": ..., builder arguments}``, or None."""
    if not isinstance(config, Mapping):
        return "is not a mapping of settings"
    name = config.get("name")
    if not isinstance(name, str) or name not in list_models():
        return f"name {name!r} is not a model of the zoo (valid: {', '.join(list_models())})"
    arguments = {k: v for k, v in without_weight_sources(config).items() if k != "name"}
    return check_arguments(get_model_entry(name).builder, arguments)


def data_problem(config: Any) -> str | None:
    """What is wrong with a data config ``{"module": ..., data-module arguments}``, or None."""
    from datamodules.registry import data_modules

    modules = data_modules()

    if not isinstance(config, Mapping):
        return "is not a mapping of settings"
    module = config.get("module")
    if module not in modules:
        return f"module {module!r} is not a data module of the zoo (valid: {', '.join(sorted(modules))})"
    for key in BATCH_SIZE_KEYS:
        value = config.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            return f"{key}={value!r} is not a positive number of samples"
    return check_arguments(modules[module], {k: v for k, v in config.items() if k != "module"})


def build_datamodule(config: Mapping[str, Any], **fixed: Any) -> L.LightningDataModule:
    """The data module a data config names, with ``fixed`` arguments (a trained model's sizes) on top."""
    from datamodules.registry import data_modules

    modules = data_modules()

    if not isinstance(config, dict):  # a Hydra DictConfig: plain values, interpolations resolved
        from omegaconf import OmegaConf

        config = OmegaConf.to_container(config, resolve=True)
    settings = {**config, **fixed}
    problem = data_problem(settings)
    if problem:
        raise SettingError(f"data.{problem}: set it on the command line (e.g. data.batch_size=64)")
    return modules[settings["module"]](**{k: v for k, v in settings.items() if k != "module"})


def hyperparameter_problem(hparams: Mapping[str, Any], task_cls: type | None = None, model_only: bool = False) -> str | None:
    """Where a task's hyper-parameters (a checkpoint's, or a safetensors file's metadata) are not
    what the zoo writes: ``"<key>: <problem>"``, or None. ``task_cls`` checks the task settings too.
    ``model_only``: for a file whose hash the zoo's own catalogue vouches for, check only what
    ``zoo.load`` builds (no code references, the model settings, the data info record), not the data
    module's and optimiser's settings (checking those imports every data module and Lightning)."""
    where = find_code_reference(hparams, tensors_allowed=False)
    if where:
        return where
    checks = (
        ("model", model_problem),
        ("data_config", lambda c: None if c is None or model_only else data_problem(c)),
        ("optimizer", lambda c: None if not c or model_only else optimizer_problem(c)),
        ("scheduler", lambda c: None if model_only else scheduler_problem(c)),
    )
    for key, check in checks:
        problem = check(hparams.get(key))
        if problem:
            return f"{key}.{problem}" if not problem.startswith("is not") else f"{key} {problem}"
    if task_cls is not None:
        from zoo.tasks.base import STRUCTURE

        problem = task_cls.settings_problem({k: v for k, v in hparams.items() if k not in STRUCTURE})
        if problem:
            return problem
    if "data_info" in hparams:
        problem = data_info_problem(hparams["data_info"])
        if problem:
            return f"data_info {problem}"
    return None


def data_info_problem(record: Any) -> str | None:
    """What is wrong with a data info record (``datamodules.info``), or None."""
    from datamodules.info import info_from_dict

    if not isinstance(record, Mapping):
        return "is not a mapping of settings"
    try:
        info_from_dict(record)
    except (TypeError, ValueError) as error:
        return first_line(error)
    return None
