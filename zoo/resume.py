"""Resuming a run from a checkpoint (``python train.py ckpt_path=<run>/checkpoints/last.ckpt``).

What comes from the checkpoint: the weights, the optimizer's state (momentum, Adam's moments), the
epoch and step counters, the learning-rate schedule's position and the callbacks' state (best score
so far, early-stopping patience). What comes from the new command line: everything else (data,
batch size, ``trainer.max_epochs`` to extend a finished run, callbacks, logger, the new run folder)
and the optimizer's settings: a new ``optimizer.lr`` scales the restored schedule to the new level
from where it was (``zoo.optim.apply_new_settings``), so the NaN message's advice, "lower
optimizer.lr, then resume", trains at the lower rate. The model and the optimizer's kind must be
the checkpoint's: anything else is refused in one line before training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import lightning as L
import torch

from zoo.checkpoint import network_state_dict
from zoo.errors import CheckpointError
from zoo.optim import apply_new_settings

log = logging.getLogger(__name__)


def check_resumable(checkpoint: Mapping[str, Any], task: L.LightningModule, path: str | Path) -> None:
    """One line if ``checkpoint`` cannot resume ``task``: another model, other tensor shapes, another optimizer."""
    theirs_model = checkpoint["hyper_parameters"].get("model", {})
    ours_model = task.hparams.model
    theirs = network_state_dict(checkpoint["state_dict"])
    ours = task.model.state_dict()
    differing = sorted(set(ours) ^ set(theirs)) or [k for k in ours if ours[k].shape != theirs[k].shape]
    if theirs_model.get("name") != ours_model.get("name") or differing:
        detail = f" ({len(differing)} tensors differ, e.g. {differing[0]})" if differing else ""
        raise CheckpointError(
            f"cannot resume from {path}: it holds model {theirs_model.get('name')!r}{detail}, this run builds"
            f" {ours_model.get('name')!r}: resume with the checkpoint's model settings, or start a new run from its"
            f" weights with model.weights_path={path}"
        )
    theirs_optimizer = (checkpoint["hyper_parameters"].get("optimizer") or {}).get("name")
    ours_optimizer = (task.hparams.optimizer or {}).get("name")
    if theirs_optimizer != ours_optimizer:
        raise CheckpointError(
            f"cannot resume from {path}: it was trained with optimizer {theirs_optimizer!r}, this run asks for"
            f" {ours_optimizer!r}: resume with optimizer={theirs_optimizer}, or start a new run from its weights"
            f" with model.weights_path={path}"
        )


class ApplyNewSettings(L.Callback):
    """After Lightning restored the optimizer and schedules, makes this command line's optimizer
    settings take effect (``restored``: the checkpoint's optimizer config)."""

    def __init__(self, restored: Mapping[str, Any]) -> None:
        self.restored = dict(restored)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        requested = pl_module.hparams.optimizer or {}
        schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
        for optimizer in trainer.optimizers:
            changed = apply_new_settings(optimizer, schedulers, self.restored, requested)
            if changed:
                log.info("resumed with new optimizer settings: %s", ", ".join(changed))


class RunProgress(L.Callback):
    """Hands the epoch and step counts at the end of training to the main process: under a spawning
    strategy (``trainer.strategy=ddp_spawn``) training runs in worker processes, and Lightning sends
    back only ``trainer.callback_metrics``, so they travel there."""

    KEYS = {"epochs": "run/epochs", "global_step": "run/global_step"}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.callback_metrics[self.KEYS["epochs"]] = torch.tensor(float(trainer.current_epoch))
        trainer.callback_metrics[self.KEYS["global_step"]] = torch.tensor(float(trainer.global_step))

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.on_train_end(trainer, pl_module)

    @classmethod
    def pop(cls, metrics: dict[str, float], trainer: L.Trainer) -> dict[str, int]:
        """The counts, removed from ``metrics`` and the trainer's metrics (the trainer's own when absent)."""
        progress = {"epochs": trainer.current_epoch, "global_step": trainer.global_step}
        for name, key in cls.KEYS.items():
            value = metrics.pop(key, None)
            trainer.callback_metrics.pop(key, None)
            if value is not None:
                progress[name] = max(progress[name], int(value))
        return progress
