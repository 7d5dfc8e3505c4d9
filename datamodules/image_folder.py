"""Folders of images in torchvision's ``ImageFolder`` layout (``<root>/train/<class>/*.jpg``,
``<root>/val/<class>/*.jpg``), ImageNet (Russakovsky et al. 2015) among them.

Too large for memory, these are decoded and transformed per sample in worker processes with
the standard pipelines of the torchvision reference recipes: ``RandomResizedCrop`` + flip for
training, ``Resize`` + ``CenterCrop`` for evaluation. The validation folder doubles as the
test split unless a ``test`` folder exists (ImageNet's test labels are not public).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import datasets
from torchvision.models._meta import _IMAGENET_CATEGORIES
from torchvision.transforms import v2

from datamodules.base import SplitDataModule
from datamodules.files import default_root
from datamodules.info import ImageInfo
from datamodules.registry import register_data_module
from zoo.errors import DataFileError, DatasetNotFoundError, first_line

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def load_image(path: str) -> Image.Image:
    """``ImageFolder``'s loader: the image at ``path`` in RGB, or a one-line ``DataFileError`` naming it (also
    when raised in a DataLoader worker). Images of more than ``Image.MAX_IMAGE_PIXELS`` (89 million) pixels are
    refused before they are decoded: in a corrupt header they would reserve gigabytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(path, "rb") as handle:
                return Image.open(handle).convert("RGB")
    except Exception as error:  # Pillow's decoders raise many kinds (OSError, SyntaxError, ValueError...) for bad data
        reason = "no image format Pillow reads" if isinstance(error, UnidentifiedImageError) else first_line(error)
        raise DataFileError(f"{path} is not a readable image ({type(error).__name__}: {reason}): delete or replace it") from None


@register_data_module("image_folder")
class ImageFolderDataModule(SplitDataModule):
    """Any ``ImageFolder`` tree with ``train/`` and ``val/`` (and optionally ``test/``) folders.

    Args:
        root: the folder holding ``train/`` and ``val/``.
        image_size: training crop and evaluation centre crop (224 for ImageNet).
        resize_size: evaluation resize of the shorter side before the centre crop (256).
        batch_size: per process; ``num_workers`` decoding processes per loader.
    """

    name = "image_folder"

    def __init__(
        self,
        root: str | Path | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 4,
        image_size: int = 224,
        resize_size: int = 256,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root) if root else default_root()
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.num_workers, self.seed = num_workers, seed
        self.image_size, self.resize_size = image_size, resize_size
        self.mean, self.std = tuple(mean), tuple(std)
        if name is not None:
            self.name = name
        self.datasets: dict[str, datasets.ImageFolder] = {}

    def split_folder(self, split: str) -> Path:
        folder = self.root / split
        if split == "test" and not folder.is_dir():
            folder = self.root / "val"
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"no {split}/ folder under {self.root}: {self.name} needs {self.root}/train/<class>/<image> and"
                f" {self.root}/val/<class>/<image>; set data.root to the folder that holds them"
            )
        return folder

    def folder_names(self) -> list[str]:
        """The class folders of ``train/``, sorted as ``ImageFolder`` numbers them."""
        return sorted(entry.name for entry in self.split_folder("train").iterdir() if entry.is_dir())

    @property
    def class_names(self) -> list[str]:
        return self.folder_names()

    @property
    def info(self) -> ImageInfo:
        names = self.class_names
        return ImageInfo(
            name=self.name,
            num_classes=len(names),
            class_names=names,
            mean=list(self.mean),
            std=list(self.std),
            channels=3,
            image_size=self.image_size,
            resize="resize",
            resize_size=self.resize_size,
            raw_size=None,  # images of many sizes
        )

    def transform(self, train: bool) -> v2.Compose:
        if train:
            geometry = [v2.RandomResizedCrop(self.image_size, antialias=True), v2.RandomHorizontalFlip()]
        else:
            geometry = [v2.Resize(self.resize_size, antialias=True), v2.CenterCrop(self.image_size)]
        tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)]
        return v2.Compose([v2.RGB(), *geometry, *tensor])

    def prepare_data(self) -> None:
        self.split_folder("train"), self.split_folder("val")

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val", "test"):
            if split not in self.datasets:
                dataset = datasets.ImageFolder(str(self.split_folder(split)), transform=self.transform(split == "train"),
                                               loader=load_image)  # fmt: skip
                if dataset.classes != self.folder_names():
                    raise ValueError(f"{self.split_folder(split)} has other class folders than {self.root}/train")
                self.datasets[split] = dataset

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        self.setup()
        dataset = self.datasets[split]
        trainer = self.trainer
        sampler = None
        if trainer is not None and trainer.world_size > 1:  # configs turn Lightning's own sampler injection off
            sampler = DistributedSampler(dataset, trainer.world_size, trainer.global_rank, shuffle=shuffle, seed=self.seed)
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
            num_workers=self.num_workers, pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0, drop_last=shuffle,
        )  # fmt: skip


@register_data_module("imagenet")
class ImageNetDataModule(ImageFolderDataModule):
    """ImageNet-1k (ILSVRC 2012) in the ``train/<wnid>/``, ``val/<wnid>/`` layout that torchvision's
    reference scripts use; classes are named by torchvision's English category names."""

    name = "imagenet"

    @property
    def class_names(self) -> list[str]:
        folders = self.folder_names()
        return list(_IMAGENET_CATEGORIES) if len(folders) == len(_IMAGENET_CATEGORIES) else folders
