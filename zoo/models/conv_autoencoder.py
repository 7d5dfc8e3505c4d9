"""A convolutional autoencoder: strided 3x3 convolutions halve the image twice, a linear layer makes
the code, and transposed convolutions undo it (Masci et al., "Stacked convolutional auto-encoders
for hierarchical feature extraction", ICANN 2011, with strides in place of max-pooling).
Follows the interface of ``zoo.models.autoencoder``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.models.autoencoder import AutoencoderOutput, activation_layer
from zoo.registry import register_model


class ConvAutoencoder(nn.Module):
    """``[Conv3x3 stride 2 -> activation] x len(channels)`` -> Linear code, and the mirror image.

    Args:
        in_channels, input_size: the images' channels and side (the side must divide by
            ``2 ** len(channels)``: 28 -> 14 -> 7 with two stages).
        channels: feature maps of the encoder's stages.
        code_size: length of the code.
        activation: hidden units' nonlinearity.
    """

    def __init__(
        self, in_channels: int, input_size: int, channels: Sequence[int] = (32, 64), code_size: int = 30,
        activation: str = "relu",
    ) -> None:  # fmt: skip
        super().__init__()
        stages = len(channels)
        if input_size % (2**stages):
            raise ValueError(
                f"a convolutional autoencoder of {stages} stride-2 stages needs an image side divisible by"
                f" {2**stages}, got {input_size}: set data.image_size (or model.input_size) to a multiple of {2**stages}"
            )
        self.image_shape = (in_channels, input_size, input_size)
        self.code_size = code_size
        side = input_size // 2**stages
        self.feature_shape = (channels[-1], side, side)
        widths = [in_channels, *channels]
        encoder: list[nn.Module] = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            encoder += [nn.Conv2d(fan_in, fan_out, 3, stride=2, padding=1), activation_layer(activation)]
        encoder += [nn.Flatten(), nn.Linear(channels[-1] * side * side, code_size)]
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = [nn.Linear(code_size, channels[-1] * side * side), activation_layer(activation),
                                    nn.Unflatten(1, self.feature_shape)]  # fmt: skip
        reverse = widths[::-1]
        for index, (fan_in, fan_out) in enumerate(zip(reverse[:-1], reverse[1:])):
            decoder.append(nn.ConvTranspose2d(fan_in, fan_out, 3, stride=2, padding=1, output_padding=1))
            if index < stages - 1:
                decoder.append(activation_layer(activation))
        self.decoder = nn.Sequential(*decoder)

    def encoder_network(self) -> nn.Module:
        return self.encoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(
                f"this convolutional autoencoder takes {'x'.join(map(str, self.image_shape))} images,"
                f" got {'x'.join(map(str, x.shape[1:]))}"
            )
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(code))

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        code = self.encode(x)
        return AutoencoderOutput(self.decode(code), code, code.new_zeros(()))


@register_model(task="reconstruction")
def conv_autoencoder(
    in_channels: int = 1, input_size: int = 28, channels: Sequence[int] = (32, 64), code_size: int = 30,
    activation: str = "relu",
) -> ConvAutoencoder:  # fmt: skip
    """Two stride-2 convolutions (28 -> 14 -> 7), a 30-value code, two transposed convolutions back."""
    return ConvAutoencoder(in_channels, input_size, list(channels), code_size, activation)
