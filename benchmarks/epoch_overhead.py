"""Per-epoch overhead of the ``train.py`` stack: what an epoch costs besides its training steps
(validation, the TensorBoard figures, checkpoints, early stopping, the epoch's logging), for
LeNet-5 on Fashion-MNIST (Adam, batch 64, the recipe's callbacks and logger).

    ZOO_DATA_DIR=../shared/datasets python benchmarks/epoch_overhead.py --epochs 4

Each epoch is timed from its start to the next epoch's start (the last: to the end of training);
its training steps from each batch's start to the next one's (the last: to its end). The overhead
is the difference. The first epoch is left out (it warms up). A second run of the same recipe with
Lightning's ``SimpleProfiler`` splits the overhead by hook (the profiler's own cost lands on the
steps, so only the first run gives the ratio).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import lightning as L

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.config import compose_config  # noqa: E402
from zoo.training import train  # noqa: E402


class EpochClock(L.Callback):
    """Seconds of each training epoch (its start to the next epoch's start) and of its training steps
    (each batch's start to the next one's, the fetch included; the last batch: to its end)."""

    def __init__(self) -> None:
        self.epochs: list[float] = []
        self.steps: list[float] = []
        self._epoch_start = self._batch_start = self._step_seconds = 0.0
        self._last_end: float | None = None

    def _close_epoch(self, now: float) -> None:
        if self._epoch_start:
            self.epochs.append(now - self._epoch_start)
            self.steps.append(self._step_seconds)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.perf_counter()
        self._close_epoch(now)
        self._epoch_start, self._step_seconds, self._last_end = now, 0.0, None

    def on_train_batch_start(self, *args) -> None:
        self._batch_start = time.perf_counter()
        if self._last_end is not None:  # the fetch of this batch
            self._step_seconds += self._batch_start - self._last_end

    def on_train_batch_end(self, *args) -> None:
        self._last_end = time.perf_counter()
        self._step_seconds += self._last_end - self._batch_start

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close_epoch(time.perf_counter())


def overrides(args: argparse.Namespace) -> list[str]:
    return ["experiment=lenet5_fashion_mnist", f"data.root={args.data_dir}", "data.download=false",
            f"trainer.max_epochs={args.epochs}", "callbacks.early_stopping.patience=100", "test=false", *args.overrides]  # fmt: skip


def profiled_hooks(args: argparse.Namespace, out: Path) -> dict[str, float]:
    """Seconds per epoch of each epoch-level hook, from Lightning's SimpleProfiler."""
    captured: dict[str, list[float]] = {}

    class Capture(L.Callback):
        def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            captured.update(trainer.profiler.recorded_durations)

    train(compose_config("train", [*overrides(args), "trainer.profiler=simple"], out), extra_callbacks=[Capture()])
    totals: dict[str, float] = defaultdict(float)
    for action, durations in captured.items():
        if action == "run_training_epoch":
            continue
        if len(durations) <= 3 * args.epochs:  # once an epoch (or a run): the epoch-level hooks
            totals[action] += sum(durations) / args.epochs
        elif "validation" in action or "val_next" in action:  # once per validation batch
            totals["validation batches (their steps, fetches and hooks)"] += sum(durations) / args.epochs
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ZOO_DATA_DIR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--hooks", type=int, default=12, help="epoch-level hooks to list from the profiled run (0: no second run)")
    parser.add_argument("overrides", nargs="*", default=[], help="more train.py overrides")
    args = parser.parse_args()
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as scratch:
        train(compose_config("train", overrides(args), Path(scratch) / "timed"), extra_callbacks=[clock])
        hooks = profiled_hooks(args, Path(scratch) / "profiled") if args.hooks else {}
    epochs, steps = clock.epochs[1:], clock.steps[1:]
    shares = [(epoch - step) / epoch for epoch, step in zip(epochs, steps)]
    print(f"\nLeNet-5, Fashion-MNIST, batch 64: epochs 2-{len(clock.epochs)} of {len(clock.epochs)}")
    print("| epoch | epoch s | training steps s | overhead s | overhead / epoch |\n|---:|---:|---:|---:|---:|")
    for index, (epoch, step, share) in enumerate(zip(epochs, steps, shares), start=2):
        print(f"| {index} | {epoch:.2f} | {step:.2f} | {epoch - step:.3f} | {share:.1%} |")
    print(f"median overhead / epoch: {statistics.median(shares):.1%} (goal: at most 10%)")
    if hooks:
        print("\nepoch-level hooks, seconds per epoch (SimpleProfiler, separate run):")
        for action, seconds in list(hooks.items())[: args.hooks]:
            print(f"  {seconds:7.3f}  {action}")


if __name__ == "__main__":
    main()
