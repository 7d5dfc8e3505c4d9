"""TensorBoard callbacks for recurrent networks: text sampled from a language model after every
validation, and histograms of the hidden states of every RNN/LSTM/GRU layer (saturated tanh units
pile up at +-1; a dead ReLU RNN at 0)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from zoo.callbacks.base import TaskCallback
from zoo.callbacks.tensorboard import tensorboard_writers, write_histogram


def as_markdown_block(text: str) -> str:
    """Text shown verbatim by TensorBoard's markdown renderer (an indented code block)."""
    return "\n".join("    " + line for line in text.splitlines())


class TextSampleLogger(TaskCallback):
    """After each validation epoch, logs ``length`` tokens sampled from the language model after
    ``prompt`` as ``samples/text``."""

    tasks = ("language_modeling",)

    def __init__(self, prompt: str = "", length: int = 300, temperature: float = 0.8, top_k: int | None = None,
                 seed: int = 0) -> None:  # fmt: skip
        self.prompt, self.length, self.temperature, self.top_k, self.seed = prompt, length, temperature, top_k, seed

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not self.serves(pl_module):
            return
        writers = tensorboard_writers(trainer)
        if not writers:
            return
        from zoo.generation import TextGenerator

        generator = TextGenerator(pl_module.model, dict(pl_module.hparams))
        text = generator.generate(self.prompt, self.length, self.temperature, self.top_k, seed=self.seed,
                                  on_unknown="skip")  # fmt: skip
        for writer in writers:
            writer.add_text("samples/text", as_markdown_block(text), trainer.global_step)


class HiddenStateHistogramLogger(L.Callback):
    """On the first validation batch of every epoch, logs histograms of each recurrent layer's
    outputs and final states: ``hidden/<module>/outputs``, ``.../h_layer<k>`` (and ``c_layer<k>``)."""

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._captured: dict[str, torch.Tensor] = {}

    def _capture(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: tuple[torch.Tensor, Any]) -> None:
            outputs, state = output
            if isinstance(outputs, nn.utils.rnn.PackedSequence):
                outputs = outputs.data
            self._captured[f"hidden/{name}/outputs"] = outputs.detach().float().cpu()
            for letter, tensor in zip("hc", state if isinstance(state, tuple) else (state,)):
                for layer, values in enumerate(tensor.detach().float().cpu()):
                    self._captured[f"hidden/{name}/{letter}_layer{layer}"] = values

        return hook

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:  # fmt: skip
        if batch_idx == 0 and not trainer.sanity_checking and tensorboard_writers(trainer):
            self._handles = [module.register_forward_hook(self._capture(name or "rnn"))
                             for name, module in pl_module.named_modules() if isinstance(module, nn.RNNBase)]  # fmt: skip

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for writer in tensorboard_writers(trainer):
            for tag, values in self._captured.items():
                write_histogram(writer, tag, values, trainer.global_step)
        self._captured = {}
