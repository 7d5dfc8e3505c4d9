"""Transfer learning: Lightning's ``BackboneFinetuning`` with its ``train_bn`` honoured while frozen."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import BackboneFinetuning as _LightningBackboneFinetuning


class BackboneFinetuning(_LightningBackboneFinetuning):
    """Freeze ``pl_module.backbone`` until ``unfreeze_backbone_at_epoch``, then train it at a lower
    learning rate. Lightning's version always leaves batch-norm layers trainable while frozen;
    here ``train_bn=False`` freezes them too (weights and running statistics), so the copied
    backbone is exactly the source model's until it is unfrozen."""

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        self.freeze(pl_module.backbone, train_bn=self.train_bn)
