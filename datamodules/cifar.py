"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning multiple layers of features from tiny
images") from the official python-pickle batches, held in memory as uint8 ``(N, 3, 32, 32)``.

Training batches get the standard augmentation of He et al. 2015 (pad 4, random 32x32 crop,
horizontal flip), done per batch on the training device.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torchvision

from datamodules.files import FileDataModule
from datamodules.in_memory import ImageArrays

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel can"
    " castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur dolphin"
    " elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster"
    " man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck"
    " pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk"
    " skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger"
    " tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


def read_cifar_batch(path: Path, label_key: str) -> ImageArrays:
    """One pickled batch: ``data`` is N x 3072 uint8 (R, G, B planes of 32x32), labels a list."""
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path} is not a readable CIFAR batch ({error!r}); delete it and download it again") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{path} holds data of shape {data.shape} for {len(labels)} labels: delete it and download it again")
    return ImageArrays(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels))


class CIFAR10DataModule(FileDataModule):
    """CIFAR-10: 50,000 train (45,000 train + 5,000 val here) and 10,000 test 32x32 colour images."""

    name = "cifar10"
    folder = "cifar-10-batches-py"
    files = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")
    train_files: tuple[str, ...] = files[:5]
    test_file = "test_batch"
    meta_file, meta_key, label_key = "batches.meta", "label_names", "labels"
    torchvision_class = torchvision.datasets.CIFAR10
    class_names = CIFAR10_CLASSES
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    native_size = 32
    channels = 3
    resize = "resize"  # for models of another input size (e.g. ImageNet networks in transfer learning)

    def __init__(self, val_size: float = 5000, augment: str = "crop_flip", **kwargs) -> None:
        super().__init__(val_size=val_size, augment=augment, **kwargs)

    def candidate_folders(self) -> list[Path]:
        return [self.root / self.folder, self.root]

    def load_arrays(self) -> tuple[ImageArrays, ImageArrays]:
        files = self.locate_files()
        with open(files[self.meta_file], "rb") as handle:
            names = pickle.load(handle, encoding="latin1")[self.meta_key]
        if list(names) != self.class_names:
            raise ValueError(f"{files[self.meta_file]} names other classes than {self.name}'s: is it the right data set?")
        parts = [read_cifar_batch(files[name], self.label_key) for name in self.train_files]
        train = ImageArrays(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
        return train, read_cifar_batch(files[self.test_file], self.label_key)


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: the same images' format with 100 fine classes (500 train images each)."""

    name = "cifar100"
    folder = "cifar-100-python"
    files = ("train", "test", "meta")
    train_files = ("train",)
    test_file = "test"
    meta_file, meta_key, label_key = "meta", "fine_label_names", "fine_labels"
    torchvision_class = torchvision.datasets.CIFAR100
    class_names = CIFAR100_CLASSES
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
