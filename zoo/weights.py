"""Pretrained weights: torchvision's published ImageNet weights (downloaded when online), a local
file (``.pth``/``.pt`` state_dict, a Lightning checkpoint, or ``.safetensors``), or one of the zoo's
own published weights (``model.weights=<model>.<tag>``, ``zoo.list_weights()``; read offline).

Weights load by parameter name, which our models share with torchvision. When the class count
differs (transfer learning), the classifier head keeps its fresh initialisation and everything
else is copied: "copy over the weights learned for task A".
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo.checkpoint import network_state_dict
from zoo.errors import ZooError, first_line

log = logging.getLogger(__name__)
# the model settings that say where the weights come from (not the architecture): stripped when a model is
# rebuilt from a checkpoint's settings; encoder_ckpt: zoo.models.encoder_classifier
WEIGHT_KEYS = ("pretrained", "weights_path", "weights", "encoder_ckpt")


class WeightsError(ZooError, ValueError):
    """Weights that are missing, cannot be fetched, or belong to another architecture."""


def without_weight_sources(model_config: dict[str, Any]) -> dict[str, Any]:
    """A model config that rebuilds the architecture only (its weights come from elsewhere)."""
    return {key: value for key, value in model_config.items() if key not in WEIGHT_KEYS}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from a file: a plain state_dict, a checkpoint holding one, or safetensors. Read
    as data only (tensors and plain values): a file asking for other objects is refused."""
    from zoo.checkpoint import load_tensors_and_data, read_checkpoint

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}: set model.weights_path to a .pth, .ckpt or .safetensors file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file, safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
            state = load_file(str(path))
        except Exception as error:
            raise WeightsError(f"cannot read weights file {path} ({first_line(error)}): truncated or not safetensors") from None
        if "zoo" in metadata:  # one of ours: its settings are checked like a checkpoint's, tied aliases restored
            from zoo.checkpoint import read_safetensors

            return read_safetensors(path)[1]
        return state
    state = load_tensors_and_data(path, WeightsError)
    if isinstance(state, dict) and "hyper_parameters" in state:  # a Lightning checkpoint: read it as one
        state = read_checkpoint(path)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"{path} holds no state_dict (names to tensors): pass a .pth, .ckpt or .safetensors of weights")
    if any(key.startswith("model.") for key in state):  # one of our Lightning checkpoints
        state = network_state_dict(state)
    return state


def torchvision_state_dict(name: str) -> dict[str, torch.Tensor]:
    """torchvision's default published weights for architecture ``name`` (downloaded once, then cached)."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError):
        raise WeightsError(f"torchvision publishes no weights for {name!r}; train it or set model.weights_path") from None
    try:
        return weights.get_state_dict(progress=True)
    except Exception as error:
        raise WeightsError(
            f"could not download torchvision's {name} weights ({first_line(error)}): fetch {weights.url} where there is"
            f" a network and pass model.weights_path=<that file>"
        ) from None


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Copy ``state_dict`` into ``model``; a head of another class count is left as initialised."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = sorted(key for key in set(own) & set(state_dict) if own[key].shape != state_dict[key].shape)
    head = head_parameter_names(model)
    first_conv = next((f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv in mismatched and own[first_conv].shape[1] != state_dict[first_conv].shape[1]:
        raise WeightsError(
            f"the weights in {source} take {state_dict[first_conv].shape[1]}-channel images but this"
            f" {type(model).__name__} was built for {own[first_conv].shape[1]} (the data's channels):"
            f" use {state_dict[first_conv].shape[1]}-channel data or train without these weights"
        )
    if missing or unexpected or not set(mismatched) <= head:
        examples = (missing or unexpected or [k for k in mismatched if k not in head])[:3]
        raise WeightsError(
            f"the weights in {source} are for another architecture than {type(model).__name__}"
            f" ({len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mismatched keys,"
            f" e.g. {', '.join(examples)}); pick weights of the same model"
        )
    kept = {key: value for key, value in state_dict.items() if key not in mismatched}
    model.load_state_dict({**own, **kept})
    if mismatched:
        log.info("loaded %s except the classifier head (%s): it keeps its fresh initialisation", source, ", ".join(mismatched))
    return model


def head_parameter_names(model: nn.Module) -> set[str]:
    """Parameter names of the last ``nn.Linear`` (the classifier head)."""
    last = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)][-1:]
    return {f"{last[0]}.{param}" for param, _ in model.get_submodule(last[0]).named_parameters()} if last else set()


def published_state_dict(name: str, weights: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and model settings of the zoo's published weight ``weights`` (``"<model>.<tag>"``, its
    file checked against ``weights/index.json``) for model ``name``; one line when it is not one of ``name``'s."""
    from zoo.catalogue import index, weights_file
    from zoo.checkpoint import read_safetensors

    model, dot, tag = weights.partition(".") if isinstance(weights, str) else ("", "", "")
    if not (model and dot and tag):
        raise WeightsError(f"model.weights={weights!r} is not <model>.<tag> ({published_of(name, index())})")
    if model != name:
        raise WeightsError(f"model.weights={weights} is a weight of {model!r}, not of {name!r}"
                           f" ({published_of(name, index())}): fine-tune it with model={model}")  # fmt: skip
    settings, state = read_safetensors(weights_file(model, tag), vouched=True)  # its sha256 is the catalogue's
    return state, dict(settings.get("model") or {})


