"""AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet classification with deep convolutional
neural networks", NIPS 2012.

Three configurations of one ``AlexNet`` class (features -> adaptive average pool -> classifier):

* ``alexnet`` (``variant="torchvision"``): the single-tower network of Krizhevsky, "One weird
  trick for parallelizing convolutional neural networks", arXiv:1404.5997, 2014, which is what
  ``torchvision.models.alexnet`` ships: convolutions 64-192-384-256-256, no response
  normalisation. Same parameter names (``features.N``, ``avgpool``, ``classifier.N``), same
  shapes and same (PyTorch default) initialisation, so torchvision's weights load with
  ``strict=True`` and the outputs agree.
* ``alexnet(variant="original")``: the 2012 paper's network without its split over two GPUs:
  widths 96-256-384-384-256 (Section 3.5), ReLU after every layer, local response
  normalisation after the ReLUs of conv1 and conv2 (Section 3.3: k=2, n=5, alpha=1e-4,
  beta=0.75), overlapping 3x3 stride-2 max-pooling (Section 3.4), and the paper's
  initialisation (Section 5: weights N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the two
  hidden fully connected layers, 0 elsewhere). Padding 2 on conv1 gives the paper's 55x55 maps
  from 224x224 inputs (its stated 224 only works out with 227, or with this padding). Without
  the two towers, conv2, conv4 and conv5 see all the previous layer's maps, so the network has
  62,378,344 parameters (1000 classes) where the paper's has 60,965,224 ("60 million").
* ``alexnet_cifar``: AlexNet's layout for 32x32 images (CIFAR-10/100), see :func:`alexnet_cifar`.

PyTorch's ``nn.LocalResponseNorm`` divides ``alpha`` by ``n`` (as Caffe does); the paper does
not, so the paper's alpha = 1e-4 is ``nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.registry import register_model

# (out_channels, kernel_size, stride, padding): a convolution followed by ReLU;
# "LRN": local response normalisation; "M": overlapping 3x3 stride-2 max-pooling.
Layer = tuple[int, int, int, int] | str

FEATURE_CONFIGS: dict[str, list[Layer]] = {
    "torchvision": [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M"],
    "original": [(96, 11, 4, 2), "LRN", "M", (256, 5, 1, 2), "LRN", "M",
                 (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1), "M"],
    "cifar": [(64, 3, 1, 1), "M", (192, 3, 1, 1), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M"],
}  # fmt: skip

# Section 3.3 of the paper: k=2, n=5, alpha=1e-4, beta=0.75; PyTorch's alpha is the paper's times n.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


def local_response_norm() -> nn.LocalResponseNorm:
    """The paper's response normalisation b = a / (k + alpha * sum of a^2 over n adjacent maps)^beta."""
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K)


def make_features(config: list[Layer], in_channels: int = 3, pool_padding: int = 0) -> nn.Sequential:
    """The convolutional stack from a list of ``FEATURE_CONFIGS`` entries."""
    layers: list[nn.Module] = []
    for entry in config:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=pool_padding))
        elif entry == "LRN":
            layers.append(local_response_norm())
        else:
            out_channels, kernel_size, stride, padding = entry
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(inplace=True)]
            in_channels = out_channels
    return nn.Sequential(*layers)


class AlexNet(nn.Module):
    """``features`` -> ``avgpool`` (adaptive, to ``pool_size``) -> ``classifier``:
    Dropout, FC, ReLU, Dropout, FC, ReLU, FC, laid out as in torchvision."""

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        dropout: float = 0.5,
        pool_size: int = 6,
        hidden_features: int = 4096,
    ) -> None:
        super().__init__()
        self.features = features
        channels = [m.out_channels for m in features if isinstance(m, nn.Conv2d)][-1]
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(channels * pool_size * pool_size, hidden_features),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden_features, hidden_features),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_features, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def init_as_in_paper(model: AlexNet) -> None:
    """Section 5: weights from N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the hidden FC
    layers (to give the ReLUs positive inputs early on), 0 in the other layers."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for index, layer in enumerate(layers):  # conv1..conv5, fc6, fc7, fc8
        nn.init.normal_(layer.weight, 0.0, 0.01)
        nn.init.constant_(layer.bias, 1.0 if index in (1, 3, 4, 5, 6) else 0.0)


@register_model()
def alexnet(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: int | None = None,
    variant: str = "torchvision",
    dropout: float = 0.5,
) -> AlexNet:
    """AlexNet (Krizhevsky et al. 2012); ``variant`` is ``"torchvision"`` or ``"original"`` (with LRN).

    Takes inputs of 63x63 pixels or more (224x224 in the paper); the adaptive pool makes the
    classifier see 6x6x256 whatever the size.
    """
    if variant not in ("torchvision", "original"):
        raise ValueError(f"unknown AlexNet variant {variant!r}; use 'torchvision' or 'original'")
    if input_size is not None and input_size < 63:
        raise ValueError(f"alexnet needs inputs of at least 63x63 pixels, got input_size={input_size}; "
                         "use alexnet_cifar for small images")  # fmt: skip
    model = AlexNet(make_features(FEATURE_CONFIGS[variant], in_channels), num_classes, dropout)
    if variant == "original":
        init_as_in_paper(model)
    return model


@register_model()
def alexnet_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.5,
    hidden_features: int = 1024,
) -> AlexNet:
    """AlexNet for 32x32 images: five 3x3 convolutions 64-192-384-256-256 (torchvision's widths),
    each with ReLU, and AlexNet's overlapping 3x3 stride-2 max-pooling after conv1, conv2 and
    conv5, padded by 1 so that 32 -> 16 -> 8 -> 4; then 4x4x256 = 4,096 features into the
    classifier Dropout-FC-ReLU-Dropout-FC-ReLU-FC.

    An 11x11 stride-4 first layer would leave a 32x32 image 8x8 after one layer, hence the 3x3
    kernels and stride 1, as in the usual CIFAR adaptations. The hidden FC layers default to 1,024
    units rather than 4,096: 4,096-wide layers would put 33.6M of 35.9M parameters into the head
    (some 670 per CIFAR training image), where 1,024 keeps AlexNet's head-heavy shape (5.3M of
    7.5M parameters) and its dropout regularisation; pass ``hidden_features=4096`` for the
    full-width head. It takes 28x28 (MNIST-sized) inputs too (28 -> 14 -> 7 -> 4): the adaptive
    pool makes the classifier see 4x4x256 whatever the size.
    """
    features = make_features(FEATURE_CONFIGS["cifar"], in_channels, pool_padding=1)
    return AlexNet(features, num_classes, dropout, pool_size=4, hidden_features=hidden_features)
