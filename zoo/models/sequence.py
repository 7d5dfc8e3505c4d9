"""Recurrent sequence classifiers: a (stacked, optionally bidirectional) RNN, LSTM
(Hochreiter & Schmidhuber 1997) or GRU (Cho et al. 2014) over a sequence of feature vectors,
pooled by the last hidden state or the mean over time, then a linear layer.

``seq_rnn`` reads an image as a sequence: row by row (28 steps of 28 pixels for MNIST) or pixel
by pixel (784 steps of 1 pixel: the "sequential MNIST" of Le, Jaitly & Hinton 2015), so it
trains with the same task and data as LeNet-5 and the MLPs.

``audio_rnn`` reads feature frames (MFCC or log-mel, ``(N, T, n_features)`` from an audio data
module such as ``fsdd``) with a bidirectional GRU and classifies the mean of its outputs over time.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.registry import register_model

CELLS = {"rnn_tanh": (nn.RNN, {"nonlinearity": "tanh"}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTM, {}), "gru": (nn.GRU, {})}  # fmt: skip


class SequenceClassifier(nn.Module):
    """``(N, T, input_size)`` sequences -> ``(N, num_classes)`` scores."""

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = False,
        dropout: float = 0.0,
        pooling: str = "last",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', not {pooling!r}")
        module, options = CELLS[cell]
        self.rnn = module(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                          dropout=dropout if num_layers > 1 else 0.0, **options)  # fmt: skip
        self.pooling, self.input_size = pooling, input_size
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        if sequences.ndim != 3 or sequences.shape[-1] != self.input_size:
            raise ValueError(f"expected sequences (N, T, {self.input_size}), got {tuple(sequences.shape)}")
        outputs, state = self.rnn(sequences)
        if self.pooling == "mean":
            return self.head(outputs.mean(dim=1))
        hidden = state[0] if isinstance(state, tuple) else state  # (layers * directions, N, hidden)
        directions = 2 if self.rnn.bidirectional else 1
        last_layer = hidden[-directions:]  # the top layer's final state in each direction
        return self.head(torch.cat(list(last_layer), dim=-1))


class ImageSequenceClassifier(SequenceClassifier):
    """Reads ``(N, C, H, W)`` images as sequences of rows (``C*W`` features, ``H`` steps) or of pixels."""

    def __init__(self, read: str = "rows", in_channels: int = 1, input_size: int = 28, **kwargs) -> None:
        if read not in ("rows", "pixels"):
            raise ValueError(f"read must be 'rows' or 'pixels', not {read!r}")
        super().__init__(input_size=in_channels * input_size if read == "rows" else in_channels, **kwargs)
        self.read = read

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f"expected images (N, C, H, W), got {tuple(images.shape)}")
        n, c, h, w = images.shape
        if self.read == "rows":  # step t sees row t of every channel
            sequences = images.permute(0, 2, 1, 3).reshape(n, h, c * w)
        else:  # step t sees pixel t in raster order
            sequences = images.reshape(n, c, h * w).transpose(1, 2)
        return super().forward(sequences.contiguous())


@register_model()
def seq_rnn(
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int = 28,
    read: str = "rows",
    cell: str = "lstm",
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    pooling: str = "last",
) -> ImageSequenceClassifier:
    """An RNN/LSTM/GRU reading an image row by row (``read="rows"``) or pixel by pixel (``"pixels"``)."""
    return ImageSequenceClassifier(read, in_channels, input_size, num_classes=num_classes, hidden_size=hidden_size,
                                   num_layers=num_layers, cell=cell, bidirectional=bidirectional, dropout=dropout,
                                   pooling=pooling)  # fmt: skip


@register_model()
def audio_rnn(
    num_classes: int = 10,
    n_features: int = 40,
    cell: str = "gru",
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = True,
    dropout: float = 0.0,
    pooling: str = "mean",
) -> SequenceClassifier:
    """A (bidirectional) GRU/LSTM/RNN over ``(N, T, n_features)`` feature frames: ``n_features`` is the
    number of features per frame (MFCC coefficients or mel bands), filled from the data's ``AudioInfo``."""
    return SequenceClassifier(n_features, num_classes, hidden_size=hidden_size, num_layers=num_layers, cell=cell,
                              bidirectional=bidirectional, dropout=dropout, pooling=pooling)  # fmt: skip
