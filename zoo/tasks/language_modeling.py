"""Language modelling: next-token prediction with truncated backpropagation through time.

The recurrent state at the end of one batch starts the next (detached, so gradients flow back
at most ``data.seq_len`` steps) and is reset at the start of every epoch and every evaluation;
the data module's batches are contiguous windows of parallel token streams for this reason.
Losses are in nats per token; validation and test also report perplexity, and bits per
character for character-level corpora. Text sampled from the model goes to TensorBoard through
``zoo.callbacks.TextSampleLogger``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from datamodules.info import DataInfo, TextInfo
from zoo.models.language_model import State, detach_state
from zoo.tasks.base import Task
from zoo.tasks.buffered_updates import BufferedUpdates


class LanguageModeling(Task):
    """Trains any registered language model (``forward(tokens, state) -> (logits, state)``) with
    ``Task``'s settings; ``ReduceLROnPlateau`` follows ``val/loss`` (pytorch/examples divides the
    rate by 4 when validation stops improving)."""

    name = "language_modeling"
    notebook_object = "zoo.generation:TextGenerator"
    modalities = ("text",)
    headline_metrics = ("test/loss", "test/ppl", "test/bpc", "val/loss", "val/ppl")

    def __init__(self, **common: Any) -> None:
        super().__init__(**common)
        self.info: TextInfo
        self.losses = nn.ModuleDict({f"{split}_loss": MeanMetric() for split in ("train", "val", "test")})
        self.train_loss_updates = BufferedUpdates(self.losses["train_loss"])  # one torchmetrics update every 64 steps
        self.state: State | None = None

    @classmethod
    def model_arguments(cls, info: DataInfo) -> dict[str, Any]:
        """The vocabulary size."""
        return {"vocab_size": info.vocab_size}

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(2, 3, dtype=torch.long),)

    def described_inputs(self) -> str:
        return f"tokens of corpus {self.info.name!r}"

    def output_problem(self, outputs: tuple[torch.Tensor, State]) -> str | None:
        vocab = outputs[0].shape[-1]
        if vocab == self.info.vocab_size:
            return None
        return (f"has {vocab} tokens but the corpus {self.info.name!r} has {self.info.vocab_size}:"
                " leave model.vocab_size unset, it follows the corpus")  # fmt: skip

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        return self.model(tokens, state)

    def shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        inputs, targets = batch
        logits, state = self(inputs, self.state)
        self.state = detach_state(state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        if split == "train":
            self.train_loss_updates.add(loss.detach(), weight=targets.numel())
            self.log_step({"train/loss": loss})
        else:
            self.losses[f"{split}_loss"].update(loss.detach(), weight=targets.numel())
        return {"loss": loss}

    def log_epoch(self, split: str) -> None:
        if split == "train":
            self.train_loss_updates.flush()
        loss = self.losses[f"{split}_loss"].compute()  # token-weighted mean, synchronised across processes
        self.losses[f"{split}_loss"].reset()
        metrics = {f"{split}/loss": loss, f"{split}/ppl": torch.exp(loss.clamp(max=50))}
        if self.info.level == "char":
            metrics[f"{split}/bpc"] = loss / math.log(2)
        self.log_dict(metrics, prog_bar=split != "train")

    # every pass starts from the zero state; within a pass the state runs on across batches
    def on_train_epoch_start(self) -> None:
        self.state = None
        self.train_loss_updates.clear()  # what an interrupted epoch left

    def on_validation_epoch_start(self) -> None:
        self._train_state, self.state = self.state, None

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.state = self._train_state  # validation inside an epoch leaves training's state alone

    def on_test_epoch_start(self) -> None:
        self.state = None


LanguageModel = LanguageModeling  # the name before the task base (older notebooks)
