"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the official
IDX files, gzipped or not.

Files are looked for under the data root in torchvision's layout (``<root>/MNIST/raw``) and a
few common ones (see ``datamodules.files``).
"""

from __future__ import annotations

import torch
import torchvision

from datamodules.files import FileDataModule
from datamodules.idx import read_idx
from datamodules.in_memory import ImageArrays

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class MNISTDataModule(FileDataModule):
    """MNIST: 60,000 train (55,000 train + 5,000 val here) and 10,000 test 28x28 digits."""

    name = "mnist"
    folder = "MNIST"
    files = tuple(FILES.values())
    compressed_suffixes = (".gz",)
    torchvision_class = torchvision.datasets.MNIST
    class_names = [str(digit) for digit in range(10)]
    mean, std = (0.1307,), (0.3081,)
    native_size = 28

    def __init__(self, val_size: float = 5000, **kwargs) -> None:
        super().__init__(val_size=val_size, **kwargs)

    def load_arrays(self) -> tuple[ImageArrays, ImageArrays]:
        files = self.locate_files()
        splits = []
        for split in ("train", "test"):
            image_file, label_file = files[FILES[f"{split}_images"]], files[FILES[f"{split}_labels"]]
            images = read_idx(image_file).unsqueeze(1)
            labels = read_idx(label_file).long()
            if images.dtype != torch.uint8 or images.shape[0] != labels.shape[0]:
                raise ValueError(f"{image_file} and {label_file} do not match: re-download them")
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
