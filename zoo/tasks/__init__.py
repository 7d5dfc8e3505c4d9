"""LightningModules, one per task (not per model), on the base in ``zoo/tasks/base.py``.

The model registry says which task a model is for (``register_model(task=...)``); the task named
``x`` is the ``Task`` subclass declaring ``name = "x"`` in ``zoo/tasks/x.py``, with its settings in
``configs/task/x.yaml``. So a new task is one file here and one config file.
"""

from __future__ import annotations

import importlib
import pkgutil

from zoo.errors import UnknownNameError

HELPERS = {"base", "pca"}  # modules here that hold no task


def list_tasks() -> list[str]:
    """The names of the zoo's tasks (one module of this package each)."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__) if module.name not in HELPERS)


def get_task(name: str) -> type:
    """The task class named ``name``."""
    from zoo.tasks.base import TASKS

    if name not in list_tasks():
        raise UnknownNameError(f"unknown task {name!r}; valid tasks: {', '.join(list_tasks())}")
    importlib.import_module(f"{__name__}.{name}")
    return TASKS[name]

