"""Test-only callbacks and file makers (importable from subprocesses as ``tests.helpers``)."""

from __future__ import annotations

import gzip
import os
import pickle
import signal
import struct
from pathlib import Path

import lightning as L
import numpy as np
import torch


class KillAtStep(L.Callback):
    """SIGKILLs the training process after optimiser step ``step``: a run killed mid-epoch."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class PoisonWeightsAtStep(L.Callback):
    """Fills the weights with NaN after optimiser step ``step``, so the next loss is NaN."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.fill_(float("nan"))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format of the MNIST files."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def synthetic_digits(count: int, seed: int, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 images: class k is a bright bar at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = rng.integers(0, 40, (count, size, size))
    for index, label in enumerate(labels):
        row = 2 + 2 * int(label)
        images[index, row : row + 3, 4:24] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_mnist_files(folder: Path, train: int = 600, test: int = 200, gz: bool = True) -> Path:
    """Write the four MNIST IDX files (gzipped or not) with ``synthetic_digits`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": synthetic_digits(train, 0), "t10k": synthetic_digits(test, 1)}
    for split, (images, labels) in splits.items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte"
            data = idx_bytes(array)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def write_cifar_files(root: Path, per_batch: int = 40, test: int = 60, hundred: bool = False) -> Path:
    """Write CIFAR-10 (or -100) batches in the official pickle format under ``root``."""
    from datamodules.cifar import CIFAR10_CLASSES, CIFAR100_CLASSES

    rng = np.random.default_rng(0)
    classes = CIFAR100_CLASSES if hundred else CIFAR10_CLASSES
    label_key = "fine_labels" if hundred else "labels"

    def batch(count: int) -> dict:
        labels = rng.integers(0, len(classes), count)
        data = rng.integers(0, 256, (count, 3072)).astype(np.uint8)
        data[:, 0] = labels  # the first red pixel holds the label, so tests can check the pairing
        return {"batch_label": b"synthetic", "data": data, label_key: labels.tolist()}

    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True, exist_ok=True)
    if hundred:
        files = {"train": batch(5 * per_batch), "test": batch(test),
                 "meta": {"fine_label_names": classes, "coarse_label_names": [f"c{i}" for i in range(20)]}}  # fmt: skip
    else:
        files = {f"data_batch_{i}": batch(per_batch) for i in range(1, 6)}
        files |= {"test_batch": batch(test), "batches.meta": {"label_names": classes, "num_vis": 3072}}
    for name, content in files.items():
        with open(folder / name, "wb") as handle:
            pickle.dump(content, handle)
    return folder


class SigtermAtStep(L.Callback):
    """Sends SIGTERM to the training process after optimiser step ``step`` (a cluster's time limit)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


class RecordLearningRates(L.Callback):
    """Keeps the optimiser's learning rate at every training batch (``rates``)."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])
