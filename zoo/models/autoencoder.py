"""Dense autoencoders: an encoder of fully connected layers down to a code, a decoder back up to the
image, trained to recreate their input (Rumelhart, Hinton & Williams 1986; the lectures'
784-500-784 MNIST autoencoder). Presets: ``autoencoder_500`` (the slides' 784-500-784, sigmoid
units) and ``deep_autoencoder`` (784-1000-500-250-30 of Hinton & Salakhutdinov, "Reducing the
dimensionality of data with neural networks", Science 2006, with a linear code layer).

Every autoencoder in the zoo follows one interface, which ``zoo.tasks.Reconstruction`` trains:

* ``forward(x) -> AutoencoderOutput(reconstruction, code, penalty)``: ``x`` is a normalised
  image batch, ``reconstruction`` the image in [0, 1] pixel units (sigmoid outputs),
  ``penalty`` a scalar the model adds to the reconstruction loss (sparsity, KL divergence, or 0);
* ``encode(x)`` the code, ``decode(code)`` the [0, 1] image, ``code_size`` the code's length,
  ``encoder_network()`` the module mapping images to codes (what a classifier can start from).

Sparse autoencoders (``sparsity="l1"`` or ``"kl"``) add a penalty on the code: the L1 norm of
the activities, or the UFLDL notes' ``beta * sum_j KL(rho || rho_hat_j)`` between a target mean
activation ``rho`` and each sigmoid unit's mean activation over the batch (Ng, "Sparse
autoencoder", CS294A lecture notes 2011).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.mlp import ACTIVATIONS
from zoo.registry import register_model

SPARSITY = ("none", "l1", "kl")
CODE_ACTIVATIONS = ("linear", *ACTIVATIONS)


class AutoencoderOutput(NamedTuple):
    """What an autoencoder's ``forward`` returns."""

    reconstruction: torch.Tensor  # (N, C, H, W) in [0, 1]
    code: torch.Tensor  # (N, code_size)
    penalty: torch.Tensor  # scalar added to the reconstruction loss


def activation_layer(name: str) -> nn.Module:
    """``linear`` (identity) or one of ``zoo.models.mlp.ACTIVATIONS``."""
    if name not in CODE_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(CODE_ACTIVATIONS)}")
    return nn.Identity() if name == "linear" else ACTIVATIONS[name]()


def sparsity_penalty(code: torch.Tensor, kind: str, weight: float, target: float) -> torch.Tensor:
    """L1: ``weight * mean_n sum_j |h_nj|``; KL: ``weight * sum_j KL(target || mean_n h_nj)``."""
    if kind == "none" or weight == 0:
        return code.new_zeros(())
    if kind == "l1":
        return weight * code.abs().sum(dim=1).mean()
    rho_hat = code.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    kl = target * torch.log(target / rho_hat) + (1 - target) * torch.log((1 - target) / (1 - rho_hat))
    return weight * kl.sum()


def check_input_size(x: torch.Tensor, in_features: int, name: str) -> None:
    """One clear line when a batch does not hold ``in_features`` values per image."""
    if x[0].numel() != in_features:
        raise ValueError(
            f"this {name} takes {in_features} values per image, got {'x'.join(map(str, x.shape[1:]))} = {x[0].numel()}"
        )


