"""What every task's LightningModule shares: the optimiser and scheduler from their configs, and
the stop on a non-finite loss that keeps the last good checkpoint."""

from __future__ import annotations

from typing import Any, Iterable

import lightning as L
import torch

from zoo.errors import NonFiniteLossError
from zoo.optim import build_optimizer, build_scheduler


def logger_writes_this_batch(module: L.LightningModule) -> bool:
    """Whether the loggers write what this training batch logs, by Lightning's own rule (every
    ``trainer.log_every_n_steps``-th batch, counted from 1; every batch in ``fast_dev_run``). Values
    logged on other batches cost time (~10% of a small model's step) and are drawn batches later,
    under the step of the next batch that is written."""
    trainer = module.trainer
    return bool(trainer.fast_dev_run) or trainer._logger_connector.should_update_logs


def check_finite_loss(
    module: L.LightningModule, loss: torch.Tensor, remedy: str = "lower optimizer.lr or set trainer.gradient_clip_val"
) -> None:
    """Raise ``NonFiniteLossError`` (on every process at once) when the training loss is NaN or inf."""
    finite = bool(torch.isfinite(loss))
    if module.trainer.world_size > 1:
        finite = module.trainer.strategy.reduce_boolean_decision(finite, all=True)
    if not finite:
        raise NonFiniteLossError(
            f"training loss became {loss.item()} at epoch {module.current_epoch}, step {module.global_step};"
            f" stopped without saving, so the last good checkpoint stays: {remedy},"
            " then resume with ckpt_path=<run>/checkpoints/last.ckpt"
        )


def configure_optimizers(
    module: L.LightningModule, parameters: Iterable[torch.nn.Parameter], monitor: str = "val/loss"
) -> Any:
    """The optimiser of ``hparams.optimizer`` and the schedule of ``hparams.scheduler`` (if any), by
    name from ``zoo.optim``'s tables.

    The scheduler config's ``interval`` is ``epoch`` or ``step``; ``T_max``/``total_steps`` left
    ``null`` are filled from the trainer's length; ``ReduceLROnPlateau`` follows ``monitor``.
    """
    optimizer = build_optimizer(module.hparams.optimizer, parameters)
    if not module.hparams.scheduler:
        return optimizer
    scheduler, interval = build_scheduler(
        module.hparams.scheduler, optimizer, module.trainer.estimated_stepping_batches, module.trainer.max_epochs
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval, "monitor": monitor}}
