"""Pretrained weights: torchvision's published ImageNet weights (downloaded when online) or a
local file (``.pth``/``.pt`` state_dict, a Lightning checkpoint, or ``.safetensors``).

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
WEIGHT_KEYS = ("pretrained", "weights_path", "encoder_ckpt")  # encoder_ckpt: zoo.models.encoder_classifier


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
        if "zoo" in metadata:  # one of ours: its settings are checked like a checkpoint's
            from zoo.checkpoint import read_safetensors

            read_safetensors(path)
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


def apply_weight_source(model: nn.Module, name: str, pretrained: str | None, weights_path: str | None) -> nn.Module:
    """Load ``weights_path`` if given, else torchvision's weights when ``pretrained == "torchvision"``."""
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
