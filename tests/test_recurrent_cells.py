"""The written-out Elman/LSTM/GRU layers equal torch.nn's fused ones: outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.models.recurrent_cells import ElmanRNN, GRUFromGates, LSTMFromGates

CASES = [
    (ElmanRNN, nn.RNN, {"nonlinearity": "tanh"}),
    (ElmanRNN, nn.RNN, {"nonlinearity": "relu"}),
    (LSTMFromGates, nn.LSTM, {}),
    (GRUFromGates, nn.GRU, {}),
]


def clone_state(state):
    if isinstance(state, tuple):
        return tuple(s.clone().requires_grad_() for s in state)
    return state.clone().requires_grad_()


def flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("ours_cls, torch_cls, kwargs", CASES, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_same_outputs_states_and_gradients_as_torch_nn(ours_cls, torch_cls, kwargs, batch_first):
    torch.manual_seed(0)
    reference = torch_cls(5, 7, num_layers=2, batch_first=batch_first, **kwargs).double()
    ours = ours_cls(5, 7, num_layers=2, batch_first=batch_first, **kwargs).double()
    ours.load_state_dict(reference.state_dict())  # same names, same gate order
    inputs = torch.randn(3, 6, 5, dtype=torch.float64) if batch_first else torch.randn(6, 3, 5, dtype=torch.float64)
    zeros = torch.randn(2, 3, 7, dtype=torch.float64)
    state = (zeros, torch.randn_like(zeros)) if torch_cls is nn.LSTM else zeros
    results = []
    for module in (reference, ours):
        x, h0 = inputs.clone().requires_grad_(), clone_state(state)
        output, final = module(x, h0)
        (output.pow(2).sum() + sum(s.sum() for s in flat(final))).backward()
        gradients = [x.grad, *[s.grad for s in flat(h0)], *[p.grad for p in module.parameters()]]
        results.append((output, flat(final), gradients))
        module.zero_grad()
    (out_a, final_a, grads_a), (out_b, final_b, grads_b) = results
    torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=1e-5)
    for a, b in zip(final_a + grads_a, final_b + grads_b):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_parameter_names_match_torch_nn():
    for ours_cls, torch_cls, kwargs in CASES:
        assert list(ours_cls(4, 3, num_layers=3, **kwargs).state_dict()) == list(torch_cls(4, 3, num_layers=3).state_dict())
    without_bias = GRUFromGates(4, 3, bias=False)
    assert list(without_bias.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    out, h = without_bias(torch.randn(2, 1, 4))
    assert out.shape == (2, 1, 3) and h.shape == (1, 1, 3)
