"""Per-step overhead of the ``train.py`` stack: the same model, optimiser, batch and in-memory data
through ``zoo.training.train`` (Lightning, our task, its metrics and logging, the progress bar, the
TensorBoard callbacks, the loggers) and through the best bare eager loop (index a batch, the same
batch preprocessing, forward, loss, backward, clipping where the recipe clips, optimiser step), in one
process, the two sides alternating round by round.

    ZOO_DATA_DIR=../shared/datasets python benchmarks/step_overhead.py                 # all three workloads
    ZOO_DATA_DIR=../shared/datasets python benchmarks/step_overhead.py --workloads lenet5 --rounds 9 --steps 400
    ZOO_DATA_DIR=../shared/datasets python benchmarks/step_overhead.py --workloads lenet5 callbacks=none logger=[]   # what the callbacks and logger cost

Each round trains ``--steps`` batches on each side from the same weights; the first ``--warmup`` are
left out and the rest timed from one batch's start to the next's (so the data fetch, every Lightning
hook and the logging are inside). Prints each side's steps/s (median of the rounds, with the range)
and the ratio ours / bare. Workloads: LeNet-5 and the 784-500-300-10 MLP on Fashion-MNIST (Adam,
batch 64), pytorch/examples' 2x200 word LSTM on Grimms' tales (SGD, clip 0.25, batch 20, bptt 35).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import lightning as L
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.config import compose_config  # noqa: E402
from zoo.models.language_model import detach_state  # noqa: E402
from zoo.optim import build_optimizer  # noqa: E402
from zoo.run_settings import build_datamodule  # noqa: E402
from zoo.training import build_task, plain, train  # noqa: E402


@dataclass(frozen=True)
class Workload:
    overrides: tuple[str, ...]
    target: float  # the goal for ours / bare


WORKLOADS = {
    "lenet5": Workload(("experiment=lenet5_fashion_mnist", "data.download=false"), 0.9),
    "mlp": Workload(("experiment=mlp_fashion_mnist", "data.download=false"), 0.9),
    "lstm_word": Workload(("experiment=lstm_word_grimm", "model.hidden_size=200", "model.embedding_size=200", "model.dropout=0.2"), 0.97),
}


class BatchStarts(L.Callback):
    """The time each training batch starts, and (the last entry) when the last batch's hooks ended:
    the epoch's end (histograms, checkpoints) is per-epoch work, for benchmarks/epoch_overhead.py."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last_end = 0.0

    def on_train_batch_start(self, *args) -> None:
        self.times.append(time.perf_counter())

    def on_train_batch_end(self, *args) -> None:
        self._last_end = time.perf_counter()

    def on_train_epoch_end(self, *args) -> None:
        self.times.append(self._last_end)


class StartFrom(L.Callback):
    """Loads the round's starting weights into the task's network before training."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self.state = state

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.model.load_state_dict(self.state)


def steps_per_second(times: list[float], warmup: int) -> float:
    return (len(times) - 1 - warmup) / (times[-1] - times[warmup])


def ours(overrides: list[str], state: dict[str, torch.Tensor], warmup: int, out: Path) -> float:
    starts = BatchStarts()
    train(compose_config("train", overrides, out), extra_callbacks=[StartFrom(state), starts])
    return steps_per_second(starts.times, warmup)


def bare_loop(overrides: list[str], out: Path) -> tuple[Callable[[int], list[float]], torch.nn.Module]:
    """A closure running ``steps`` bare steps (returning their start times) and the network it trains."""
    cfg = compose_config("train", overrides, out)
    datamodule = build_datamodule(cfg.data)
    task = build_task(cfg, datamodule)
    model = task.model.train()
    optimizer = build_optimizer(plain(cfg.optimizer), model.parameters())
    clip = cfg.trainer.gradient_clip_val
    datamodule.setup("fit")
    if task.name == "language_modeling":
        windows = datamodule.train_dataloader().dataset  # StreamWindows: contiguous (streams, bptt) windows

        def run(steps: int) -> list[float]:
            times, state = [], None
            for index in range(steps):
                times.append(time.perf_counter())
                inputs, targets = windows[index % len(windows)]
                logits, state = model(inputs, state)
                state = detach_state(state)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            times.append(time.perf_counter())
            return times

        return run, model
    arrays, batch_size = datamodule.splits["train"], datamodule.batch_size
    memory_format = torch.channels_last if task.channels_last else torch.contiguous_format

    def run(steps: int) -> list[float]:
        order, times = torch.randperm(len(arrays)), []
        for index in range(steps):
            times.append(time.perf_counter())
            start = index * batch_size % (len(arrays) - batch_size)
            images, labels = arrays.take(order[start : start + batch_size])
            images = datamodule.preprocess(images).contiguous(memory_format=memory_format)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        times.append(time.perf_counter())
        return times

    return run, model


def measure(name: str, args: argparse.Namespace, scratch: Path) -> tuple[list[float], list[float]]:
    overrides = [*WORKLOADS[name].overrides, f"data.root={args.data_dir}", "scheduler=none",
                 "trainer.max_epochs=1", f"trainer.limit_train_batches={args.steps}", "trainer.limit_val_batches=0",
                 "trainer.num_sanity_val_steps=0", "test=false", f"trainer.log_every_n_steps={args.log_every}"]  # fmt: skip
    run_bare, model = bare_loop(overrides, scratch / name / "bare")
    state = {key: value.clone() for key, value in model.state_dict().items()}
    rates: dict[str, list[float]] = {"ours": [], "bare": []}
    for round_index in range(args.rounds):
        model.load_state_dict(state)
        sides = ["ours", "bare"] if round_index % 2 == 0 else ["bare", "ours"]
        for side in sides:
            if side == "ours":
                rates["ours"].append(ours(overrides + args.overrides, state, args.warmup, scratch / name / f"ours{round_index}"))
            else:
                rates["bare"].append(steps_per_second(run_bare(args.steps), args.warmup))
        print(f"  {name} round {round_index + 1}: ours {rates['ours'][-1]:.1f}, bare {rates['bare'][-1]:.1f} steps/s", flush=True)
    return rates["ours"], rates["bare"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ZOO_DATA_DIR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300, help="batches per round and side (the LSTM takes a fifth)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--log-every", type=int, default=20, help="trainer.log_every_n_steps (the configs' default)")
    parser.add_argument("overrides", nargs="*", default=[], help="more train.py overrides for our side, e.g. callbacks=none")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.workloads:
            steps = args.steps // 5 if name == "lstm_word" else args.steps
            ours_rates, bare_rates = measure(name, argparse.Namespace(**{**vars(args), "steps": steps}), Path(scratch))
            rows.append((name, ours_rates, bare_rates))
    print(f"\n{torch.get_num_threads()} threads, {args.rounds} rounds (sides alternate), steps/s after {args.warmup} warm-up steps")
    print("| workload | ours steps/s (median, range) | bare loop | ours / bare (median of rounds, range) | goal |")
    print("|---|---:|---:|---:|---:|")
    for name, ours_rates, bare_rates in rows:
        ratios = [o / b for o, b in zip(ours_rates, bare_rates)]
        print(f"| {name} | {statistics.median(ours_rates):.1f} ({min(ours_rates):.1f}-{max(ours_rates):.1f})"
              f" | {statistics.median(bare_rates):.1f} ({min(bare_rates):.1f}-{max(bare_rates):.1f})"
              f" | {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | >= {WORKLOADS[name].target} |")


if __name__ == "__main__":
    main()
