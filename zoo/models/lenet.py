"""LeNet-5: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 86(11), 1998 (Section II.B and Appendix A).

Two variants:

* ``classic``: the network of the paper. 32x32 input; C1 6@5x5; S2 trainable subsampling
  (sum of a 2x2 window times a learned coefficient plus a learned bias, then the squashing
  function); C3 16@5x5 wired by the paper's Table I (each map sees 3, 4 or all 6 maps of S2);
  S4 like S2; C5 120@5x5; F6 84 units; squashing f(a) = 1.7159 tanh(2a/3); Euclidean RBF
  output units whose centres are fixed +-1 7x12 bitmaps of the digits. 60,000 trainable
  parameters, as in the paper. ``forward`` returns minus the RBF distances, so the class
  with the nearest centre has the largest score and cross-entropy on these scores is the
  paper's discriminative criterion (its Eq. 9) without the constant ``j`` class.
* ``modern``: the version taught today: ReLU, 2x2 max-pooling, full C3 and a linear head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.registry import register_model

# Table I of the paper: which S2 maps (rows 0-5) each C3 map (0-15) is connected to.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

# Stylised 7x12 bitmaps of the digits (Fig. 3 of the paper shows the same idea for ASCII);
# "#" is +1, "." is -1. They are the fixed centres of the RBF output units.
DIGIT_BITMAPS: tuple[str, ...] = (
    "..###.. .#...#. #.....# #.....# #.....# #.....# #.....# #.....# #.....# .#...#. ..###.. .......",
    "...#... ..##... .#.#... ...#... ...#... ...#... ...#... ...#... ...#... ...#... .#####. .......",
    ".#####. #.....# ......# ......# .....#. ....#.. ...#... ..#.... .#..... #...... ####### .......",
    ".#####. #.....# ......# ......# ..####. ......# ......# ......# ......# #.....# .#####. .......",
    ".....#. ....##. ...#.#. ..#..#. .#...#. #....#. ####### .....#. .....#. .....#. .....#. .......",
    "####### #...... #...... #...... ######. ......# ......# ......# ......# #.....# .#####. .......",
    "..####. .#..... #...... #...... ######. #.....# #.....# #.....# #.....# #.....# .#####. .......",
    "####### ......# .....#. .....#. ....#.. ....#.. ...#... ...#... ..#.... ..#.... ..#.... .......",
    ".#####. #.....# #.....# #.....# .#####. #.....# #.....# #.....# #.....# #.....# .#####. .......",
    ".#####. #.....# #.....# #.....# #.....# .###### ......# ......# ......# .....#. .####.. .......",
)  # fmt: skip


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    """The paper's squashing function f(a) = A tanh(S a) with A = 1.7159 and S = 2/3 (Appendix A)."""
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


def rbf_centres(num_classes: int, features: int = 84) -> torch.Tensor:
    """The +-1 centres of the output units: digit bitmaps for 10 classes, else seeded random codes."""
    if num_classes == 10 and features == 84:
        rows = [bitmap.replace(" ", "") for bitmap in DIGIT_BITMAPS]
        return torch.tensor([[1.0 if c == "#" else -1.0 for c in row] for row in rows])
    generator = torch.Generator().manual_seed(1998)
    return torch.randint(0, 2, (num_classes, features), generator=generator).float() * 2 - 1


