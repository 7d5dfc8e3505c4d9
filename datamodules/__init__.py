"""Data modules: each knows one data set's files and splits, and nothing about models."""

from datamodules.digits import DigitsDataModule
from datamodules.in_memory import DataInfo, ImageArrays, InMemoryImageDataModule
from datamodules.mnist import FashionMNISTDataModule, MNISTDataModule

__all__ = [
    "DataInfo",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageArrays",
    "InMemoryImageDataModule",
    "MNISTDataModule",
]
