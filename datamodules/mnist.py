"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the official
IDX files, gzipped or not.

Files are looked for under the data root in torchvision's layout (``<root>/MNIST/raw``) and a
few common ones, read where they lie (nothing is written beside them), and downloaded with
torchvision's own code into ``<root>`` only when they are missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
import torchvision

from datamodules.idx import read_idx
from datamodules.in_memory import ImageArrays, InMemoryImageDataModule
from zoo.errors import DatasetNotFoundError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def default_root() -> Path:
    """``$ZOO_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get("ZOO_DATA_DIR") or "data")


def find_idx_files(folders: Sequence[Path]) -> dict[str, Path] | None:
    """The first folder holding all four files (plain or ``.gz``), as a name -> path map."""
    for folder in folders:
        found = {}
        for key, stem in FILES.items():
            candidates = [folder / stem, folder / f"{stem}.gz"]
            existing = [path for path in candidates if path.is_file()]
            if existing:
                found[key] = existing[0]
        if len(found) == len(FILES):
            return found
    return None


class MNISTDataModule(InMemoryImageDataModule):
    """MNIST: 60,000 train (55,000 train + 5,000 val here) and 10,000 test 28x28 digits."""

    name = "mnist"
    folder = "MNIST"
    extra_folders: tuple[str, ...] = ()
    torchvision_class = torchvision.datasets.MNIST
    class_names = [str(digit) for digit in range(10)]
    mean, std = (0.1307,), (0.3081,)
    native_size = 28

    def __init__(self, root: str | Path | None = None, download: bool = True, val_size: float = 5000, **kwargs) -> None:
        super().__init__(val_size=val_size, **kwargs)
        self.root = Path(root) if root else default_root()
        self.download = download

    def candidate_folders(self) -> list[Path]:
        base = [self.root / self.folder / "raw", self.root / self.folder, self.root]
        return base + [Path(folder) for folder in self.extra_folders]

    def locate_files(self) -> dict[str, Path]:
        folders = self.candidate_folders()
        files = find_idx_files(folders)
        if files is None and self.download:
            self._download()
            files = find_idx_files(folders)
        if files is None:
            looked = ", ".join(str(folder) for folder in folders[:2])
            raise DatasetNotFoundError(
                f"{self.folder} files ({', '.join(FILES.values())}, .gz or not) not found in {looked}"
                f"{' and download is off' if not self.download else ''}: put them in {folders[0]},"
                f" or point data.root (or $ZOO_DATA_DIR) at a folder holding {self.folder}/raw/"
            )
        return files

    def _download(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for train in (True, False):
                self.torchvision_class(root=str(self.root), train=train, download=True)
        except Exception as error:  # offline, a proxy, a read-only root: all end the same way
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DatasetNotFoundError(
                f"{self.folder} is not in {self.root / self.folder / 'raw'} and could not be downloaded"
                f" ({reason}): copy the four IDX files there, or set data.root (or $ZOO_DATA_DIR) to a"
                f" folder holding {self.folder}/raw/"
            ) from None

    def load_arrays(self) -> tuple[ImageArrays, ImageArrays]:
        files = self.locate_files()
        splits = []
        for split in ("train", "test"):
            images = read_idx(files[f"{split}_images"]).unsqueeze(1)
            labels = read_idx(files[f"{split}_labels"]).long()
            if images.dtype != torch.uint8 or images.shape[0] != labels.shape[0]:
                raise ValueError(f"{files[f'{split}_images']} and its labels do not match: re-download them")
            splits.append(ImageArrays(images, labels))
        return splits[0], splits[1]


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: MNIST's format and sizes with 10 classes of clothing."""

    name = "fashion_mnist"
    folder = "FashionMNIST"
    extra_folders = ("/usr/share/datasets/fashion-mnist",)  # Debian's dataset-fashion-mnist
    torchvision_class = torchvision.datasets.FashionMNIST
    class_names = list(torchvision.datasets.FashionMNIST.classes)
    mean, std = (0.2860,), (0.3530,)