class Subsampling(nn.Module):
    """S2/S4: each map's 2x2 sums times a trainable coefficient plus a trainable bias, then f."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sums = F.avg_pool2d(x, 2) * 4
        return scaled_tanh(sums * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1))


class PartialConv(nn.Module):
    """C3: a 5x5 convolution where output map j only sees the input maps in ``connections[j]``.

    The maps with the same number of inputs hold their kernels in one grouped convolution's
    parameters, so the layer has exactly the paper's 1,516 parameters; the forward pass scatters
    them into one dense 16x6 kernel (zeros where Table I has no connection) and runs a single
    convolution, 3x faster on a CPU than the three grouped ones (benchmarks/lenet5_step_time.py).
    """

    def __init__(self, connections: tuple[tuple[int, ...], ...], kernel_size: int = 5) -> None:
        super().__init__()
        self.in_maps = 1 + max(i for inputs in connections for i in inputs)
        self.out_maps = len(connections)
        self.groups = nn.ModuleList()
        by_size: dict[int, list[int]] = {}
        for out_map, inputs in enumerate(connections):
            by_size.setdefault(len(inputs), []).append(out_map)
        slots, order = [], []
        for size, out_maps in sorted(by_size.items()):
            self.groups.append(nn.Conv2d(size * len(out_maps), len(out_maps), kernel_size, groups=len(out_maps)))
            slots += [m * self.in_maps + i for m in out_maps for i in connections[m]]
            order += out_maps
        self.register_buffer("slots", torch.tensor(slots), persistent=False)  # each kernel's place in the dense one
        self.register_buffer("inverse", torch.argsort(torch.tensor(order)), persistent=False)
        self.kernel_size = kernel_size
        self.sizes = sorted(by_size)  # inputs per map of each group, in the groups' order

    def dense_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(out, in, k, k)`` kernel (zero where maps are not connected) and the biases in map order."""
        k = self.kernel_size
        kernels = torch.cat([conv.weight.reshape(-1, k, k) for conv in self.groups])
        weight = kernels.new_zeros(self.out_maps * self.in_maps, k, k).index_copy(0, self.slots, kernels)
        bias = torch.cat([conv.bias for conv in self.groups]).index_select(0, self.inverse)
        return weight.view(self.out_maps, self.in_maps, k, k), bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.dense_kernel()
        return F.conv2d(x, weight, bias)


class LeNet5Classic(nn.Module):
    """LeNet-5 as published (LeCun et al. 1998): 60,000 trainable parameters, RBF outputs."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = PartialConv(C3_CONNECTIONS)
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.register_buffer("rbf_centres", rbf_centres(num_classes))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in (-2.4/F, 2.4/F) with F the unit's fan-in (Appendix A)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                nn.init.uniform_(module.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.uniform_(module.bias, -2.4 / fan_in, 2.4 / fan_in)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 84 F6 activations the RBF units compare with their centres."""
        x = self.s2(scaled_tanh(self.c1(x)))
        x = self.s4(scaled_tanh(self.c3(x)))
        x = scaled_tanh(self.c5(x)).flatten(1)
        return scaled_tanh(self.f6(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (32, 32):
            raise ValueError(f"classic LeNet-5 takes 32x32 inputs, got {tuple(x.shape[-2:])}")
        distances = torch.cdist(self.features(x), self.rbf_centres).pow(2)
        return -distances


class LeNet5(nn.Module):
    """LeNet-5 as taught today: ReLU, max-pooling and a linear classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = ((input_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet-5 needs inputs of at least 16x16 pixels, got input_size={input_size}")
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model()
def lenet5(
    num_classes: int = 10, in_channels: int = 1, input_size: int = 32, variant: str = "modern"
) -> nn.Module:
    """LeNet-5 (LeCun et al. 1998); ``variant`` is ``"modern"`` or ``"classic"``."""
    if variant == "modern":
        return LeNet5(num_classes, in_channels, input_size)
    if variant == "classic":
        if input_size != 32:
            raise ValueError(
                f"classic LeNet-5 takes 32x32 inputs as in the paper, not {input_size}x{input_size}:"
                " set data.image_size=32 (28x28 digits are padded to it)"
            )
        return LeNet5Classic(num_classes, in_channels)
    raise ValueError(f"unknown LeNet-5 variant {variant!r}; use 'modern' or 'classic'")


@register_model()
def lenet5_classic(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> nn.Module:
    """The paper's LeNet-5 (LeCun et al. 1998): partial C3, trainable subsampling, RBF outputs."""
    return lenet5(num_classes, in_channels, input_size, variant="classic")

