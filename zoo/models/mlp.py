"""Multilayer perceptrons (Rumelhart, Hinton & Williams, "Learning representations by
back-propagating errors", Nature 1986), with the two fully connected MNIST baselines of
the MNIST results table (LeCun et al., "3-layer NN, 500+300 HU": 784-500-300-10) and
Simard, Steinkraus & Platt 2003 ("Best practices for convolutional neural networks applied
to visual document analysis": 784-800-10) as presets ``mlp_500_300`` and ``mlp_800``.

A deep sigmoid MLP is the textbook case of vanishing gradients: with ``depth`` hidden layers
of sigmoid units the gradient norm shrinks layer by layer towards the input, where ReLU
keeps it (Glorot & Bengio 2010). The training task logs every layer's gradient norm.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.registry import register_model

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
}


class MLP(nn.Module):
    """Flatten, then ``[Linear -> (BatchNorm) -> activation -> (Dropout)]`` per hidden layer, then Linear."""

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        num_classes: int,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.in_features = in_features
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for hidden in hidden_sizes:
            layers.append(nn.Linear(width, hidden, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        self.reset_parameters(activation)

    def reset_parameters(self, activation: str) -> None:
        """He initialisation for the ReLU family (He et al. 2015), Glorot for sigmoid and tanh
        (Glorot & Bengio 2010); zero biases."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                if activation in ("sigmoid", "tanh"):
                    nn.init.xavier_uniform_(module.weight, gain=nn.init.calculate_gain(activation))
                else:
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x[0].numel() != self.in_features:
            raise ValueError(
                f"this MLP takes {self.in_features} input values per sample, got {tuple(x.shape[1:])}"
                f" = {x[0].numel()}"
            )
        return self.layers(x)


@register_model()
def mlp(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    hidden_sizes: Sequence[int] = (256, 128),
    in_features: int | None = None,
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    depth: int | None = None,
    width: int = 100,
) -> MLP:
    """An MLP on ``in_channels x input_size x input_size`` images (or ``in_features`` values).

    ``depth`` and ``width`` are a shorthand for ``hidden_sizes = [width] * depth``.
    """
    if depth is not None:
        hidden_sizes = [width] * depth
    features = in_features if in_features is not None else in_channels * input_size * input_size
    return MLP(features, list(hidden_sizes), num_classes, activation, dropout, batch_norm)


def _fixed_input_preset(name: str, hidden_sizes: list[int], doc: str):
    """Register a preset whose input is fixed at ``in_features`` (784 for MNIST): it takes no image
    channels or size, so a data set of another size is reported as a mismatch before training."""

    def builder(
        num_classes: int = 10,
        in_features: int = 784,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> MLP:
        return MLP(in_features, hidden_sizes, num_classes, activation, dropout, batch_norm)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    return register_model(name)(builder)


mlp_500_300 = _fixed_input_preset(
    "mlp_500_300", [500, 300], """784-500-300-10: the "3-layer NN, 500+300 HU" of the MNIST results table (1.53% error)."""
)
mlp_800 = _fixed_input_preset("mlp_800", [800], "784-800-10 (Simard, Steinkraus & Platt 2003, 1.6% MNIST error).")
