"""Shared by the benchmarks: a callback that times the training batches of a Lightning run."""

from __future__ import annotations

import resource
import statistics
import time

import lightning as L


class TrainThroughput(L.Callback):
    """Wall time and items of the training batches only (validation and checkpointing excluded).

    Items are the elements of the batch's targets: images for a classifier's labels ``(N,)``,
    tokens for a language model's ``(N, T)`` next-token targets.
    """

    def __init__(self) -> None:
        self.seconds, self.items, self._start, self._last = 0.0, 0, 0.0, 0.0
        self.step_seconds: list[float] = []  # from one batch's end to the next's (the first: from the epoch's start)
        self.page_faults, self._faults_at_start, self._faults_at_last = 0, 0, 0  # minor faults (pages mapped in) while training

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = self._last = time.perf_counter()
        self._faults_at_start = self._faults_at_last = minor_page_faults()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.items += batch[1].numel()
        now = time.perf_counter()
        self.step_seconds.append(now - self._last)
        self._last = now
        self._faults_at_last = minor_page_faults()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds += self._last - self._start
        self.page_faults += self._faults_at_last - self._faults_at_start

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    @property
    def median_step(self) -> float:
        """The median step's seconds: steady against bursts of load from other machines sharing the host."""
        return statistics.median(self.step_seconds)

    @property
    def faults_per_step(self) -> float:
        return self.page_faults / max(len(self.step_seconds), 1)


def minor_page_faults() -> int:
    """This process's minor page faults so far: pages the kernel mapped in (e.g. freed memory coming back)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
