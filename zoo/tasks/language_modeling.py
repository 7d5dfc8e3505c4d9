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

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from zoo.errors import ModelDataMismatchError
from zoo.models.language_model import State, detach_state
from zoo.registry import create_model
from zoo.tasks.common import check_finite_loss, configure_optimizers, logger_writes_this_batch


class LanguageModel(L.LightningModule):
    """Trains any registered language model (``forward(tokens, state) -> (logits, state)``).

    Args:
        model: registry name and builder arguments, e.g. ``{"name": "rnn_lm", "hidden_size": 650}``.
        data_info: the corpus's ``TextInfo`` as a dict (level, vocabulary, seq_len).
        optimizer: a Hydra ``_partial_`` config of a ``torch.optim`` class.
        scheduler: a Hydra ``_partial_`` config of a ``torch.optim.lr_scheduler`` class plus
            ``interval``; ``T_max``/``total_steps`` left ``null`` are filled from the trainer's length.
            ``ReduceLROnPlateau`` follows ``val/loss`` (pytorch/examples divides the rate by 4 when
            validation stops improving).
        compile: ``torch.compile`` the network.
        data_config: the data module's config, kept in checkpoints so evaluation can rebuild the corpus.
    """

    def __init__(
        self,
        model: dict[str, Any],
        data_info: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        compile: bool = False,
        data_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # the loggers get the run's config with its final metrics (zoo.training.finish_run)
        self.model = create_model(**model)
        self.vocab_size = len(data_info["vocabulary"])
        if getattr(self.model, "vocab_size", self.vocab_size) != self.vocab_size:
            raise ModelDataMismatchError(
                f"model {model['name']!r} has {self.model.vocab_size} tokens but the corpus {data_info['name']!r}"
                f" has {self.vocab_size}: leave model.vocab_size unset, it follows the corpus"
            )
        if compile:
            self.model.compile()
        self.losses = torch.nn.ModuleDict({f"{split}_loss": MeanMetric() for split in ("train", "val", "test")})
        self.state: State | None = None

    modalities = ("text",)

    @staticmethod
    def model_arguments(info: Any) -> dict[str, Any]:
        """The model's data-dependent argument: the vocabulary size."""
        return {"vocab_size": info.vocab_size}

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        return self.model(tokens, state)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> torch.Tensor:
        inputs, targets = batch
        logits, state = self(inputs, self.state)
        self.state = detach_state(state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        self.losses[f"{split}_loss"].update(loss.detach(), weight=targets.numel())
        if split == "train" and logger_writes_this_batch(self):
            self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        return loss

    def _log_epoch(self, split: str) -> None:
        loss = self.losses[f"{split}_loss"].compute()  # token-weighted mean, synchronised across processes
        self.losses[f"{split}_loss"].reset()
        metrics = {f"{split}/loss": loss, f"{split}/ppl": torch.exp(loss.clamp(max=50))}
        if self.hparams.data_info["level"] == "char":
            metrics[f"{split}/bpc"] = loss / math.log(2)
        self.log_dict(metrics, prog_bar=split != "train")

    # every pass starts from the zero state; within a pass the state runs on across batches
    def on_train_epoch_start(self) -> None:
        self.state = None

    def on_validation_epoch_start(self) -> None:
        self._train_state, self.state = self.state, None

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")
        self.state = self._train_state  # validation inside an epoch leaves training's state alone

    def on_test_epoch_start(self) -> None:
        self.state = None

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        check_finite_loss(self, loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "test")

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.parameters(), monitor="val/loss")
