"""Greedy layer-wise pretraining, then supervised fine-tuning, in one run (Bengio et al. 2007;
Hinton & Salakhutdinov 2006).

For the first ``pretrain_epochs`` epochs layer 1 of a ``stacked_autoencoder`` learns to recreate
the images, for the next ``pretrain_epochs`` layer 2 recreates layer 1's codes, and so on; after
that the whole stack and its softmax head are fine-tuned as a ``Classification``. TensorBoard
shows the stages one after another: ``pretrain/layer<k>_loss`` (and ``pretrain/layer``, the
layer being trained), then ``train/loss`` and ``val/acc``. The learning-rate schedule runs over
the fine-tuning epochs only, so a twin trained from random initialisation
(``task.pretrain_epochs=0``) for the same fine-tuning epochs gets the same schedule.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.tasks.classification import Classification


class LayerwisePretraining(Classification):
    """A ``Classification`` whose network (``pretrain_loss(x, layer)``, ``num_layers``) is first
    pretrained layer by layer, ``pretrain_epochs`` epochs each (0: no pretraining)."""

    name = "layerwise_pretraining"
    notebook_object = "zoo.inference:Classifier"
    modalities = ("image",)

    def __init__(self, pretrain_epochs: int = 2, **settings: Any) -> None:
        super().__init__(**settings)
        if not hasattr(self.model, "pretrain_loss"):
            raise ValueError(f"model {self.hparams.model['name']!r} has no layers to pretrain: use task=classification")

    @property
    def pretraining_epochs(self) -> int:
        return self.hparams.pretrain_epochs * self.model.num_layers

    def pretraining_layer(self) -> int | None:
        """The layer (0-based) pretrained in the current epoch, or None while fine-tuning."""
        epoch = self.current_epoch
        return epoch // self.hparams.pretrain_epochs if epoch < self.pretraining_epochs else None

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        layer = self.pretraining_layer()
        if layer is None:
            return super().training_step(batch, batch_idx)
        loss = self.model.pretrain_loss(batch[0], layer)
        self.check_finite_loss(loss)
        self.train_updates[1].add(loss.detach(), weight=len(batch[0]))
        self.log_step({f"pretrain/layer{layer + 1}_loss_step": loss})
        return loss

    def on_train_epoch_end(self) -> None:
        layer = self.pretraining_layer()
        if layer is None:
            super().on_train_epoch_end()
            return
        self.train_updates[1].flush()
        loss = self.losses["train_loss"].compute()
        self.log_dict({f"pretrain/layer{layer + 1}_loss_epoch": loss, "pretrain/layer": float(layer + 1)})
        self.losses["train_loss"].reset()
        self.metrics["train_metrics"].reset()

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        if self.pretraining_layer() is None:
            super().lr_scheduler_step(scheduler, metric)

    def schedule_length(self) -> tuple[int, int]:
        """The schedule runs over the fine-tuning epochs only, so that the random-init twin
        (``pretrain_epochs=0``) trained for the same fine-tuning epochs gets the same schedule."""
        steps, epochs = super().schedule_length()
        finetune = max(epochs - self.pretraining_epochs, 1)
        return max(steps * finetune // epochs, 1), finetune
