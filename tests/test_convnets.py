"""AlexNet, VGG and ResNet: the same networks as torchvision's (names, shapes, initialisation,
outputs), the papers' numbers for the CIFAR ResNets and the variants' shapes."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import zoo
from zoo.models.alexnet import local_response_norm
from zoo.models.resnet import ShortcutA

TORCHVISION_ARCHS = [
    "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
]  # fmt: skip

# He et al. 2015, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M (option-A shortcuts, 10 classes).
CIFAR_RESNET_PARAMS = {
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def uniform(shape: int | torch.Size, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator) * (high - low) + low


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Batch-1 forwards of small images gain nothing from threads, and two threads on a busy
    two-core machine wait on each other (ten times slower); restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@torch.no_grad()
def randomise_(model: nn.Module, x: torch.Tensor, generator: torch.Generator) -> None:
    """Move every weight and BN tensor away from its initial value, so that loading a state dict
    shows in the outputs: one random factor per output channel for the weights, random biases and
    BN affine parameters, and BN running statistics measured on ``x`` (so that the eval-mode
    outputs stay of order one instead of growing block after block)."""
    norms = []
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            shape = (-1,) + (1,) * (module.weight.dim() - 1)
            module.weight.mul_(uniform(module.weight.shape[0], 0.5, 1.5, generator).view(shape))
            if module.bias is not None:
                module.bias.add_(torch.randn(module.bias.shape, generator=generator) * 0.01)
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5, generator))
            module.bias.copy_(uniform(module.bias.shape, -0.1, 0.1, generator))
            norms.append((module, module.momentum))
            module.momentum = 1.0  # running statistics := this batch's
    if norms:
        model.train()(x)
        for module, momentum in norms:
            module.momentum = momentum


@torch.no_grad()
def compare_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    """The largest absolute difference between the eval-mode outputs of ``a`` and ``b`` on ``x``."""
    out_a, out_b = a.eval()(x), b.eval()(x)
    assert out_a.abs().max() > 1e-3  # a comparison of non-trivial numbers
    return (out_a - out_b).abs().max().item()


@pytest.mark.parametrize("name", TORCHVISION_ARCHS)
def test_same_network_as_torchvision(name):
    torch.manual_seed(0)
    ours = zoo.create_model(name, num_classes=10)
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(num_classes=10)
    # Same names, shapes and initialisation: from one seed, the same tensors.
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, tensor in ours_state.items():
        assert torch.equal(tensor, theirs_state[key]), key
    assert n_params(ours) == n_params(theirs)

    # Same function, on small inputs: VGG takes 32x32 (its five pools end at 1x1, which the
    # adaptive pool spreads to 7x7); ResNets get 64x64 so that layer4 still sees 2x2 maps;
    # AlexNet needs 63x63 at least.
    generator = torch.Generator().manual_seed(1)
    size = 32 if name.startswith("vgg") else 64
    x = torch.randn(1, 3, size, size, generator=generator)
    randomise_(theirs, x, generator)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert compare_outputs(ours, theirs, x) <= 1e-5

    randomise_(ours, x, generator)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert compare_outputs(ours, theirs, x) <= 1e-5


@pytest.mark.parametrize("name", TORCHVISION_ARCHS)
def test_imagenet_parameter_counts_are_torchvisions_published_ones(name):
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        net = zoo.create_model(name)
    assert n_params(net) == torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"]


@pytest.mark.parametrize("name", CIFAR_RESNET_PARAMS)
def test_cifar_resnets_have_the_papers_parameter_counts_and_shapes(name):
    net = zoo.create_model(name, num_classes=10)
    assert n_params(net) == CIFAR_RESNET_PARAMS[name]
    n = (int(name.removeprefix("resnet")) - 2) // 6
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 * n + 1 and len([m for m in net.modules() if isinstance(m, nn.Linear)]) == 1
    assert {m.out_channels for m in convs} == {16, 32, 64}
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_option_a_shortcuts_have_no_parameters_and_zero_pad():
    net = zoo.create_model("resnet56")
    shortcuts = [m for m in net.modules() if isinstance(m, ShortcutA)]
    assert len(shortcuts) == 2  # at the first block of stages 2 and 3
    assert all(n_params(s) == 0 and not list(s.buffers()) for s in shortcuts)
    assert all(block.downsample is None for block in net.layer1)
    x = torch.randn(2, 16, 32, 32)
    out = ShortcutA(16, 32, stride=2)(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2]) and not out[:, 16:].any()
    # Option B (projections) adds a 1x1 conv + BN per stage change: 512 + 64 + 2,048 + 128.
    assert n_params(zoo.create_model("resnet20", shortcut="B")) == 269_722 + 2_752 == 272_474
    with pytest.raises(ValueError, match="shortcut option 'C'"):
        zoo.create_model("resnet20", shortcut="C")


def test_zero_init_residual_starts_blocks_as_identities():
    for name, last_bn in [("resnet18", "bn2"), ("resnet50", "bn3"), ("resnet20", "bn2")]:
        net = zoo.create_model(name, zero_init_residual=True)
        blocks = [m for m in net.modules() if hasattr(m, last_bn) and hasattr(m, "downsample")]
        assert blocks and all(not getattr(b, last_bn).weight.any() for b in blocks)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("alexnet_cifar", {}),
        ("alexnet_cifar", {"hidden_features": 4096}),
        ("vgg16_cifar", {}),
        ("vgg16_bn_cifar", {}),
        ("vgg16_cifar", {"hidden_features": ()}),
    ],
)
def test_small_image_variants_take_32x32(name, kwargs):
    net = zoo.create_model(name, num_classes=100, **kwargs).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    grey = zoo.create_model(name, num_classes=10, in_channels=1, **kwargs).eval()
    assert grey(torch.randn(1, 1, 32, 32)).shape == (1, 10)


def test_small_image_variant_sizes():
    assert n_params(zoo.create_model("alexnet_cifar")) == 7_506_762  # 2,251,584 conv + 5,255,178 FC
    assert n_params(zoo.create_model("alexnet_cifar", hidden_features=4096)) == 35_855_178
    vgg = zoo.create_model("vgg16_cifar")
    assert n_params(vgg) == 14_714_688 + 512 * 512 + 512 + 512 * 10 + 10  # VGG-16 convs + 512-512-10
    assert [type(m).__name__ for m in vgg.classifier] == ["Linear", "ReLU", "Dropout", "Linear"]
    assert n_params(zoo.create_model("vgg16_cifar", hidden_features=())) == 14_714_688 + 5_130
    assert zoo.create_model("alexnet_cifar")(torch.randn(1, 3, 28, 28)).shape == (1, 10)


def test_original_alexnet_has_the_papers_widths_lrn_and_init():
    torch.manual_seed(0)
    net = zoo.create_model("alexnet", variant="original")
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    kinds = [type(m).__name__ for m in net.features]
    assert kinds[:8] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"] * 2
    assert kinds.count("LocalResponseNorm") == 2
    assert n_params(net) == 62_378_344  # the paper's 60,965,224 without the two-GPU grouping
    layers = convs + [m for m in net.classifier if isinstance(m, nn.Linear)]
    assert [layer.bias.mean().item() for layer in layers] == [0, 1, 0, 1, 1, 1, 1, 0]
    assert all(abs(layer.weight.std().item() - 0.01) < 1e-3 for layer in layers)
    assert net.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    with torch.no_grad():
        assert net.features[:3](torch.randn(1, 3, 224, 224)).shape == (1, 96, 55, 55)


def test_lrn_is_the_papers_formula():
    a = torch.rand(2, 12, 5, 5) * 30  # large activations, so that the normalisation matters
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    squares = torch.nn.functional.pad(a.pow(2), (0, 0, 0, 0, n // 2, n // 2))
    sums = torch.stack([squares[:, i : i + n].sum(1) for i in range(a.shape[1])], dim=1)
    expected = a / (k + alpha * sums).pow(beta)
    torch.testing.assert_close(local_response_norm()(a), expected, rtol=1e-5, atol=1e-6)


def test_in_channels_and_wrong_inputs():
    net = zoo.create_model("resnet50", num_classes=10).eval()
    with pytest.raises(RuntimeError, match="channels"):
        net(torch.randn(1, 1, 28, 28))
    grey = zoo.create_model("resnet18", num_classes=10, in_channels=1).eval()
    assert grey(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    with torch.device("meta"):
        for name in ("alexnet", "vgg11", "vgg11_bn", "resnet50"):
            first_conv = next(m for m in zoo.create_model(name, in_channels=1).modules() if isinstance(m, nn.Conv2d))
            assert first_conv.in_channels == 1
    with pytest.raises(ValueError, match="alexnet_cifar"):
        zoo.create_model("alexnet", input_size=32)
    with pytest.raises(ValueError, match="at least 32x32"):
        zoo.create_model("vgg16_cifar", input_size=28)
    with pytest.raises(ValueError, match="unknown AlexNet variant"):
        zoo.create_model("alexnet", variant="two_tower")


def test_registry_has_every_convnet():
    names = set(TORCHVISION_ARCHS) | set(CIFAR_RESNET_PARAMS) | {"alexnet_cifar", "vgg16_cifar", "vgg16_bn_cifar"}
    assert names <= set(zoo.list_models())
    assert zoo.list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
