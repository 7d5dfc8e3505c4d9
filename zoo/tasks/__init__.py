"""LightningModules, one per task (not per model), on the base in ``zoo/tasks/base.py``.

The model registry says which task a model is for (``register_model(task=...)``); the task named
``x`` is the ``Task`` subclass declaring ``name = "x"`` in ``zoo/tasks/x.py``, with its settings in
``configs/task/x.yaml``. So a new task is one file here and one config file.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from zoo.errors import UnknownNameError

HELPERS = {"base", "buffered_updates", "finite_loss", "pca"}  # modules here that hold no task


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



@cache
def notebook_object(task: str) -> str:
    """The task's ``notebook_object`` ("module:attribute"), read from ``zoo/tasks/<task>.py``'s source
    without importing it (no Lightning): ``zoo.load`` needs only this. A test holds it to the class's."""
    import ast
    from pathlib import Path

    if task not in list_tasks():
        raise UnknownNameError(f"unknown task {task!r}; valid tasks: {', '.join(list_tasks())}")
    tree = ast.parse((Path(__file__).parent / f"{task}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["notebook_object"]:
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    raise UnknownNameError(f"task {task!r} declares no notebook_object in zoo/tasks/{task}.py")


def make_notebook_object(path: str, model: Any, config: dict[str, Any]) -> Any:
    """``path`` ("module:attribute[.attribute]") called with the trained model and its settings."""
    module, _, attributes = path.partition(":")
    target: Any = importlib.import_module(module)
    for attribute in attributes.split("."):
        target = getattr(target, attribute)
    return target(model, config)
