"""What every task's LightningModule shares: the optimiser and scheduler from their configs, and
the stop on a non-finite loss that keeps the last good checkpoint."""

from __future__ import annotations

from typing import Any, Iterable

import lightning as L
import torch
from hydra.utils import instantiate

from zoo.errors import NonFiniteLossError


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
    """The optimiser of ``hparams.optimizer`` and the scheduler of ``hparams.scheduler`` (if any).

    The scheduler config's ``interval`` is ``epoch`` or ``step``; ``T_max``/``total_steps`` left
    ``null`` are filled from the trainer's length; ``ReduceLROnPlateau`` follows ``monitor``.
    """
    optimizer = instantiate(module.hparams.optimizer)(params=list(parameters))
    if not module.hparams.scheduler:
        return optimizer
    config = dict(module.hparams.scheduler)
    interval = config.pop("interval", "epoch")
    steps = module.trainer.estimated_stepping_batches
    length = steps if interval == "step" else module.trainer.max_epochs
    for key in ("T_max", "total_steps"):
        if key in config and config[key] is None:
            config[key] = int(steps if key == "total_steps" else length)
    scheduler = instantiate(config)(optimizer=optimizer)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval, "monitor": monitor}}
