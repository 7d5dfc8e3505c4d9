"""Recurrent language model: embedding -> stacked RNN/LSTM/GRU -> linear decoder over the vocabulary.

The model of Zaremba, Sutskever & Vinyals, "Recurrent Neural Network Regularization" (2014) and of
pytorch/examples' ``word_language_model``: dropout on the embeddings, between layers and on the
top layer's output, and optional weight tying of the embedding and the decoder (Press & Wolf,
"Using the Output Embedding to Improve Language Models", 2017; Inan, Khosravi & Socher 2017).
Layers are ``nn.RNN``/``nn.LSTM``/``nn.GRU``, so cuDNN runs them on a GPU; the same gate equations
written out one step at a time are in ``zoo.models.recurrent_cells``.

``forward(tokens, state)`` returns the next-token logits and the final state, which the training
task carries (detached) into the next batch: truncated backpropagation through time.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.models.sequence import CELLS
from zoo.registry import register_model

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RNNLanguageModel(nn.Module):
    """``(N, T)`` token ids -> ``(N, T, vocab_size)`` next-token logits, and the final state.

    Args:
        vocab_size: number of tokens (characters or words).
        embedding_size: size of the token embeddings (``hidden_size`` when ``None``).
        hidden_size: units per recurrent layer.
        num_layers: stacked recurrent layers.
        cell: ``lstm``, ``gru``, ``rnn_tanh`` or ``rnn_relu``.
        dropout: on the embeddings, between layers and on the top output (Zaremba et al. 2014).
        tie_weights: share the embedding matrix with the decoder; needs ``embedding_size == hidden_size``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int | None = None,
        hidden_size: int = 256,
        num_layers: int = 2,
        cell: str = "lstm",
        dropout: float = 0.0,
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        embedding_size = embedding_size or hidden_size
        if tie_weights and embedding_size != hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_size == hidden_size (got {embedding_size} and {hidden_size});"
                " set model.embedding_size to the hidden size or model.tie_weights=false"
            )
        module, options = CELLS[cell]
        self.vocab_size, self.cell, self.num_layers, self.hidden_size = vocab_size, cell, num_layers, hidden_size
        self.encoder = nn.Embedding(vocab_size, embedding_size)
        self.drop = nn.Dropout(dropout)
        self.rnn = module(embedding_size, hidden_size, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0, **options)  # fmt: skip
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """pytorch/examples' initialisation: embeddings and decoder U(-0.1, 0.1), decoder bias 0."""
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def init_state(self, batch_size: int, device: torch.device | None = None) -> State:
        """The all-zero state: ``h`` (and ``c`` for an LSTM), each ``(num_layers, N, hidden_size)``."""
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device)
        return (zeros, zeros.clone()) if self.cell == "lstm" else zeros

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if tokens.ndim != 2:
            raise ValueError(f"expected token ids (N, T), got shape {tuple(tokens.shape)}")
        embedded = self.drop(self.encoder(tokens))
        outputs, state = self.rnn(embedded, state)
        return self.decoder(self.drop(outputs)), state


def detach_state(state: State | None) -> State | None:
    """Cut the graph between batches (truncated BPTT) while keeping the values."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


# the class is its own builder: ``zoo.create_model("rnn_lm", vocab_size=65, hidden_size=512, num_layers=3)``
register_model("rnn_lm", task="language_modeling")(RNNLanguageModel)
