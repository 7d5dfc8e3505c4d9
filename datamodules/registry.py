"""Data-module classes by name: a data config (and a checkpoint's record of it) says ``module: mnist``,
never a class path, so rebuilding a run's data from a file can only reach the classes listed here."""

from __future__ import annotations

import lightning as L

from datamodules.cifar import CIFAR10DataModule, CIFAR100DataModule
from datamodules.digits import DigitsDataModule
from datamodules.fsdd import FSDDDataModule
from datamodules.image_folder import ImageFolderDataModule, ImageNetDataModule
from datamodules.mnist import FashionMNISTDataModule, MNISTDataModule
from datamodules.text import TextDataModule
from datamodules.word_corpus import WordCorpusDataModule

DATA_MODULES: dict[str, type[L.LightningDataModule]] = {
    "digits": DigitsDataModule,
    "mnist": MNISTDataModule,
    "fashion_mnist": FashionMNISTDataModule,
    "cifar10": CIFAR10DataModule,
    "cifar100": CIFAR100DataModule,
    "imagenet": ImageNetDataModule,
    "image_folder": ImageFolderDataModule,
    "fsdd": FSDDDataModule,
    "text": TextDataModule,
    "word_corpus": WordCorpusDataModule,
}


def data_module_names() -> list[str]:
    return sorted(DATA_MODULES)