class DenseAutoencoder(nn.Module):
    """Flatten -> ``[Linear -> activation]`` per encoder size (the last one is the code) -> the mirror
    image back to ``in_features`` -> sigmoid.

    Args:
        image_shape: ``(channels, height, width)`` of the images.
        hidden_sizes: encoder widths, the last being the code size (e.g. ``[1000, 500, 250, 30]``).
        activation: hidden units' nonlinearity (``sigmoid``, ``relu``, ``tanh``, ...).
        code_activation: the code layer's (``linear`` as in Hinton & Salakhutdinov 2006, or any activation).
        tied: decoder layer ``k`` uses the transpose of encoder layer ``k``'s weights (own biases).
        sparsity, sparsity_weight, sparsity_target: the sparse autoencoder's penalty on the code.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        hidden_sizes: Sequence[int],
        activation: str = "sigmoid",
        code_activation: str = "linear",
        tied: bool = False,
        sparsity: str = "none",
        sparsity_weight: float = 0.0,
        sparsity_target: float = 0.05,
    ) -> None:
        super().__init__()
        if not hidden_sizes:
            raise ValueError("hidden_sizes needs at least one size (the code)")
        if sparsity not in SPARSITY:
            raise ValueError(f"unknown sparsity {sparsity!r}; choose one of {', '.join(SPARSITY)}")
        if sparsity == "kl" and code_activation != "sigmoid":
            raise ValueError(
                "the KL sparsity target needs mean activations in (0, 1): set model.code_activation=sigmoid"
            )
        self.image_shape = tuple(int(s) for s in image_shape)
        self.in_features = int(torch.tensor(self.image_shape).prod())
        self.hidden_sizes = [int(size) for size in hidden_sizes]
        self.code_size = self.hidden_sizes[-1]
        self.tied = tied
        self.sparsity, self.sparsity_weight, self.sparsity_target = sparsity, sparsity_weight, sparsity_target
        widths = [self.in_features, *self.hidden_sizes]
        layers: list[nn.Module] = [nn.Flatten()]
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = index == len(widths) - 2
            layers += [nn.Linear(fan_in, fan_out), activation_layer(code_activation if last else activation)]
        self.encoder = nn.Sequential(*layers)
        self.encoder_linears = [m for m in self.encoder if isinstance(m, nn.Linear)]
        reverse = widths[::-1]
        if tied:
            self.decoder_biases = nn.ParameterList(nn.Parameter(torch.zeros(size)) for size in reverse[1:])
        else:
            self.decoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(reverse[:-1], reverse[1:]))
        self.activation = activation_layer(activation)

    def encoder_network(self) -> nn.Module:
        return self.encoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.in_features, "autoencoder")
        return self.encoder(x)

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        """The decoder's pre-sigmoid outputs, flat ``(N, in_features)``."""
        h = code
        count = len(self.hidden_sizes)
        for index in range(count):
            if self.tied:
                h = F.linear(h, self.encoder_linears[count - 1 - index].weight.t(), self.decoder_biases[index])
            else:
                h = self.decoder[index](h)
            if index < count - 1:
                h = self.activation(h)
        return h

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(code)).view(-1, *self.image_shape)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        code = self.encode(x)
        penalty = sparsity_penalty(code, self.sparsity, self.sparsity_weight, self.sparsity_target)
        return AutoencoderOutput(self.decode(code), code, penalty)


@register_model(task="reconstruction")
def autoencoder(
    in_channels: int = 1,
    input_size: int = 28,
    hidden_sizes: Sequence[int] = (500,),
    activation: str = "sigmoid",
    code_activation: str = "sigmoid",
    tied: bool = False,
    sparsity: str = "none",
    sparsity_weight: float = 0.0,
    sparsity_target: float = 0.05,
) -> DenseAutoencoder:
    """A dense autoencoder on ``in_channels x input_size x input_size`` images (default: the
    slides' 784-500-784 with sigmoid units)."""
    return DenseAutoencoder((in_channels, input_size, input_size), hidden_sizes, activation, code_activation, tied,
                            sparsity, sparsity_weight, sparsity_target)  # fmt: skip


@register_model(task="reconstruction")
def deep_autoencoder(
    in_channels: int = 1,
    input_size: int = 28,
    hidden_sizes: Sequence[int] = (1000, 500, 250, 30),
    activation: str = "relu",
    code_activation: str = "linear",
    tied: bool = False,
) -> DenseAutoencoder:
    """784-1000-500-250-30 with a linear code (Hinton & Salakhutdinov 2006); ReLU hidden units
    (their logistic units need RBM pretraining to train this deep)."""
    return DenseAutoencoder((in_channels, input_size, input_size), hidden_sizes, activation, code_activation, tied)


@register_model(task="reconstruction")
def denoising_autoencoder(
    in_channels: int = 1, input_size: int = 28, hidden_sizes: Sequence[int] = (500,), activation: str = "sigmoid",
    code_activation: str = "sigmoid", tied: bool = False,
) -> DenseAutoencoder:  # fmt: skip
    """784-500-784 sigmoid units to train on corrupted inputs (Vincent et al. 2008); the corruption is the
    task's (``task.noise``, set by configs/model/denoising_autoencoder.yaml)."""
    return DenseAutoencoder((in_channels, input_size, input_size), hidden_sizes, activation, code_activation, tied)


@register_model(task="reconstruction")
def sparse_autoencoder(
    in_channels: int = 1, input_size: int = 28, hidden_sizes: Sequence[int] = (196,), activation: str = "sigmoid",
    code_activation: str = "sigmoid", tied: bool = False, sparsity: str = "kl", sparsity_weight: float = 0.001,
    sparsity_target: float = 0.05,
) -> DenseAutoencoder:  # fmt: skip
    """784-196-784 sigmoid units with the UFLDL notes' KL sparsity penalty (``sparsity="l1"``: an L1 penalty)."""
    return DenseAutoencoder((in_channels, input_size, input_size), hidden_sizes, activation, code_activation, tied,
                            sparsity, sparsity_weight, sparsity_target)  # fmt: skip
