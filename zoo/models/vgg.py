"""VGG: Simonyan & Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015 (arXiv:1409.1556, 2014).

Configurations A (11 weight layers), B (13), D (16) and E (19) of the paper's Table 1: stacks of
3x3 convolutions (stride 1, padding 1) with ReLU, 2x2 stride-2 max-pooling after each stage, then
FC-4096, FC-4096, FC-classes with dropout 0.5 after the hidden FC layers (Section 3.1). The
``_bn`` versions add batch normalisation (Ioffe & Szegedy 2015) after every convolution; they are
not in the paper. Built as ``torchvision.models.vgg*``: one ``VGG`` class around
``make_layers(cfg, batch_norm)``, an adaptive 7x7 average pool (the identity on 224x224 inputs),
the same parameter names (``features.N``, ``classifier.0/3/6``) and the same initialisation (He
normal, fan-out, for convolutions; N(0, 0.01^2) for FC weights; zero biases), so torchvision's
weights load with ``strict=True``.

``vgg16_cifar`` and ``vgg16_bn_cifar`` are configuration D for 32x32 images: the five 2x2
pools take 32x32 to 1x1x512, so the classifier is 512 -> 512 -> classes (ReLU and dropout 0.5
between), as in Zagoruyko's "92.45% on CIFAR-10 in Torch" (torch.ch blog, 2015) and Liu & Deng,
"Very deep convolutional neural network based large scale image recognition with small training
sample size", ACPR 2015; with ``hidden_features=()`` it is a single linear layer 512 -> classes.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from zoo.registry import register_model

# Table 1 of the paper: output channels of each 3x3 convolution, "M" a 2x2 stride-2 max-pool.
cfgs: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

# Five 2x2 pools: inputs smaller than 32x32 shrink to nothing.
MIN_INPUT_SIZE = 32


def check_input_size(name: str, input_size: int | None) -> None:
    if input_size is not None and input_size < MIN_INPUT_SIZE:
        raise ValueError(f"{name} needs inputs of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels, got"
                         f" input_size={input_size} (data.image_size=32 pads 28x28 images to 32x32)")  # fmt: skip


def make_layers(cfg: Sequence[int | str], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """Conv3x3 -> (BatchNorm) -> ReLU for each number in ``cfg``, a 2x2 max-pool for each "M"."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` -> adaptive average pool to ``pool_size`` -> classifier with one
    Linear-ReLU-Dropout per entry of ``hidden_features``, then Linear to ``num_classes``."""

    def __init__(
        self,
        features: nn.Module,
        num_classes: int = 1000,
        init_weights: bool = True,
        dropout: float = 0.5,
        pool_size: int = 7,
        hidden_features: Sequence[int] = (4096, 4096),
    ) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        layers: list[nn.Module] = []
        width = 512 * pool_size * pool_size
        for hidden in hidden_features:
            layers += [nn.Linear(width, hidden), nn.ReLU(True), nn.Dropout(p=dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*layers)
        if init_weights:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """He normal (fan-out) convolutions, N(0, 0.01^2) FC weights, zero biases, BN at 1 and 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _register_vgg(name: str, cfg: str, batch_norm: bool) -> Callable[..., VGG]:
    """Register the ImageNet VGG ``name``: configuration ``cfg`` of Table 1, with or without BN."""

    def builder(
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | None = None,
        dropout: float = 0.5,
        init_weights: bool = True,
    ) -> VGG:
        check_input_size(name, input_size)
        return VGG(make_layers(cfgs[cfg], batch_norm, in_channels), num_classes, init_weights, dropout)

    depth = sum(isinstance(v, int) for v in cfgs[cfg]) + 3
    builder.__name__ = builder.__qualname__ = name
    with_bn = " with batch normalisation" if batch_norm else ""
    builder.__doc__ = f"VGG-{depth} (configuration {cfg} of Simonyan & Zisserman 2014){with_bn}."
    return register_model(name)(builder)


vgg11 = _register_vgg("vgg11", "A", batch_norm=False)
vgg13 = _register_vgg("vgg13", "B", batch_norm=False)
vgg16 = _register_vgg("vgg16", "D", batch_norm=False)
vgg19 = _register_vgg("vgg19", "E", batch_norm=False)
vgg11_bn = _register_vgg("vgg11_bn", "A", batch_norm=True)
vgg13_bn = _register_vgg("vgg13_bn", "B", batch_norm=True)
vgg16_bn = _register_vgg("vgg16_bn", "D", batch_norm=True)
vgg19_bn = _register_vgg("vgg19_bn", "E", batch_norm=True)


@register_model()
def vgg16_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | None = None,
    batch_norm: bool = False,
    dropout: float = 0.5,
    hidden_features: Sequence[int] = (512,),
) -> VGG:
    """VGG-16 (configuration D) for 32x32 images: features end at 1x1x512, classifier
    512 -> 512 -> classes (``hidden_features=()``: one linear layer). ``input_size`` is
    accepted for configs; inputs of 32x32 or more work (larger ones are average-pooled to 1x1)."""
    check_input_size("vgg16_cifar", input_size)
    features = make_layers(cfgs["D"], batch_norm, in_channels)
    return VGG(features, num_classes, dropout=dropout, pool_size=1, hidden_features=hidden_features)


@register_model()
def vgg16_bn_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: int | None = None,
    dropout: float = 0.5,
    hidden_features: Sequence[int] = (512,),
) -> VGG:
    """:func:`vgg16_cifar` with batch normalisation after every convolution, as Zagoruyko (2015)
    and Liu & Deng (2015) train it on CIFAR."""
    return vgg16_cifar(num_classes, in_channels, input_size, True, dropout, hidden_features)
