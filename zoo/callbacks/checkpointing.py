"""Checkpointing and stopping callbacks that hold under every setting a user may pass.

- ``LastCheckpoint`` writes ``last.ckpt`` at the end of every training epoch (after its validation),
  when training ends mid-epoch (``trainer.max_steps``, ``trainer.max_time``) and when the run is
  stopped by SIGTERM or Ctrl-C: a killed run loses at most one epoch. (Lightning 2.6's
  ``ModelCheckpoint(save_last=True)`` writes it only in a step that also wrote a top-k checkpoint,
  so a run whose best epoch was 11 of 32 left ``last.ckpt`` at epoch 11.)
- ``EarlyStopping`` skips a check for which no validation has run yet (a run that stops mid-epoch,
  ``trainer.limit_val_batches=0``, ``trainer.check_val_every_n_epoch=3``) instead of failing.
- ``LearningRateMonitor`` does nothing when the run has no logger (``logger=[]``).
- ``AtomicCheckpointIO`` makes every checkpoint write atomic (``zoo.atomic``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping
from lightning.pytorch.callbacks import LearningRateMonitor as LightningLearningRateMonitor
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.utilities.exceptions import SIGTERMException

from zoo.atomic import atomic_write


class LastCheckpoint(Checkpoint):
    """``<dirpath>/last.ckpt``: the state at the end of the newest epoch (or step, when a run stops
    mid-epoch), to resume from with ``ckpt_path=``. Saves no "best" checkpoint (``best_model_path`` is
    empty): that is ``ModelCheckpoint``'s job."""

    best_model_path = ""

    def __init__(self, dirpath: str | Path, filename: str = "last") -> None:
        self.dirpath = Path(dirpath)
        self.filename = filename
        self._saved_step: int | None = None

    @property
    def path(self) -> Path:
        return self.dirpath / f"{self.filename}.ckpt"

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or self._saved_step == trainer.global_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # a full checkpoint (optimizer, loops): resumable
        self._saved_step = trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        # a NaN loss is not saved: the last good checkpoint stays (see zoo.tasks.base.Task.check_finite_loss)
        if isinstance(exception, (SIGTERMException, KeyboardInterrupt)) and trainer.state.fn == "fit":
            self._save(trainer)


class EarlyStopping(LightningEarlyStopping):
    """Lightning's ``EarlyStopping``, minus the failure when no validation has produced the metric
    yet; once validation has run, a missing metric is still an error (a misspelled ``monitor``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._validated = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validated = True
        super().on_validation_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.monitor not in trainer.callback_metrics and not self._validated:
            return
        super().on_train_epoch_end(trainer, pl_module)


class LearningRateMonitor(LightningLearningRateMonitor):
    """Lightning's ``LearningRateMonitor``, switched off (instead of failing) when there is no logger."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active = True

    def on_train_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        self.active = bool(trainer.loggers)
        if self.active:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.active:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.active:
            super().on_train_epoch_start(trainer, *args, **kwargs)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer with atomic local writes (Lightning's own goes through fsspec,
    whose local "transaction" writes a 0600 file elsewhere and moves it: not atomic across file systems)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        from fsspec.implementations.local import LocalFileSystem

        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        import torch

        atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def choosing_nothing_on_test(callbacks: list[L.Callback]) -> list[L.Callback]:
    """The callbacks for a task whose validation asks the test's questions (``Task.validation_is_test``):
    an epoch chosen by them would make the test score the best of several tries at the test itself.
    ``ModelCheckpoint`` keeps the newest epoch instead of the best (so ``best.ckpt``, which the run
    tests and the catalogue publishes, holds the final weights, as word2vec.c and gensim report them),
    and ``EarlyStopping`` is left out."""
    kept = []
    for callback in callbacks:
        if isinstance(callback, LightningEarlyStopping):
            continue
        if isinstance(callback, ModelCheckpoint):
            callback.monitor = None  # with save_top_k=1: the newest checkpoint replaces the one before
        kept.append(callback)
    return kept
