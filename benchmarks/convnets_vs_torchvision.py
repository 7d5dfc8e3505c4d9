"""Speed of our ConvNets against torchvision's implementation of the same architecture, in one
process: training steps (forward, backward, SGD step) and inference, in images/s, at CIFAR
(32x32) and ImageNet (224x224) resolution. Each pair is timed in alternating rounds so that
drift of the machine affects both alike, and the fastest round of each counts: the two run the
same kernels, so slower rounds measure interference from the rest of the machine, not the code.

    python benchmarks/convnets_vs_torchvision.py                         # every architecture
    python benchmarks/convnets_vs_torchvision.py --models resnet18 vgg11 --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402

ARCHITECTURES = ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
                 "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]  # fmt: skip
RESOLUTIONS = {"cifar": (32, 32), "imagenet": (224, 8)}  # image side, batch size


def time_once(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
              train: bool) -> float:  # fmt: skip
    model.train(train)
    start = time.perf_counter()
    if train:
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    else:
        with torch.inference_mode():
            model(images)
    return time.perf_counter() - start


def compare(name: str, side: int, batch: int, rounds: int) -> dict[str, float]:
    torch.manual_seed(0)
    ours = zoo.create_model(name, num_classes=1000)
    theirs = torchvision.models.get_model(name)
    theirs.load_state_dict(ours.state_dict())
    images, labels = torch.randn(batch, 3, side, side), torch.randint(0, 1000, (batch,))
    optimizers = {id(model): torch.optim.SGD(model.parameters(), lr=1e-3) for model in (ours, theirs)}
    result = {}
    for mode, train in (("train", True), ("infer", False)):
        times = {"ours": [], "torchvision": []}
        for model in (ours, theirs):  # warm-up: allocator, oneDNN primitives
            time_once(model, optimizers[id(model)], images, labels, train)
        for round_index in range(rounds):  # who goes first alternates, so order effects cancel
            pair = [("ours", ours), ("torchvision", theirs)]
            for who, model in pair if round_index % 2 == 0 else pair[::-1]:
                times[who].append(time_once(model, optimizers[id(model)], images, labels, train))
        for who, values in times.items():
            result[f"{mode}_{who}"] = batch / min(values)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=ARCHITECTURES, choices=ARCHITECTURES)
    parser.add_argument("--resolutions", nargs="+", default=list(RESOLUTIONS), choices=list(RESOLUTIONS))
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} threads,"
          f" fastest of {args.rounds} alternating rounds\n")  # fmt: skip
    print("| model | resolution | batch | train img/s ours | torchvision | ratio | infer img/s ours | torchvision | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    worst = float("inf")
    for name in args.models:
        for resolution in args.resolutions:
            side, batch = RESOLUTIONS[resolution]
            if name == "alexnet" and side < 63:
                continue  # AlexNet's stride-4 stem needs 63x63 or more
            r = compare(name, side, batch, args.rounds)
            train_ratio, infer_ratio = r["train_ours"] / r["train_torchvision"], r["infer_ours"] / r["infer_torchvision"]
            worst = min(worst, train_ratio, infer_ratio)
            print(f"| {name} | {side}x{side} | {batch} | {r['train_ours']:,.1f} | {r['train_torchvision']:,.1f} |"
                  f" {train_ratio:.3f} | {r['infer_ours']:,.1f} | {r['infer_torchvision']:,.1f} | {infer_ratio:.3f} |",
                  flush=True)  # fmt: skip
    print(f"\nslowest ratio (ours / torchvision): {worst:.3f}")


if __name__ == "__main__":
    main()
