"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from the official
IDX files, gzipped or not.

Files are looked for under the data root in torchvision's layout (``<root>/MNIST/raw``) and a
few common ones (see ``datamodules.files``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from datamodules.files import FileDataModule
from datamodules.idx import read_idx
from datamodules.in_memory import ImageArrays
from datamodules.registry import register_data_module
from zoo.errors import DataFileError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@register_data_module("mnist")
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
            images, labels = read_idx(image_file), read_idx(label_file)
            self.check_arrays(images, labels, image_file, label_file)
            splits.append(ImageArrays(images.unsqueeze(1), labels.long()))
        return splits[0], splits[1]

    def check_arrays(self, images: torch.Tensor, labels: torch.Tensor, image_file: Path, label_file: Path) -> None:
        """Images ``(N, 28, 28)`` uint8 and as many uint8 labels, each a class index, or one line naming the file."""
        size, classes = self.native_size, len(self.class_names)
        if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (size, size) or not len(images):
            raise DataFileError(
                f"{image_file} holds {images.dtype} images of shape {tuple(images.shape)}, not {self.name}'s"
                f" (N, {size}, {size}) uint8: is it the right file? Delete it and download it again"
            )
        if labels.dtype != torch.uint8 or labels.ndim != 1 or len(labels) != len(images):
            raise DataFileError(
                f"{label_file} holds {labels.dtype} labels of shape {tuple(labels.shape)} for the {len(images)} images"
                f" of {image_file.name}: the files do not match; delete them and download them again"
            )
        if len(labels) and int(labels.max()) >= classes:
            raise DataFileError(
                f"{label_file} holds label {int(labels.max())}, outside the {classes} classes (0-{classes - 1}) of"
                f" {self.name}: the file is corrupt; delete it and download it again"
            )


@register_data_module("fashion_mnist")
class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: MNIST's format and sizes with 10 classes of clothing."""

    name = "fashion_mnist"
    folder = "FashionMNIST"
    extra_folders = ("/usr/share/datasets/fashion-mnist",)  # Debian's dataset-fashion-mnist
    torchvision_class = torchvision.datasets.FashionMNIST
    class_names = list(torchvision.datasets.FashionMNIST.classes)
    mean, std = (0.2860,), (0.3530,)
