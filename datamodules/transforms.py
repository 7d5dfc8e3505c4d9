"""Batch transforms that run on the training device, on whole uint8 batches.

Small data sets stay in memory as uint8 tensors; a batch is converted to float, resized or
padded, normalised and (in training) augmented after it reaches the device, instead of per
sample through PIL. The same ``ImagePreprocess`` travels with a checkpoint, so
``zoo.load(...).predict`` takes raw images, checked first by ``as_image_batch`` (integers are
pixel values 0-255, floats values in [0, 1]) and ``ImagePreprocess.check_input_size``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from datamodules.info import ImageInfo
from zoo.errors import InputError


def tv_functional() -> ModuleType:
    """``torchvision.transforms.v2.functional``, imported on first use: importing torchvision costs about
    a second (its ``ops`` pull in torch's compiler stack), which ``zoo.load`` should not pay up front."""
    import torchvision.transforms.v2.functional as TF

    return TF

IMAGE_SHAPES = "(H, W), (H, W, C), (N, H, W), (N, C, H, W) or (N, H, W, C)"
CHANNEL_COUNTS = (1, 3, 4)  # grey, RGB, RGBA: how a last or second dimension is recognised as channels


def _as_tensor(images: object) -> torch.Tensor:
    """A tensor from a tensor, a numpy array, a PIL image or a (nested) list of them, with numpy's dtype rules."""
    if isinstance(images, torch.Tensor):
        return images.detach()
    if isinstance(images, (list, tuple)) and images and all(isinstance(item, torch.Tensor) for item in images):
        shapes = {tuple(item.shape) for item in images}
        if len(shapes) > 1:
            raise InputError(
                f"the listed images have {len(shapes)} different shapes: resize them to one size,"
                " or predict them one at a time"
            )
        return torch.stack([item.detach().cpu() for item in images])
    try:
        array = np.asarray(images)
    except (ValueError, TypeError):  # numpy's "inhomogeneous shape" for lists of differently sized images
        raise InputError(
            "the listed images have different shapes: resize them to one size, or predict them one at a time"
        ) from None
    if array.dtype.kind not in "uif":
        raise InputError(
            f"images of dtype {array.dtype} are not taken: give uint8 (or other integer) pixel values 0-255,"
            " or floats in [0, 1]"
        )
    if array.dtype.kind == "u" and array.dtype.itemsize > 1:  # uint16/32/64: torch has few operations for them
        array = array.astype(np.int64)
    if not array.flags.writeable:  # np.asarray(PIL image) is read-only, which torch.from_numpy warns about
        array = array.copy()
    return torch.from_numpy(array)


def _checked_values(batch: torch.Tensor) -> torch.Tensor:
    """uint8 for integer images (pixel values 0-255), float32 for float ones (values in [0, 1]); one line otherwise."""
    if batch.dtype == torch.bool or batch.is_complex():
        raise InputError(
            f"images of dtype {str(batch.dtype).removeprefix('torch.')} are not taken: give uint8 (or other"
            " integer) pixel values 0-255, or floats in [0, 1]"
        )
    if batch.dtype == torch.uint8:
        return batch
    if not batch.is_floating_point():
        batch = batch.long()
        low, high = int(batch.min()), int(batch.max())
        if low < 0 or high > 255:
            raise InputError(
                f"integer images must hold pixel values 0-255, got values from {low} to {high}:"
                " rescale them to 0-255 (16-bit images: // 257)"
            )
        return batch.to(torch.uint8)
    batch = batch.float() if batch.dtype != torch.float64 else batch
    finite = torch.isfinite(batch)
    if not bool(finite.all()):
        raise InputError(
            f"images hold {int((~finite).sum())} NaN or infinite values: replace them (e.g. torch.nan_to_num)"
            " before passing them"
        )
    low, high = float(batch.min()), float(batch.max())
    if low < 0 or high > 1:
        if low >= -0.05 and high <= 1.05:
            hint = "clamp them to [0, 1] (torch.clamp(images, 0, 1))"
        elif low < 0:
            hint = "pass the raw images, not normalised ones: the model normalises them itself"
        else:
            hint = "pass 0-255 pixel values as uint8, or divide them by 255"
        raise InputError(
            f"float images must hold values in [0, 1] (torchvision's convention), got values from {low:.4g}"
            f" to {high:.4g}: {hint}"
        )
    return batch.float()


def as_image_batch(images: object, channels: int) -> torch.Tensor:
    """A user's raw images as one checked ``(N, channels, H, W)`` tensor, or an ``InputError`` in one line.

    Shapes: one image ``(H, W)`` or channels-last ``(H, W, C)`` (C of 1, 3 or 4, as ``np.asarray``
    of a PIL image gives), a batch ``(N, H, W)`` of grey images, ``(N, C, H, W)`` or ``(N, H, W, C)``.
    For a colour model, ``(3, H, W)`` is refused as ambiguous (one colour image, or three grey ones).

    Values: integer dtypes (uint8 above all) hold pixel values 0-255; float dtypes hold values in
    [0, 1] (torchvision's convention); anything else (values outside those ranges, NaN or infinite
    values, bool, complex, strings, objects) is refused. Lists and tuples are read by numpy, so
    their dtype is numpy's (a list of Python ints is integers 0-255; with one float in it, floats).

    Channels: colour images given to a grey model become grey with torchvision's
    ``rgb_to_grayscale`` (0.2989 R + 0.587 G + 0.114 B); grey images given to a colour model are
    repeated to 3 channels (torchvision's ``grayscale_to_rgb``, as ``v2.RGB`` does to grey photos).

    Returns uint8 images for integer inputs on the model's channels, float32 in [0, 1] otherwise.
    """
    batch = _as_tensor(images)
    shape = tuple(batch.shape)
    if batch.numel() == 0:
        raise InputError(f"got no images (an empty array of shape {shape})")
    if batch.ndim == 2:
        batch = batch[None, None]
    elif batch.ndim == 3 and batch.shape[-1] in CHANNEL_COUNTS:
        batch = batch.permute(2, 0, 1).unsqueeze(0)
    elif batch.ndim == 3:
        if channels == 3 and batch.shape[0] == 3:
            height, width = shape[1:]
            raise InputError(
                f"images shaped {shape} are ambiguous for a colour model: give one colour image as (1, 3, {height},"
                f" {width}) or ({height}, {width}, 3), three grey ones as (3, 1, {height}, {width})"
            )
        batch = batch.unsqueeze(1)
    elif batch.ndim == 4:
        if batch.shape[1] not in CHANNEL_COUNTS and batch.shape[-1] in CHANNEL_COUNTS:
            batch = batch.permute(0, 3, 1, 2)
        elif batch.shape[1] not in CHANNEL_COUNTS:
            raise InputError(
                f"images shaped {shape} have no channel dimension of 1 (grey) or 3 (colour): give them as"
                " (N, C, H, W) or (N, H, W, C)"
            )
    else:
        raise InputError(f"expected images shaped {IMAGE_SHAPES}, got {shape}")
    batch = _checked_values(batch)
    given = batch.shape[1]
    if given == channels:
        return batch
    if given == 4 or channels not in (1, 3) or given not in (1, 3):
        alpha = ": drop the alpha channel (images[..., :3] channels-last)" if given == 4 else ""
        raise InputError(f"this model takes {channels}-channel images, got {given}-channel ones{alpha}")
    batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch
    return tv_functional().rgb_to_grayscale(batch) if channels == 1 else tv_functional().grayscale_to_rgb(batch)


class ImagePreprocess(nn.Module):
    """uint8 images (or floats in [0, 1]) ``(N, C, H, W)`` or ``(N, H, W)`` -> normalised float ``image_size`` images.

    ``resize="pad"`` centres smaller images on a zero background (LeNet-5's 28->32 padding of
    MNIST digits), ``"resize"`` rescales bilinearly (the 8x8 scikit-learn digits to 32x32).
    With ``resize_size`` the shorter side is resized to it and the centre ``image_size`` square
    cropped (the ImageNet evaluation transform: 256 then 224). ``raw_size``: the side of the
    training images before all that (28 for MNIST padded to 32), for ``check_input_size``.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        image_size: int | None = None,
        resize: str = "pad",
        resize_size: int | None = None,
        raw_size: int | None = None,
    ) -> None:
        super().__init__()
        if resize not in ("pad", "resize"):
            raise ValueError(f"resize must be 'pad' or 'resize', not {resize!r}")
        self.mean, self.std = list(mean), list(std)
        self.image_size, self.resize, self.resize_size = image_size, resize, resize_size
        self.raw_size = raw_size

    @classmethod
    def from_info(cls, info: ImageInfo) -> "ImagePreprocess":
        """The evaluation transform an ``ImageInfo`` (a checkpoint's ``data_info``, read by ``info_from_dict``)
        describes, for ``zoo.load``'s models."""
        raw_size = training_image_size(info)
        return cls(info.mean, info.std, info.image_size, info.resize, info.resize_size, raw_size=raw_size)

    def check_input_size(self, height: int, width: int) -> None:
        """Refuse, in one line, user images of a size the training images' transform was not made for.

        Models that resize their training images (``resize="resize"``: scikit-learn's digits, CIFAR)
        take square images of any size, resized the same way; with ``resize_size`` (ImageNet) any
        size at all. Models that pad them (MNIST, Fashion-MNIST) take the training images' size,
        padded as they were, or the model's input size, taken as already padded; other sizes would
        be padded or cropped into something the model never saw, so they are refused.
        """
        size = self.image_size
        if size is None or self.resize_size is not None:
            return
        if self.resize == "resize":
            if height != width:
                raise InputError(
                    f"this model takes square images (resized to {size}x{size} as its training images were),"
                    f" got {height}x{width}: crop them to a square first"
                )
            return
        if height == width and height in (size, self.raw_size):
            return
        expected = self.raw_size or size
        also = f" (or {size}x{size}, taken as already padded)" if expected != size else ""
        raise InputError(
            f"this model takes {expected}x{expected} images{also}, got {height}x{width}: resize them first,"
            f" e.g. torchvision.transforms.v2.functional.resize(images, [{expected}, {expected}], antialias=True)"
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4:
            raise ValueError(f"expected images shaped (N, C, H, W) or (N, H, W), got {tuple(images.shape)}")
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        x = self._fit_size(x)
        return tv_functional().normalize(x, self.mean, self.std)

    def _fit_size(self, x: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        height, width = x.shape[-2:]
        if size is None or (height, width) == (size, size):
            return x
        if self.resize_size is not None:
            return tv_functional().center_crop(tv_functional().resize(x, self.resize_size, antialias=True), [size, size])
        if self.resize == "resize":
            return tv_functional().resize(x, [size, size], antialias=True)
        if height > size or width > size:
            return tv_functional().center_crop(x, [size, size])
        top, left = (size - height) // 2, (size - width) // 2
        return F.pad(x, (left, size - width - left, top, size - height - top))

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, resize={self.resize!r}, mean={self.mean}, std={self.std}"


def training_image_size(info: ImageInfo) -> int | None:
    """The side of a checkpoint's training images before preprocessing: ``ImageInfo.raw_size``, or,
    for checkpoints older than that field, the ``native_size`` of the data module named ``info.name``
    (``None`` when unknown, e.g. for folders of images of any size)."""
    if info.raw_size is not None:
        return int(info.raw_size)
    from datamodules.registry import data_modules  # here: the data modules import this module

    for module in data_modules().values():
        if getattr(module, "name", None) == info.name:
            native = getattr(module, "native_size", None)
            return native if isinstance(native, int) else None
    return None


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample random crops of the zero-padded batch (the CIFAR "pad 4, crop 32" augmentation)."""
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    device = images.device
    top = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
    rows = (top[:, None] + torch.arange(h, device=device))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w, device=device))[:, None, None, :]
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_hflip(images: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right with probability ``p``."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < p
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


class BatchAugment(nn.Module):
    """Training-time augmentation of a normalised batch: ``crop`` padding and/or horizontal ``flip``."""

    def __init__(self, crop_padding: int = 0, hflip: bool = False) -> None:
        super().__init__()
        self.crop_padding, self.hflip = crop_padding, hflip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.crop_padding:
            images = random_crop(images, self.crop_padding)
        if self.hflip:
            images = random_hflip(images)
        return images
