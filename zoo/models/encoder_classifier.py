"""Classifiers built on autoencoders' encoders.

``stacked_autoencoder``: a stack of sigmoid layers pretrained greedily, one autoencoder per
layer (layer 1 recreates the image, layer 2 recreates layer 1's codes, ...), then fine-tuned with
a softmax head (Bengio, Lamblin, Popovici & Larochelle, "Greedy layer-wise training of deep
networks", NIPS 2007; Hinton & Salakhutdinov 2006). ``zoo.tasks.LayerwisePretraining`` runs
the stages; with ``task.pretrain_epochs=0`` the same network trains from random initialisation.

``ae_classifier``: the encoder of any autoencoder in the zoo (``model.autoencoder``, its model
config) with a linear softmax head; ``encoder_ckpt`` copies a trained autoencoder's encoder
weights into it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.autoencoder import activation_layer
from zoo.registry import create_model, get_model_entry, register_model


class StackedAutoencoder(nn.Module):
    """Flatten -> ``[Linear -> activation]`` per hidden size -> Linear head; plus one linear
    decoder per layer, used only while that layer is pretrained (squared error on its input)."""

    def __init__(
        self, in_features: int, hidden_sizes: Sequence[int], num_classes: int, activation: str = "sigmoid"
    ) -> None:
        super().__init__()
        self.in_features = in_features
        widths = [in_features, *hidden_sizes]
        # the pretraining decoders come first so that the head is the last nn.Linear (zoo.weights.head_parameter_names)
        self.decoders = nn.ModuleList(nn.Linear(b, a) for a, b in zip(widths[:-1], widths[1:]))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.activation = activation_layer(activation)
        self.head = nn.Linear(widths[-1], num_classes)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def features(self, x: torch.Tensor, depth: int | None = None) -> torch.Tensor:
        """The activities of layer ``depth`` (default: the last)."""
        if x[0].numel() != self.in_features:
            raise ValueError(f"this stacked autoencoder takes {self.in_features} values per image, got {x[0].numel()}")
        h = x.flatten(1)
        for layer in self.layers[: self.num_layers if depth is None else depth]:
            h = self.activation(layer(h))
        return h

    def pretrain_loss(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Squared error of layer ``layer`` (0-based) recreating its input, the frozen codes of the layers below."""
        with torch.no_grad():
            inputs = self.features(x, layer)
        code = self.activation(self.layers[layer](inputs))
        return F.mse_loss(self.decoders[layer](code), inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(task="layerwise_pretraining")
def stacked_autoencoder(
    num_classes: int = 10, in_channels: int = 1, input_size: int = 28, hidden_sizes: Sequence[int] = (500, 300),
    activation: str = "sigmoid",
) -> StackedAutoencoder:  # fmt: skip
    """784-500-300-10 sigmoid units, the MLP of the MNIST table, pretrained as stacked autoencoders."""
    return StackedAutoencoder(in_channels * input_size * input_size, list(hidden_sizes), num_classes, activation)


class EncoderClassifier(nn.Module):
    """An autoencoder's encoder network (images -> codes) and a linear head on the codes."""

    def __init__(self, encoder: nn.Module, code_size: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(code_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def load_encoder_weights(autoencoder: nn.Module, model_config: dict[str, Any], path: str) -> None:
    """Copy the encoder of the autoencoder checkpoint at ``path`` into ``autoencoder``'s encoder."""
    from zoo.checkpoint import network_state_dict, read_checkpoint
    from zoo.weights import WeightsError, without_weight_sources

    checkpoint = read_checkpoint(path)
    trained_config = dict(checkpoint["hyper_parameters"]["model"])
    if get_model_entry(trained_config["name"]).task != "reconstruction":
        raise WeightsError(
            f"{path} holds a {trained_config['name']!r}, not an autoencoder: set model.encoder_ckpt to an autoencoder's"
            " checkpoint"
        )
    trained = create_model(**without_weight_sources(trained_config))
    trained.load_state_dict(network_state_dict(checkpoint["state_dict"]))
    if trained.code_size != autoencoder.code_size or trained_config["name"] != model_config["name"]:
        raise WeightsError(
            f"the encoder in {path} is a {trained_config['name']!r} with a {trained.code_size}-value code but this"
            f" classifier's model.autoencoder is a {model_config['name']!r} with a {autoencoder.code_size}-value code: set model.autoencoder"
            f" to the checkpoint's model config, {trained_config}"
        )
    own, theirs = autoencoder.encoder_network().state_dict(), trained.encoder_network().state_dict()
    differ = [key for key in own if key not in theirs or own[key].shape != theirs[key].shape]
    if differ or len(own) != len(theirs):
        raise WeightsError(
            f"the encoder in {path} has other layer sizes than model.autoencoder"
            f" (e.g. {differ[:1] or 'the layer count'}): set model.autoencoder to the checkpoint's model config, {trained_config}"
        )
    autoencoder.encoder_network().load_state_dict(theirs)


@register_model()
def ae_classifier(
    num_classes: int = 10, in_channels: int = 1, input_size: int = 28, autoencoder: dict[str, Any] | None = None,
    encoder_ckpt: str | None = None,
) -> EncoderClassifier:  # fmt: skip
    """The encoder of ``autoencoder`` (a model config, default ``{"name": "deep_autoencoder"}``) and a
    softmax head; ``encoder_ckpt`` initialises the encoder from a trained autoencoder of that config."""
    config = dict(autoencoder or {"name": "deep_autoencoder"})
    built = create_model(**{"in_channels": in_channels, "input_size": input_size, **config})
    if not hasattr(built, "encoder_network"):
        raise ValueError(f"model.autoencoder names {config['name']!r}, which is not an autoencoder")
    if encoder_ckpt:
        load_encoder_weights(built, config, encoder_ckpt)
    return EncoderClassifier(built.encoder_network(), built.code_size, num_classes)
