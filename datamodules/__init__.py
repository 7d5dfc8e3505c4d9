"""Data modules: each knows one data set's files and splits, and nothing about models."""

from datamodules.cifar import CIFAR10DataModule, CIFAR100DataModule
from datamodules.digits import DigitsDataModule
from datamodules.fsdd import FSDDDataModule
from datamodules.image_folder import ImageFolderDataModule, ImageNetDataModule
from datamodules.in_memory import ImageArrays, InMemoryImageDataModule
from datamodules.info import AudioInfo, DataInfo, ImageInfo, TextInfo, WordCorpusInfo, info_from_dict
from datamodules.mnist import FashionMNISTDataModule, MNISTDataModule
from datamodules.text import TextDataModule
from datamodules.vocabulary import Vocabulary
from datamodules.word_corpus import WordCorpusDataModule

__all__ = [
    "AudioInfo",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DataInfo",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "FSDDDataModule",
    "ImageFolderDataModule",
    "ImageInfo",
    "ImageNetDataModule",
    "ImageArrays",
    "InMemoryImageDataModule",
    "MNISTDataModule",
    "TextDataModule",
    "TextInfo",
    "Vocabulary",
    "WordCorpusDataModule",
    "WordCorpusInfo",
    "info_from_dict",
]
