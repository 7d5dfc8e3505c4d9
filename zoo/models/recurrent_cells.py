"""Recurrent layers with the lecture equations written out, for reading and teaching.

Each class keeps ``torch.nn``'s parameter names (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, ...) and gate order, so it loads an ``nn.RNN``/``nn.LSTM``/
``nn.GRU`` state_dict and gives the same outputs and gradients (tests/test_recurrent_cells.py).
They loop over time in Python: train with the fused ``torch.nn`` modules (cuDNN on a GPU).

* Elman RNN (Elman 1990): h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)  (or ReLU).
* LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000):
      i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      input gate
      f = sigmoid(W_if x + b_if + W_hf h + b_hf)      forget gate
      g = tanh(W_ig x + b_ig + W_hg h + b_hg)         candidate cell
      o = sigmoid(W_io x + b_io + W_ho h + b_ho)      output gate
      c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
* GRU (Cho et al. 2014):
      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      reset gate
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)      update gate
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   candidate
      h_t = (1 - z) * n + z * h_{t-1}
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ReferenceRecurrentLayer(nn.Module):
    """Stacked, unidirectional recurrent layers looped over time; subclasses write one step."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(self.gates * hidden_size, width)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(self.gates * hidden_size, hidden_size)))
            if bias:
                self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(self.gates * hidden_size)))
                self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(self.gates * hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in (-1/sqrt(hidden), 1/sqrt(hidden)), as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def affine(self, layer: int, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_ih x + b_ih, W_hh h + b_hh) of ``layer``, all gates stacked."""
        from_input = x @ getattr(self, f"weight_ih_l{layer}").T
        from_hidden = h @ getattr(self, f"weight_hh_l{layer}").T
        if self.bias:
            from_input = from_input + getattr(self, f"bias_ih_l{layer}")
            from_hidden = from_hidden + getattr(self, f"bias_hh_l{layer}")
        return from_input, from_hidden

    def step(self, layer: int, x: torch.Tensor, state):
        raise NotImplementedError

    def initial_state(self, batch: int, like: torch.Tensor):
        return like.new_zeros(self.num_layers, batch, self.hidden_size)

    def forward(self, inputs: torch.Tensor, state=None):
        if self.batch_first:
            inputs = inputs.transpose(0, 1)
        state = self.initial_state(inputs.shape[1], inputs) if state is None else state
        per_layer = [self.layer_state(state, layer) for layer in range(self.num_layers)]
        outputs = []
        for x in inputs:  # time steps
            for layer in range(self.num_layers):
                per_layer[layer] = self.step(layer, x, per_layer[layer])
                x = self.output_of(per_layer[layer])
            outputs.append(x)
        output = torch.stack(outputs)
        return (output.transpose(0, 1) if self.batch_first else output), self.stack_states(per_layer)

    @staticmethod
    def layer_state(state, layer: int):
        return state[layer]

    @staticmethod
    def output_of(layer_state) -> torch.Tensor:
        return layer_state

    @staticmethod
    def stack_states(per_layer):
        return torch.stack(per_layer)


class ElmanRNN(ReferenceRecurrentLayer):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); ``nonlinearity="relu"`` for RNN_RELU."""

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.activation = {"tanh": torch.tanh, "relu": torch.relu}[nonlinearity]

    def step(self, layer: int, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        from_input, from_hidden = self.affine(layer, x, h)
        return self.activation(from_input + from_hidden)


class LSTMFromGates(ReferenceRecurrentLayer):
    """The LSTM with its input, forget and output gates and cell state written out."""

    gates = 4

    def initial_state(self, batch: int, like: torch.Tensor):
        zeros = like.new_zeros(self.num_layers, batch, self.hidden_size)
        return zeros, zeros.clone()

    def step(self, layer: int, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        from_input, from_hidden = self.affine(layer, x, h)
        i, f, g, o = (from_input + from_hidden).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        return o * torch.tanh(c), c

    @staticmethod
    def layer_state(state, layer: int):
        return state[0][layer], state[1][layer]

    @staticmethod
    def output_of(layer_state) -> torch.Tensor:
        return layer_state[0]

    @staticmethod
    def stack_states(per_layer):
        return torch.stack([h for h, _ in per_layer]), torch.stack([c for _, c in per_layer])


class GRUFromGates(ReferenceRecurrentLayer):
    """The GRU with its reset and update gates written out."""

    gates = 3

    def step(self, layer: int, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        from_input, from_hidden = self.affine(layer, x, h)
        input_r, input_z, input_n = from_input.chunk(3, dim=-1)
        hidden_r, hidden_z, hidden_n = from_hidden.chunk(3, dim=-1)
        r = torch.sigmoid(input_r + hidden_r)
        z = torch.sigmoid(input_z + hidden_z)
        n = torch.tanh(input_n + r * hidden_n)
        return (1 - z) * n + z * h
