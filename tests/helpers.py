"""Test-only callbacks and file makers (importable from subprocesses as ``tests.helpers``)."""

from __future__ import annotations

import gzip
import os
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
