"""Optimisers and learning-rate schedules chosen by name (``configs/optimizer``, ``configs/scheduler``).

A config is ``{"name": "adam", "lr": 0.001, ...}``: the name picks a ``torch.optim`` class from the
tables below and the other keys are its keyword arguments, checked against its signature. A checkpoint
records the same plain dict, never a class path, so rebuilding a run from a file runs no code it names.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch
from torch.optim import lr_scheduler

from zoo.errors import SettingError
from zoo.plain_values import check_arguments

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adadelta": torch.optim.Adadelta,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
}
SCHEDULERS: dict[str, type] = {
    "step": lr_scheduler.StepLR,
    "multistep": lr_scheduler.MultiStepLR,
    "cosine": lr_scheduler.CosineAnnealingLR,
    "one_cycle": lr_scheduler.OneCycleLR,
    "plateau": lr_scheduler.ReduceLROnPlateau,
}
# settings of ours in a scheduler config, not arguments of the torch class
SCHEDULE_KEYS = ("name", "interval", "monitor")
# schedule lengths that None asks to fill from the run's length
FILLED = ("T_max", "total_steps")
# learning rates a schedule keeps in the optimizer's parameter groups (OneCycleLR: initial, max and min)
LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")


def optimizer_problem(config: Mapping[str, Any]) -> str | None:
    """What is wrong with an optimizer config (unknown name or keyword, a wrong type, a learning rate
    that is not a positive number), or None."""
    name = config.get("name")
    if name not in OPTIMIZERS:
        return f"name {name!r} is not an optimizer of the zoo (valid: {', '.join(sorted(OPTIMIZERS))})"
    settings = {k: v for k, v in config.items() if k != "name"}
    problem = check_arguments(OPTIMIZERS[name], settings)
    if problem:
        return problem
    lr = settings.get("lr", 1.0)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not math.isfinite(lr) or lr <= 0:
        return f"lr={lr!r} is not a positive number"
    return None


def scheduler_problem(config: Mapping[str, Any] | None) -> str | None:
    """What is wrong with a scheduler config (empty or None: a constant learning rate), or None."""
    if not config:
        return None
    name = config.get("name")
    if name not in SCHEDULERS:
        return f"name {name!r} is not a learning-rate schedule of the zoo (valid: {', '.join(sorted(SCHEDULERS))})"
    if config.get("interval", "epoch") not in ("epoch", "step"):
        return f"interval={config.get('interval')!r} is not 'epoch' or 'step'"
    if not isinstance(config.get("monitor", ""), (str, type(None))):
        return f"monitor={config.get('monitor')!r} is not a metric name (e.g. val/loss)"
    settings = {k: v for k, v in config.items() if k not in SCHEDULE_KEYS and not (k in FILLED and v is None)}
    return check_arguments(SCHEDULERS[name], settings)


def build_optimizer(config: Mapping[str, Any], parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``config`` names, over ``parameters``."""
    problem = optimizer_problem(config)
    if problem:
        raise SettingError(f"optimizer.{problem}: set it on the command line (e.g. optimizer.lr=0.001)")
    settings = {k: v for k, v in config.items() if k != "name"}
    return OPTIMIZERS[config["name"]](list(parameters), **settings)


def build_scheduler(
    config: Mapping[str, Any], optimizer: torch.optim.Optimizer, total_steps: int, total_epochs: int
) -> tuple[Any, str]:
    """The schedule ``config`` names and its interval (``epoch`` or ``step``); ``T_max`` and
    ``total_steps`` left ``None`` are filled from the run's length in that interval."""
    problem = scheduler_problem(config)
    if problem:
        raise SettingError(f"scheduler.{problem}: set it on the command line (e.g. scheduler=cosine)")
    settings = {k: v for k, v in config.items() if k not in SCHEDULE_KEYS}
    interval = config.get("interval", "epoch")
    length = total_steps if interval == "step" else total_epochs
    for key, value in zip(FILLED, (length, total_steps)):
        if key in settings and settings[key] is None:
            settings[key] = max(int(value), 1)
    return SCHEDULERS[config["name"]](optimizer, **settings), interval


def apply_new_settings(
    optimizer: torch.optim.Optimizer, schedulers: list[Any], restored: Mapping[str, Any], requested: Mapping[str, Any]
) -> list[str]:
    """After a resume restored ``optimizer`` (and its schedules) from a checkpoint trained with the
    ``restored`` config, make the ``requested`` one (today's command line) take effect.

    A new learning rate scales the restored schedule: every learning rate the optimizer and its
    schedules hold is multiplied by ``new lr / old lr``, so the schedule goes on from where it was, at
    the new level. Other numeric settings (weight decay, momentum, betas) are set to the requested
    values. Returns what changed, for the log."""
    changed = []
    old_lr, new_lr = restored.get("lr"), requested.get("lr")
    if old_lr and new_lr and not math.isclose(old_lr, new_lr, rel_tol=1e-12):
        factor = float(new_lr) / float(old_lr)
        for group in optimizer.param_groups:
            for key in LR_KEYS:
                if isinstance(group.get(key), (int, float)):
                    group[key] *= factor
        for scheduler in schedulers:
            for attribute in ("base_lrs", "_last_lr"):
                values = getattr(scheduler, attribute, None)
                if isinstance(values, list):
                    setattr(scheduler, attribute, [value * factor for value in values])
        changed.append(f"lr {old_lr} -> {new_lr}")
    for key, value in requested.items():
        if key in ("name", "lr") or restored.get(key) == value:
            continue
        for group in optimizer.param_groups:
            if key in group and isinstance(group[key], (int, float, tuple, list)) and not isinstance(group[key], bool):
                group[key] = tuple(value) if isinstance(group[key], tuple) else value
        changed.append(f"{key} {restored.get(key)} -> {value}")
    return changed
