"""Training throughput of LeNet-5 on real Fashion-MNIST: our train.py stack against a plain
pytorch/examples-style loop (torchvision ``FashionMNIST`` + ``ToTensor``/``Normalize`` per
sample + ``DataLoader``), same model, Adam 1e-3, batch 64, measured in one run.

    python benchmarks/lenet5_fashion_mnist.py --epochs 2      # ZOO_DATA_DIR must hold FashionMNIST/raw

Prints samples/s (training steps only: data, forward, backward, optimiser, logging), the
ratio, and the test accuracy each loop reaches in the same number of epochs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo.config import compose_config  # noqa: E402
from zoo.training import train  # noqa: E402
from benchmarks.throughput import TrainThroughput  # noqa: E402


def ours(data_dir: Path, epochs: int, log_dir: Path) -> tuple[float, float]:
    meter = TrainThroughput()
    cfg = compose_config(
        "train",
        ["experiment=lenet5_fashion_mnist", "scheduler=none", f"trainer.max_epochs={epochs}", f"data.root={data_dir}",
         "data.download=false"],  # fmt: skip
        log_dir / "ours",
    )
    metrics = train(cfg, extra_callbacks=[meter])
    return meter.rate, metrics["test/acc"]


def plain(data_dir: Path, epochs: int, work_dir: Path) -> tuple[float, float]:
    """The tutorial loop. torchvision wants the decompressed files in a writable root, so the
    read-only .gz files are linked into a scratch folder and extracted there (no network)."""
    raw = work_dir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for path in (data_dir / "FashionMNIST" / "raw").glob("*.gz"):
        (raw / path.name).symlink_to(path.resolve())
    transform = transforms.Compose([transforms.Pad(2), transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    train_set = torchvision.datasets.FashionMNIST(str(work_dir), train=True, download=True, transform=transform)
    test_set = torchvision.datasets.FashionMNIST(str(work_dir), train=False, download=True, transform=transform)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True, num_workers=1)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000, num_workers=1)
    torch.manual_seed(42)
    model = zoo.create_model("lenet5", num_classes=10, in_channels=1, input_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds, samples = 0.0, 0
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            samples += len(labels)
        seconds += time.perf_counter() - start
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in test_loader:
            correct += (model(images).argmax(1) == labels).sum().item()
    return samples / seconds, correct / len(test_set)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ZOO_DATA_DIR", ROOT.parent / "shared" / "datasets")))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if not (args.data_dir / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file():
        raise SystemExit(f"error: no FashionMNIST/raw/*.gz under {args.data_dir}; pass --data-dir or set ZOO_DATA_DIR")
    with tempfile.TemporaryDirectory() as scratch:
        baseline = plain(args.data_dir, args.epochs, Path(scratch) / "plain")
        ours_result = ours(args.data_dir, args.epochs, Path(scratch))
    rows = [("plain loop (torchvision dataset + ToTensor/Normalize + DataLoader, 1 worker)", *baseline),
            ("zoo train.py stack (in-memory uint8, batch transforms, channels_last)", *ours_result)]  # fmt: skip
    print(f"\nLeNet-5 (modern), Fashion-MNIST, Adam 1e-3, batch 64, {args.epochs} epochs, torch threads {torch.get_num_threads()}")
    print(f"| loop | train samples/s | test acc |\n|---|---:|---:|")
    for name, speed, accuracy in rows:
        print(f"| {name} | {speed:,.0f} | {accuracy:.4f} |")
    print(f"\nratio (zoo / plain): {ours_result[0] / baseline[0]:.2f}x")


if __name__ == "__main__":
    main()
