"""Per-step overhead of the ``train.py`` stack: the same model, optimiser, batch and in-memory data
through three sides, in one process, their order rotating round by round:

- ours: ``zoo.training.train`` (Lightning, our task, its metrics and logging, the progress bar, the
  TensorBoard callbacks, the loggers, checkpoints);
- plain Lightning: the least a LightningModule can be (``training_step`` returns the loss, one
  optimiser; no logger, callback or progress bar) trained by a ``Trainer`` on the bare loop's
  batches: Lightning's own cost per step, which any LightningModule pays;
- bare: the best bare eager loop (index a batch, the same batch preprocessing, forward, loss,
  backward, clipping where the recipe clips, optimiser step).

    ZOO_DATA_DIR=../shared/datasets python benchmarks/step_overhead.py                 # all three workloads
    ZOO_DATA_DIR=../shared/datasets python benchmarks/step_overhead.py --workloads lenet5 --rounds 9 --steps 400
    ZOO_DATA_DIR=../shared/datasets python benchmarks/step_overhead.py --workloads lenet5 callbacks=none logger=[]   # what the callbacks and logger cost

Each round trains ``--steps`` batches on each side from the same weights; the first ``--warmup`` are
left out and the rest timed from one batch's start to the next's (so the data fetch, every Lightning
hook and the logging are inside). Prints each side's steps/s (median of the rounds, with the range)
and the ratios to the bare loop. Workloads: LeNet-5 and the 784-500-300-10 MLP on Fashion-MNIST (Adam,
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


class Batches:
    """The bare sides' batches: ``steps`` raw batches drawn as the bare loop draws them (an iterable Lightning takes as its loader)."""

    def __init__(self, draw: Callable[[int], tuple], steps: int) -> None:
        self.draw, self.steps = draw, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        return (self.draw(index) for index in range(self.steps))


class PlainModule(L.LightningModule):
    """The least a LightningModule does: the network's loss on a batch, and the optimiser. Training it
    measures Lightning's own floor: its automatic optimisation loop with no logger, callback or progress bar."""

    def __init__(self, model: torch.nn.Module, loss: Callable, optimizer: dict) -> None:
        super().__init__()
        self.model, self.loss, self.optimizer_settings = model, loss, optimizer

    def training_step(self, batch: tuple, batch_idx: int) -> torch.Tensor:
        return self.loss(self.model, batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return build_optimizer(self.optimizer_settings, self.model.parameters())


@dataclass
class BareSides:
    """The bare eager loop (``run(steps)``: its step start times) and Lightning's floor (``plain(steps)``), on one network."""

    run: Callable[[int], list[float]]
    plain: Callable[[int], float]
    model: torch.nn.Module


def bare_sides(overrides: list[str], warmup: int, out: Path) -> BareSides:
    """The bare loop and the plain LightningModule, drawing the same batches and computing the same loss."""
    cfg = compose_config("train", overrides, out)
    datamodule = build_datamodule(cfg.data)
    task = build_task(cfg, datamodule)
    model = task.model.train()
    settings = plain(cfg.optimizer)
    optimizer = build_optimizer(settings, model.parameters())
    clip = cfg.trainer.gradient_clip_val
    datamodule.setup("fit")
    if task.name == "language_modeling":
        windows = datamodule.train_dataloader().dataset  # StreamWindows: contiguous (streams, bptt) windows
        carried: dict[str, object] = {"state": None}

        def draw(index: int) -> tuple:
            return windows[index % len(windows)]

        def loss_of(network: torch.nn.Module, batch: tuple) -> torch.Tensor:
            inputs, targets = batch
            logits, state = network(inputs, carried["state"])
            carried["state"] = detach_state(state)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    else:
        arrays, batch_size = datamodule.splits["train"], datamodule.batch_size
        memory_format = torch.channels_last if task.channels_last else torch.contiguous_format
        order = torch.randperm(len(arrays))

        def draw(index: int) -> tuple:
            start = index * batch_size % (len(arrays) - batch_size)
            return arrays.take(order[start : start + batch_size])

        def loss_of(network: torch.nn.Module, batch: tuple) -> torch.Tensor:
            images, labels = batch
            images = datamodule.preprocess(images).contiguous(memory_format=memory_format)
            return F.cross_entropy(network(images), labels)

    def run(steps: int) -> list[float]:
        times: list[float] = []
        carried_reset()
        for index in range(steps):
            times.append(time.perf_counter())
            loss = loss_of(model, draw(index))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
        times.append(time.perf_counter())
        return times

    def plain_lightning(steps: int) -> float:
        carried_reset()
        starts = BatchStarts()
        trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, num_sanity_val_steps=0, gradient_clip_val=clip or None, callbacks=[starts],
                            default_root_dir=str(out))  # fmt: skip
        trainer.fit(PlainModule(model, loss_of, settings), train_dataloaders=Batches(draw, steps))
        return steps_per_second(starts.times, warmup)

    def carried_reset() -> None:
        if task.name == "language_modeling":
            carried["state"] = None

    return BareSides(run, plain_lightning, model)


SIDES = ("ours", "plain", "bare")


def measure(name: str, args: argparse.Namespace, scratch: Path) -> dict[str, list[float]]:
    """Each side's steps/s per round; the order of the sides rotates from round to round."""
    overrides = [*WORKLOADS[name].overrides, f"data.root={args.data_dir}", "scheduler=none",
                 "trainer.max_epochs=1", f"trainer.limit_train_batches={args.steps}", "trainer.limit_val_batches=0",
                 "trainer.num_sanity_val_steps=0", "test=false", f"trainer.log_every_n_steps={args.log_every}"]  # fmt: skip
    bare = bare_sides(overrides, args.warmup, scratch / name / "bare")
    state = {key: value.clone() for key, value in bare.model.state_dict().items()}
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(args.rounds):
        for side in SIDES[round_index % 3 :] + SIDES[: round_index % 3]:
            bare.model.load_state_dict(state)
            if side == "ours":
                rates[side].append(ours(overrides + args.overrides, state, args.warmup, scratch / name / f"ours{round_index}"))
            elif side == "plain":
                rates[side].append(bare.plain(args.steps))
            else:
                rates[side].append(steps_per_second(bare.run(args.steps), args.warmup))
        print(f"  {name} round {round_index + 1}: " + ", ".join(f"{side} {rates[side][-1]:.1f}" for side in SIDES) + " steps/s", flush=True)
    return rates


def spread(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


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
            rows.append((name, measure(name, argparse.Namespace(**{**vars(args), "steps": steps}), Path(scratch))))
    print(f"\n{torch.get_num_threads()} threads, {args.rounds} rounds (sides rotate), steps/s after {args.warmup} warm-up steps; median (range)")
    print("| workload | ours steps/s | plain LightningModule | bare loop | ours / bare | plain Lightning / bare | goal (ours / bare) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, rates in rows:
        ratios = {side: [value / bare for value, bare in zip(rates[side], rates["bare"])] for side in ("ours", "plain")}
        print(f"| {name} | {spread(rates['ours'], 1)} | {spread(rates['plain'], 1)} | {spread(rates['bare'], 1)}"
              f" | {spread(ratios['ours'], 3)} | {spread(ratios['plain'], 3)} | >= {WORKLOADS[name].target} |")


if __name__ == "__main__":
    main()
