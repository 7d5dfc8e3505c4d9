"""Models: the paper's numbers (parameter counts, connection table), shapes and the registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.models.lenet import C3_CONNECTIONS, DIGIT_BITMAPS, PartialConv, rbf_centres, scaled_tanh


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_classic_lenet5_has_the_papers_60000_parameters_layer_by_layer():
    net = zoo.create_model("lenet5_classic")
    # LeCun et al. 1998, Section II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164.
    expected = {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}
    assert {name: n_params(getattr(net, name)) for name in expected} == expected
    assert n_params(net) == 60000
    assert net.rbf_centres.shape == (10, 84) and not net.rbf_centres.requires_grad


def test_c3_follows_table_one_and_equals_a_masked_full_convolution():
    torch.manual_seed(0)
    layer = PartialConv(C3_CONNECTIONS)
    assert sorted(len(c) for c in C3_CONNECTIONS) == [3] * 6 + [4] * 9 + [6]
    # Rebuild the equivalent 6->16 convolution with zeros where Table I has no connection.
    weight, bias = torch.zeros(16, 6, 5, 5), torch.zeros(16)
    position = 0
    for conv, size in zip(layer.groups, layer.sizes):
        out_maps = [m for m in range(16) if len(C3_CONNECTIONS[m]) == size]
        for group, out_map in enumerate(out_maps):
            for k, in_map in enumerate(C3_CONNECTIONS[out_map]):
                weight[out_map, in_map] = conv.weight[group, k]
            bias[out_map] = conv.bias[group]
        position += len(out_maps)
    assert position == 16
    x = torch.randn(3, 6, 14, 14)
    torch.testing.assert_close(layer(x), F.conv2d(x, weight, bias), rtol=1e-5, atol=1e-5)


def test_classic_lenet5_squashing_and_rbf_outputs():
    assert scaled_tanh(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=2e-3)  # f(1) = 1, Appendix A
    assert scaled_tanh(torch.tensor(100.0)).item() == pytest.approx(1.7159, abs=1e-4)
    assert all(len(bitmap.split(" ")) == 12 and {len(r) for r in bitmap.split(" ")} == {7} for bitmap in DIGIT_BITMAPS)
    centres = rbf_centres(10)
    assert set(centres.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(row.tolist()) for row in centres}) == 10  # ten distinct codes
    net = zoo.create_model("lenet5_classic").eval()
    x = torch.randn(4, 1, 32, 32)
    scores = net(x)
    distances = ((net.features(x)[:, None, :] - centres[None]) ** 2).sum(-1)
    torch.testing.assert_close(scores, -distances, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="32x32"):
        net(torch.randn(1, 1, 28, 28))


@pytest.mark.parametrize("input_size", [28, 32])
def test_modern_lenet5_shapes(input_size):
    net = zoo.create_model("lenet5", num_classes=7, in_channels=3, input_size=input_size)
    assert net(torch.randn(2, 3, input_size, input_size)).shape == (2, 7)
    assert n_params(zoo.create_model("lenet5")) == 61706  # 156 + 2,416 + 48,120 + 10,164 + 850


def test_mlp_presets_and_options():
    assert n_params(zoo.create_model("mlp_500_300")) == 784 * 500 + 500 + 500 * 300 + 300 + 300 * 10 + 10
    assert n_params(zoo.create_model("mlp_800")) == 784 * 800 + 800 + 800 * 10 + 10
    net = zoo.create_model("mlp", depth=10, width=100, activation="sigmoid", in_channels=1, input_size=8)
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 11
    assert sum(isinstance(m, torch.nn.Sigmoid) for m in net.modules()) == 10
    net = zoo.create_model("mlp", hidden_sizes=[64, 32], activation="gelu", dropout=0.5, batch_norm=True)
    kinds = [type(m).__name__ for m in net.layers]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "GELU", "Dropout", "Linear", "BatchNorm1d", "GELU",
                     "Dropout", "Linear"]  # fmt: skip
    assert net(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    for activation in ("sigmoid", "tanh", "relu", "softplus", "gelu"):
        assert zoo.create_model("mlp", activation=activation)(torch.randn(2, 784)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        zoo.create_model("mlp", activation="swish")


def test_builders_take_no_argument_they_would_ignore():
    """Sizes come from the data by name, and only to builders that use them."""
    audio = zoo.create_model("audio_rnn", n_features=13)  # MFCC per frame: the data's AudioInfo.n_features
    assert audio.rnn.input_size == 13 and audio(torch.randn(2, 5, 13)).shape == (2, 10)
    for name, argument in [("resnet18", "input_size"), ("resnet20", "input_size"), ("alexnet_cifar", "input_size"),
                           ("mlp_500_300", "in_channels"), ("mlp_800", "input_size"), ("audio_rnn", "in_channels")]:
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{argument}'"):
            zoo.create_model(name, **{argument: 32})


def test_registry_lists_and_rejects_unknown_names_in_one_line():
    assert {"lenet5", "lenet5_classic", "mlp", "mlp_500_300", "mlp_800"} <= set(zoo.list_models())
    assert zoo.list_models("mlp*") == ["mlp", "mlp_500_300", "mlp_800"]
    with pytest.raises(zoo.UnknownNameError) as error:
        zoo.create_model("resnet999")
    message = str(error.value)
    assert "\n" not in message and "'resnet999'" in message and "lenet5, lenet5_classic, mlp" in message
