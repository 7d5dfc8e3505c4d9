"""PyTorch Hub entry points (https://pytorch.org/docs/stable/hub.html), one per model of the zoo:

    torch.hub.load("<this repository or folder>", "lenet5", weights="mnist", source="local")

gives what ``zoo.load("lenet5", weights="mnist")`` gives (the zoo's published weights, offline,
``zoo.list_weights()``); without ``weights``, an untrained network (``zoo.create_model``).
"""

from __future__ import annotations

from typing import Any, Callable

dependencies = ["torch", "torchvision", "lightning", "hydra", "safetensors"]


def _entry_point(model: str) -> Callable[..., Any]:
    def entry_point(weights: str | None = None, **kwargs: Any) -> Any:
        import zoo

        return zoo.create_model(model, **kwargs) if weights is None else zoo.load(model, weights=weights, **kwargs)

    entry_point.__name__ = entry_point.__qualname__ = model
    entry_point.__doc__ = f"``{model}``: published weights with ``weights=<tag>`` (zoo.list_weights()), else untrained."
    return entry_point


def _register_entry_points() -> None:
    from zoo.registry import list_models

    for model in list_models():
        globals()[model] = _entry_point(model)


_register_entry_points()
