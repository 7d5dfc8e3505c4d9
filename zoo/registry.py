"""Model registry: builders are registered by name, like ``torchvision.models.get_model``.

Each entry records the builder and the task the model is for (``classification`` for
classifiers): the one place that says it. The training code picks the task's LightningModule
(``zoo.tasks.get_task``) and its config (``configs/task/<task>.yaml``) from it.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from zoo.errors import UnknownNameError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., "nn.Module"]
    task: str


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str | None = None, *, task: str = "classification") -> Callable:
    """Decorator that registers a model builder under ``name`` (default: the function's name)."""

    def decorate(builder: Callable[..., "nn.Module"]) -> Callable[..., "nn.Module"]:
        key = name or builder.__name__
        if key in _MODELS:
            raise ValueError(f"model {key!r} is registered twice")
        _MODELS[key] = ModelEntry(key, builder, task)
        return builder

    return decorate


def _register_builtin_models() -> None:
    """Import the zoo's model files, which register their builders (once; a no-op after)."""
    import zoo.models  # noqa: F401


def list_models(pattern: str = "*", task: str | None = None, pretrained: bool = False) -> list[str]:
    """Sorted names of registered models, filtered by a wildcard ``pattern`` and ``task``; with
    ``pretrained=True`` only those the zoo publishes at least one weight of (``zoo.list_weights()``)."""
    _register_builtin_models()
    published = None
    if pretrained:
        from zoo.catalogue import index

        published = {entry.get("model") for entry in index().values()}
    return sorted(
        name
        for name, entry in _MODELS.items()
        if fnmatch.fnmatch(name, pattern)
        and (task is None or entry.task == task)
        and (published is None or name in published)
    )


def get_model_entry(name: str) -> ModelEntry:
    _register_builtin_models()
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}; valid names: {', '.join(list_models())}"
        ) from None


def create_model(
    name: str, pretrained: str | None = None, weights_path: str | None = None, weights: str | None = None, **kwargs: Any
) -> "nn.Module":
    """Build the model registered as ``name`` with builder keyword arguments ``kwargs``.

    ``weights="<model>.<tag>"`` starts from one of the zoo's published weights (``zoo.list_weights()``,
    offline), ``pretrained="torchvision"`` from torchvision's published weights for the same
    architecture, ``weights_path`` from a local file; with another ``num_classes`` the head stays
    freshly initialised.
    """
    model = get_model_entry(name).builder(**kwargs)
    if pretrained or weights_path or weights is not None:
        from zoo.weights import apply_weight_source

        model = apply_weight_source(model, name, pretrained, weights_path, weights, kwargs)
    return model


@functools.cache
def declared_tasks() -> dict[str, str]:
    """The tasks the model files declare, read from their source without importing them (no torch):
    ``@register_model(...)`` on a function or class, and ``register_model("name", ...)(cls)``. Models
    registered another way (by a factory, under a computed name) are not listed: ``task_of`` imports
    the registry for them. A test checks that this reading agrees with the imported registry."""
    import ast
    from pathlib import Path

    declared: dict[str, str] = {}
    for path in sorted((Path(__file__).parent / "models").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                calls = [(d, node.name) for d in node.decorator_list if isinstance(d, ast.Call)]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Call) and node.args and isinstance(node.args[0], ast.Name):
                calls = [(node.func, node.args[0].id)]
            else:
                continue
            for call, default_name in calls:
                if getattr(call.func, "id", None) != "register_model":
                    continue
                if call.args and not isinstance(call.args[0], ast.Constant):
                    continue  # a computed name: only the import knows it
                name = call.args[0].value if call.args else default_name
                task = next((k.value.value for k in call.keywords if k.arg == "task" and isinstance(k.value, ast.Constant)), "classification")
                declared[name] = task
    return declared


def task_of(name: str) -> str | None:
    """The task model ``name`` is registered for (None if no model has that name); read from the
    model files' source when it can be, so that composing a config imports no torch."""
    task = declared_tasks().get(name)
    if task is not None:
        return task
    return get_model_entry(name).task if name in list_models() else None
