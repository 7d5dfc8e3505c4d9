"""Residual networks: He, Zhang, Ren & Sun, "Deep residual learning for image recognition",
CVPR 2016 (arXiv:1512.03385, 2015).

* ``resnet18/34/50/101/152``: the ImageNet networks of the paper's Table 1, built as
  ``torchvision.models.resnet*`` (same ``BasicBlock``/``Bottleneck``/``_make_layer``, same
  parameter names ``conv1, bn1, layer1.0.conv1, ..., fc``, same initialisation), so torchvision's
  weights load with ``strict=True``. Shortcuts are identities, and 1x1 convolution + BN
  projections where the shape changes (the paper's option B). As in torchvision, the Bottleneck
  puts its stride on the 3x3 convolution ("ResNet v1.5"); the paper puts it on the first 1x1.
* ``resnet20/32/44/56/110``: the CIFAR-10 networks of Section 4.2: a 3x3 convolution with 16
  filters, three stages of ``n`` BasicBlocks on 32x32, 16x16 and 8x8 maps with 16, 32 and 64
  filters (the first block of stages 2 and 3 has stride 2), global average pooling and a fully
  connected layer: 6n+2 weighted layers. Shortcuts are identities everywhere, with option A where
  the shape changes: stride-2 subsampling and extra channels filled with zeros, no parameters.
  That gives the paper's 0.27M, 0.46M, 0.66M, 0.85M and 1.7M parameters. ``shortcut="B"``
  swaps in torchvision-style projections (272,474 parameters for ResNet-20 instead of 269,722).

``zero_init_residual=True`` starts the last BN of every residual branch at zero, so each block
starts as the identity (Goyal et al., "Accurate, large minibatch SGD", 2017).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from zoo.registry import register_model


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BN follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN; ReLU after the first and after the sum with the shortcut."""

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity  # in place, as torchvision: one tensor less per block
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, each with BN; ReLU as in BasicBlock."""

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


Block = type[BasicBlock] | type[Bottleneck]


class ShortcutA(nn.Module):
    """Option A of the paper: the identity, subsampled by ``stride`` and zero-padded from
    ``in_planes`` to ``planes`` channels (the new channels come last). No parameters."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = planes - in_planes
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


def projection(in_planes: int, planes: int, stride: int) -> nn.Sequential:
    """Option B of the paper: a strided 1x1 convolution and BN."""
    return nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))


class ResNetBase(nn.Module):
    """Stage building and initialisation shared by the ImageNet and CIFAR networks."""

    inplanes: int

    def _make_layer(
        self, block: Block, planes: int, blocks: int, stride: int = 1, shortcut: str = "B"
    ) -> nn.Sequential:
        """One stage: ``blocks`` blocks of width ``planes``; the first one has ``stride``."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            make_shortcut = ShortcutA if shortcut == "A" else projection
            downsample = make_shortcut(self.inplanes, planes * block.expansion, stride)
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def reset_parameters(self, zero_init_residual: bool = False) -> None:
        """He normal (fan-out) convolutions, BN at weight 1 and bias 0, PyTorch's default for fc;
        with ``zero_init_residual`` the last BN of each residual branch gets weight 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)


class ResNet(ResNetBase):
    """The ImageNet ResNet: 7x7/2 conv, 3x3/2 max-pool, four stages (64-512 wide), pool, fc."""

    def __init__(
        self,
        block: Block,
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self.reset_parameters(zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class CifarResNet(ResNetBase):
    """Section 4.2: 3x3 conv 16, stages of ``n`` BasicBlocks at 16, 32, 64 filters, pool, fc."""

    def __init__(
        self,
        n: int,
        num_classes: int = 10,
        zero_init_residual: bool = False,
        in_channels: int = 3,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"unknown shortcut option {shortcut!r}; use 'A' (zero-padding) or 'B' (projection)")
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, self.inplanes)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(BasicBlock, 16, n, shortcut=shortcut)
        self.layer2 = self._make_layer(BasicBlock, 32, n, stride=2, shortcut=shortcut)
        self.layer3 = self._make_layer(BasicBlock, 64, n, stride=2, shortcut=shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        self.reset_parameters(zero_init_residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _register_resnet(name: str, block: Block, layers: list[int]) -> Callable[..., ResNet]:
    """Register the ImageNet ResNet ``name`` with ``layers`` blocks of ``block`` per stage."""

    def builder(
        num_classes: int = 1000,
        in_channels: int = 3,
        zero_init_residual: bool = False,
    ) -> ResNet:
        return ResNet(block, layers, num_classes, zero_init_residual, in_channels)

    depth = sum(layers) * (3 if block is Bottleneck else 2) + 2
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (f"ResNet-{depth} (He et al. 2015, Table 1): {block.__name__}s {layers} per stage;"
                       " any input size (global average pooling).")  # fmt: skip
    return register_model(name)(builder)


def _register_cifar_resnet(name: str, n: int) -> Callable[..., CifarResNet]:
    """Register the CIFAR ResNet ``name`` with ``n`` blocks per stage (6n+2 layers)."""

    def builder(
        num_classes: int = 10,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        shortcut: str = "A",
    ) -> CifarResNet:
        return CifarResNet(n, num_classes, zero_init_residual, in_channels, shortcut)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (f"ResNet-{6 * n + 2} for CIFAR (He et al. 2015, Section 4.2): n={n} blocks per stage,"
                       " option-A shortcuts; made for 32x32 inputs (any size pools to 1x1).")  # fmt: skip
    return register_model(name)(builder)


resnet18 = _register_resnet("resnet18", BasicBlock, [2, 2, 2, 2])
resnet34 = _register_resnet("resnet34", BasicBlock, [3, 4, 6, 3])
resnet50 = _register_resnet("resnet50", Bottleneck, [3, 4, 6, 3])
resnet101 = _register_resnet("resnet101", Bottleneck, [3, 4, 23, 3])
resnet152 = _register_resnet("resnet152", Bottleneck, [3, 8, 36, 3])

resnet20 = _register_cifar_resnet("resnet20", 3)
resnet32 = _register_cifar_resnet("resnet32", 5)
resnet44 = _register_cifar_resnet("resnet44", 7)
resnet56 = _register_cifar_resnet("resnet56", 9)
resnet110 = _register_cifar_resnet("resnet110", 18)
