"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009, "Learning multiple layers of features from tiny
images") from the official python-pickle batches, held in memory as uint8 ``(N, 3, 32, 32)``.

Training batches get the standard augmentation of He et al. 2015 (pad 4, random 32x32 crop,
horizontal flip), done per batch on the training device.
"""

from __future__ import annotations

import _codecs
import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from datamodules.files import FileDataModule
from datamodules.in_memory import ImageArrays
from datamodules.registry import register_data_module
from zoo.errors import DataFileError, first_line

try:  # numpy 2 (the pickles of numpy 1, like the official batches, name numpy.core, which numpy 2 keeps as a shim)
    from numpy._core import multiarray, numeric
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core import multiarray, numeric

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


REDOWNLOAD = "delete it and download it again"


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` as ``ndarray.__reduce__`` calls it: an empty array, filled by its state next."""
    if subtype is not np.ndarray or not isinstance(shape, tuple) or shape != (0,):
        raise pickle.UnpicklingError(f"_reconstruct{(subtype, shape)!r} is not how numpy pickles an array")
    return multiarray._reconstruct(np.ndarray, shape, dtype)


_ARRAY_GLOBALS = {"_reconstruct": _reconstruct, "scalar": multiarray.scalar, "_frombuffer": numeric._frombuffer}
SAFE_GLOBALS = {
    **{(f"numpy.{core}.{module}", name): value for core in ("core", "_core") for module in ("multiarray", "numeric")
       for name, value in _ARRAY_GLOBALS.items()},  # fmt: skip
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs.encode,  # bytes in a protocol-2 pickle written by Python 3
}


class HoldsCodeError(pickle.UnpicklingError):
    """A pickle that names a callable other than numpy's array reconstruction."""


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only: any other global (``os.system``...) is refused, not run."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_GLOBALS:
            raise HoldsCodeError(f"{module}.{name}")
        return SAFE_GLOBALS[(module, name)]


def check_pickle_sizes(data: bytes) -> None:
    """Walk the opcodes without running them: every counted string must fit in ``data`` and every memo
    index stay below the opcode count, so that unpickling never reserves more memory than the file holds."""
    for count, (opcode, argument, _) in enumerate(pickletools.genops(data)):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= argument <= count:
            raise ValueError(f"memo index {argument} at opcode {count}")
        if opcode.name == "FRAME" and argument > len(data):
            raise ValueError(f"a frame of {argument} bytes in {len(data)}")


def load_pickle(path: Path, what: str) -> Any:
    """A pickle of plain data and numpy arrays, or one line: code in it is refused and never run."""
    try:
        data = path.read_bytes()
        check_pickle_sizes(data)
        return ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except HoldsCodeError as error:
        raise DataFileError(
            f"{path} holds code ({error}), not only a {what}'s arrays: it was refused and not run; delete it and"
            " download the official files again"
        ) from None
    except Exception as error:  # the unpickler and numpy raise many kinds for corrupt data
        reason = f"{type(error).__name__}: {first_line(error)}"
        raise DataFileError(f"{path} is not a readable {what} ({reason}); {REDOWNLOAD}") from None


def read_cifar_batch(path: Path, label_key: str, num_classes: int = 100) -> ImageArrays:
    """One pickled batch: ``data`` is N x 3072 uint8 (R, G, B planes of 32x32), labels a list of class indices."""
    batch = load_pickle(path, "CIFAR batch")
    data = batch.get("data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shown = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFileError(f"{path} is not a readable CIFAR batch (its data is {shown}, not N x 3072 uint8); {REDOWNLOAD}")
    labels = batch.get(label_key)
    try:
        labels = np.asarray(labels) if isinstance(labels, (list, np.ndarray)) else None
    except (TypeError, ValueError, OverflowError):  # ragged or odd lists
        labels = None
    if labels is None or labels.dtype.kind not in "iu" or labels.ndim != 1 or len(labels) != len(data):
        raise DataFileError(
            f"{path} is not a readable CIFAR batch (no list of {len(data)} integer {label_key}); {REDOWNLOAD}"
        )
    if len(labels) and not 0 <= labels.min() <= labels.max() < num_classes:
        raise DataFileError(
            f"{path} holds {label_key} outside 0-{num_classes - 1} (from {labels.min()} to {labels.max()}): {REDOWNLOAD}"
        )
    return ImageArrays(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels.astype(np.int64)))


@register_data_module("cifar10")
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
        meta = load_pickle(files[self.meta_file], "CIFAR meta file")
        names = meta.get(self.meta_key) if isinstance(meta, dict) else None
        if not isinstance(names, list) or names != self.class_names:
            raise DataFileError(f"{files[self.meta_file]} names other classes than {self.name}'s: is it the right data set?")
        classes = len(self.class_names)
        parts = [read_cifar_batch(files[name], self.label_key, classes) for name in self.train_files]
        train = ImageArrays(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))
        return train, read_cifar_batch(files[self.test_file], self.label_key, classes)


@register_data_module("cifar100")
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
