"""The stop on a NaN or infinite training loss, without a wait for the device on every step.

Reading a loss's value on the host (``bool(torch.isfinite(loss))``) makes the host wait for the
device to finish the step. On the CPU there is nothing to wait for, so each step is checked as it
ends and the error names it. On a GPU that wait, once a step, keeps the host from queueing the next
step while this one runs, which for a small model is most of the time: there the steps' verdicts are
gathered on the device and read on the steps the loggers write (which read the loss anyway), after
each epoch's last step, before a validation and before any checkpoint is written, so a NaN is never
saved or drawn.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from zoo.errors import NonFiniteLossError


class FiniteLossCheck:
    """Mixed into ``zoo.tasks.base.Task``: ``check_finite_loss(loss)`` after each training step."""

    remedy: str
    _unread_finite: torch.Tensor | None = None  # all the unread steps' losses were finite (on the device)
    _unread_since: int = 0  # the first unread step

    def defers_finite_check(self, loss: torch.Tensor) -> bool:
        """Whether this step's verdict may wait: on an accelerator, in a single process (several
        processes decide together on every step, as their collectives wait anyway)."""
        return loss.device.type != "cpu" and self.trainer.world_size == 1

    def check_finite_loss(self, loss: torch.Tensor) -> None:
        """Raise ``NonFiniteLossError`` (on every process at once) when the training loss is NaN or inf."""
        if self.defers_finite_check(loss):
            finite = torch.isfinite(loss.detach())
            if self._unread_finite is None:
                self._unread_finite, self._unread_since = finite, self.global_step
            else:
                self._unread_finite = self._unread_finite & finite
            if self.logger_writes_this_batch() or self.last_batch_of_epoch():
                self.read_finite_checks()
            return
        finite = math.isfinite(loss.item())  # one read on the host either way; on the CPU ~0.2 us, bool(torch.isfinite(loss)) ~4 us
        if self.trainer.world_size > 1:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if not finite:
            self._stop(f"{loss.item()} at epoch {self.current_epoch}, step {self.global_step}")

    def last_batch_of_epoch(self) -> bool:
        """Whether this training batch is its epoch's last (the epoch-end figures draw the weights next)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.ready >= self.trainer.num_training_batches

    def read_finite_checks(self) -> None:
        """Read the gathered verdicts (one wait for the device) and stop if a loss was not finite."""
        if self._unread_finite is None:
            return
        finite, since = bool(self._unread_finite), self._unread_since
        self._unread_finite = None
        if not finite:
            self._stop(f"nan or inf at epoch {self.current_epoch}, between steps {since} and {self.global_step}")

    def _stop(self, where: str) -> None:
        raise NonFiniteLossError(
            f"training loss became {where}; stopped without saving, so the last good checkpoint stays:"
            f" {self.remedy}, then resume with ckpt_path=<run>/checkpoints/last.ckpt"
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.read_finite_checks()  # never save weights a non-finite loss has updated

    def on_validation_start(self) -> None:
        self.read_finite_checks()  # a validation inside an epoch (trainer.val_check_interval)
