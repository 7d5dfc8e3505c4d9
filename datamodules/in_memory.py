"""In-memory data modules: the data set lives on the host as tensors (uint8 images, int16
waveforms), batches are sliced from it by index, and conversion, normalisation and augmentation
run per batch on the training device (``on_after_batch_transfer``). Subclasses only say how to
read their files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.base import SplitDataModule
from datamodules.info import ImageInfo
from datamodules.transforms import BatchAugment, ImagePreprocess
from zoo.errors import SettingError


@dataclass
class ImageArrays:
    """A whole split: uint8 images ``(N, C, H, W)`` and int64 labels ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "ImageArrays":
        return ImageArrays(self.images[index], self.labels[index])

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: ``(images, labels)`` at ``index``."""
        return self.images[index], self.labels[index]


class SplitArrays(Protocol):
    """What ``TensorBatches`` and ``InMemoryDataModule`` need of a split held in memory."""

    def __len__(self) -> int: ...

    def subset(self, index: torch.Tensor) -> "SplitArrays": ...

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]: ...


class TensorBatches(Dataset):
    """A data set indexed by a whole batch of indices at once: one slice per step, no collate."""

    def __init__(self, arrays: SplitArrays) -> None:
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.arrays.take(index)


class ShardedBatchSampler:
    """Yields index tensors of whole batches; shuffles per epoch from ``seed + epoch``.

    Under data-parallel training each of ``world_size`` processes takes every ``world_size``-th
    index of the same permutation (wrapping around so all get equally many, like
    ``DistributedSampler``), so ``batch_size`` is per process as in Lightning.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        shuffle: bool,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.num_samples, self.batch_size = num_samples, batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard_size(self) -> int:
        return -(-self.num_samples // self.world_size)

    def __len__(self) -> int:
        size = self._shard_size()
        return size // self.batch_size if self.drop_last else -(-size // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        total = self._shard_size() * self.world_size
        if total > self.num_samples:
            order = torch.cat([order, order[: total - self.num_samples]])
        shard = order[self.rank :: self.world_size]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield shard[start : start + self.batch_size]


class InMemoryDataModule(SplitDataModule):
    """Base class: fixed seeded train/val split of the official train set, official test set,
    batches sliced by index from splits held in memory (any ``SplitArrays``).

    Args:
        batch_size: training batch size per process.
        eval_batch_size: batch size for validation and test (default: 4x ``batch_size``).
        val_size: validation samples held out of the train split (a count, or a fraction if < 1).
        split_seed: seed of the train/val split; fixed so every run sees the same split.
        seed: seed of the per-epoch shuffling.
        name: the data set's name as the configs spell it (``data.name``); checked against the module.
    """

    name: str = "in_memory"

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_size: float = 0.1,
        split_seed: int = 0,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if name is not None and name != self.name:
            raise ValueError(f"data.name is {name!r} but {type(self).__name__} reads {self.name!r}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or 4 * batch_size
        self.val_size, self.split_seed, self.seed = val_size, split_seed, seed
        self.splits: dict[str, Any] = {}

    # --- what subclasses provide -------------------------------------------------------------
    def load_arrays(self) -> tuple[SplitArrays, SplitArrays]:
        """Return the official (train, test) splits."""
        raise NotImplementedError

    # --- Lightning hooks ---------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Runs once per node before ``setup``: finds (or downloads) the files."""
        self.locate_files()

    def locate_files(self) -> Any:
        """Make sure the files are there; subclasses that read files override this."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train, test = self.load_arrays()
        n_val = int(round(self.val_size * len(train))) if self.val_size < 1 else int(self.val_size)
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(self.split_seed))
        self.splits = {"train": train.subset(order[n_val:]), "val": train.subset(order[:n_val]), "test": test}

    def raw_split(self, split: str = "test") -> Any:
        """The stored arrays of ``split`` (``train``, ``val`` or ``test``), before preprocessing."""
        self.setup()
        return self.splits[split]

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        self.setup()
        arrays = self.splits[split]
        trainer = self.trainer
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = ShardedBatchSampler(
            len(arrays), batch_size, shuffle, drop_last=False, seed=self.seed, rank=rank, world_size=world_size
        )
        return DataLoader(TensorBatches(arrays), sampler=sampler, batch_size=None)

    def transfer_batch_to_device(self, batch: tuple[torch.Tensor, ...], device: torch.device, dataloader_idx: int):
        # Lightning's generic version walks the batch as a nested collection on every step.
        return tuple(tensor.to(device, non_blocking=True) for tensor in batch)


class InMemoryImageDataModule(InMemoryDataModule):
    """Base class of image sets held as uint8 ``(N, C, H, W)`` tensors (``ImageArrays``).

    Args:
        batch_size, eval_batch_size, val_size, split_seed, seed, name: as in ``InMemoryDataModule``.
        image_size: side of the images the model gets (padded or resized); ``None`` keeps them.
        augment: ``none``, ``crop`` (pad 4, random crop), ``flip`` or ``crop_flip``.
        mean, std: per-channel normalisation of [0, 1] pixels instead of the data set's statistics
            (e.g. LeCun et al. 1998's scaling of MNIST: background -0.1, ink 1.175 is mean 0.0784, std 0.784).
    """

    name: str = "in_memory"
    class_names: list[str] = []
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    native_size: int = 28
    channels: int = 1
    resize: str = "pad"

    def __init__(
        self,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_size: float = 0.1,
        split_seed: int = 0,
        image_size: int | None = None,
        augment: str = "none",
        seed: int = 0,
        name: str | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, val_size, split_seed, seed, name)
        if augment not in ("none", "crop", "flip", "crop_flip"):
            raise ValueError(f"augment must be none, crop, flip or crop_flip, not {augment!r}")
        for key, values in (("mean", mean), ("std", std)):
            if values is not None:
                if len(values) != self.channels or (key == "std" and min(values) <= 0):
                    raise SettingError(f"data.{key} needs {self.channels} value(s){' above 0' if key == 'std' else ''}, got {list(values)}")
                setattr(self, key, tuple(float(v) for v in values))
        self.image_size = image_size or self.native_size
        self.preprocess = ImagePreprocess(self.mean, self.std, self.image_size, self.resize)
        self.augment = BatchAugment(crop_padding=4 if "crop" in augment else 0, hflip="flip" in augment)
        self.splits: dict[str, ImageArrays] = {}

    def load_arrays(self) -> tuple[ImageArrays, ImageArrays]:
        """Return the official (train, test) splits as uint8 ``(N, C, H, W)`` images."""
        raise NotImplementedError

    @property
    def info(self) -> ImageInfo:
        return ImageInfo(
            name=self.name,
            num_classes=len(self.class_names),
            class_names=list(self.class_names),
            mean=list(self.mean),
            std=list(self.std),
            channels=self.channels,
            image_size=self.image_size,
            resize=self.resize,
            raw_size=self.native_size,
        )

    def raw_split(self, split: str = "test") -> ImageArrays:
        """The uint8 images and labels of ``split`` (``train``, ``val`` or ``test``), before preprocessing."""
        return super().raw_split(split)

    def on_after_batch_transfer(self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int):
        images, labels = batch
        images = self.preprocess(images)
        if self.trainer is not None and self.trainer.training:
            images = self.augment(images)
        return images, labels