def published_of(name: str, entries: dict[str, dict[str, Any]]) -> str:
    """The published weights of model ``name``, in words, for the one-line errors."""
    tags = sorted(f"{name}.{entry['tag']}" for entry in entries.values() if entry.get("model") == name)
    return f"published weights of {name!r}: {', '.join(tags) or 'none'}; zoo.list_weights() lists them all"


def settings_differences(published: dict[str, Any], builder: Any, arguments: dict[str, Any]) -> list[str]:
    """``key=published (this model: ours)`` for each architecture setting a published weight was trained
    with that the model being built does not share (the class count aside: a new head is expected)."""
    import inspect

    try:
        parameters = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        parameters = {}
    differences = []
    for key, value in published.items():
        if key in ("name", "num_classes", *WEIGHT_KEYS):
            continue
        default = parameters[key].default if key in parameters else inspect.Parameter.empty
        ours = arguments.get(key, default)
        if ours != value:
            shown = "unset" if ours is inspect.Parameter.empty else repr(ours)
            differences.append(f"{key}={value!r} (this model: {shown})")
    return differences


def apply_weight_source(
    model: nn.Module,
    name: str,
    pretrained: str | None,
    weights_path: str | None,
    weights: str | None = None,
    arguments: dict[str, Any] | None = None,
) -> nn.Module:
    """Load the zoo's published ``weights`` (``"<model>.<tag>"``) if given, else ``weights_path``, else
    torchvision's weights when ``pretrained == "torchvision"``. ``arguments``: the builder arguments the
    model was built with (named in the error when a published weight does not fit them)."""
    if weights is not None:
        others = [key for key, value in (("pretrained", pretrained), ("weights_path", weights_path),
                                         ("encoder_ckpt", (arguments or {}).get("encoder_ckpt"))) if value]  # fmt: skip
        if others:
            combined = " or ".join(f"model.{key}" for key in others)
            raise WeightsError(f"model.weights={weights} cannot be combined with {combined}: give one weight source")
        state, published = published_state_dict(name, weights)
        try:
            return load_weights(model, state, f"the zoo's {weights}")
        except WeightsError as error:
            from zoo.registry import get_model_entry

            differences = settings_differences(published, get_model_entry(name).builder, arguments or {})
            if not differences:
                raise
            raise WeightsError(f"{error}; {weights} was trained with {', '.join(differences)}") from None
    if weights_path:
        return load_weights(model, read_state_dict(weights_path), str(weights_path))
    if pretrained == "torchvision":
        return load_weights(model, torchvision_state_dict(name), f"torchvision's {name} weights")
    if pretrained:
        raise WeightsError(f"unknown pretrained={pretrained!r}; use 'torchvision' or set model.weights_path")
    return model


def main(argv: list[str] | None = None) -> None:
    """``python -m zoo.weights build <model>.<tag> | all`` (see ``zoo.catalogue_build``)."""
    from zoo.catalogue_build import main as catalogue_main

    catalogue_main(argv)


if __name__ == "__main__":
    main()
