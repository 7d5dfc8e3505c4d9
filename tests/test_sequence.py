"""Recurrent sequence classifiers: reading images as rows or pixels, pooling, and training."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.models.sequence import SequenceClassifier
from zoo.training import train


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sequence_classifier_shapes(cell, bidirectional):
    net = SequenceClassifier(6, 4, hidden_size=8, num_layers=2, cell=cell, bidirectional=bidirectional)
    assert net(torch.randn(3, 11, 6)).shape == (3, 4)
    mean = SequenceClassifier(6, 4, hidden_size=8, cell=cell, bidirectional=bidirectional, pooling="mean")
    assert mean(torch.randn(3, 11, 6)).shape == (3, 4)


def test_last_state_pooling_is_the_top_layers_final_output():
    torch.manual_seed(0)
    net = SequenceClassifier(5, 3, hidden_size=7, num_layers=2, cell="gru").eval()
    x = torch.randn(2, 9, 5)
    outputs, _ = net.rnn(x)
    torch.testing.assert_close(net(x), net.head(outputs[:, -1]))


def test_images_are_read_row_by_row_or_pixel_by_pixel():
    rows = zoo.create_model("seq_rnn", read="rows", in_channels=3, input_size=8)
    pixels = zoo.create_model("seq_rnn", read="pixels", in_channels=3, input_size=8)
    assert rows.rnn.input_size == 24 and pixels.rnn.input_size == 3
    image = torch.randn(2, 3, 8, 8)
    assert rows(image).shape == pixels(image).shape == (2, 10)
    # a row sequence's step t holds row t of each channel, in channel order
    seen = []
    rows.rnn.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    rows(image)
    torch.testing.assert_close(seen[0][:, 5, 8:16], image[:, 1, 5, :])
    with pytest.raises(ValueError, match="expected sequences"):
        SequenceClassifier(6, 4)(torch.randn(2, 5, 7))


def test_lstm_reading_rows_learns_digits(make_cfg):
    metrics = train(make_cfg("model=seq_rnn", "trainer.max_epochs=8", "callbacks.prediction_grid=null",
                             "callbacks.weight_histograms=null"))  # fmt: skip
    assert metrics["test/acc"] >= 0.85
