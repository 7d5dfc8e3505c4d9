"""Training step time of the paper's LeNet-5 (``lenet5_classic``: tanh, trainable subsampling, partial
C3, RBF outputs) against today's (``lenet5``: ReLU, max-pooling, linear head), same batch, same
optimiser (SGD with momentum), on this machine; the two sides alternate in one process.

    python benchmarks/lenet5_step_time.py --batch-size 32 --rounds 7

Prints each side's median step time (forward, loss, backward, step) with its spread over the rounds,
and the ratio classic / modern. Both run in the memory format the classification task uses
(channels_last for convolutional models).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zoo  # noqa: E402


def make_side(name: str, batch_size: int, channels_last: bool) -> tuple:
    torch.manual_seed(0)
    model = zoo.create_model(name, num_classes=10, in_channels=1, input_size=32)
    images, labels = torch.randn(batch_size, 1, 32, 32), torch.randint(0, 10, (batch_size,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    return model, images, labels, optimizer


def step_ms(side: tuple, steps: int) -> float:
    model, images, labels, optimizer = side
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sides = {name: make_side(name, args.batch_size, channels_last=True) for name in ("lenet5", "lenet5_classic")}
    for side in sides.values():
        step_ms(side, 10)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_index in range(args.rounds):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for name in order:
            times[name].append(step_ms(sides[name], args.steps))
    print(f"batch {args.batch_size}, {args.threads} threads, {args.rounds} rounds of {args.steps} steps (sides alternate)")
    print("| model | ms/step (median) | min-max |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} |")
    ratio = statistics.median(times["lenet5_classic"]) / statistics.median(times["lenet5"])
    print(f"ratio (classic / modern): {ratio:.2f}x")


if __name__ == "__main__":
    main()
