"""Batch transforms that run on the training device, on whole uint8 batches.

Small data sets stay in memory as uint8 tensors; a batch is converted to float, resized or
padded, normalised and (in training) augmented after it reaches the device, instead of per
sample through PIL. The same ``ImagePreprocess`` travels with a checkpoint, so
``zoo.load(...).predict`` takes raw uint8 images.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import nn


def as_image_batch(images: object, channels: int) -> torch.Tensor:
    """A user's raw images as one ``(N, C, H, W)`` tensor: a tensor or array of one ``(H, W)`` image,
    ``(N, H, W)``, ``(N, C, H, W)`` or channels-last ``(N, H, W, C)``."""
    batch = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if batch.ndim == 2:
        batch = batch.unsqueeze(0)
    if batch.ndim == 4 and batch.shape[1] != channels and batch.shape[-1] == channels:
        batch = batch.permute(0, 3, 1, 2)
    return batch


class ImagePreprocess(nn.Module):
    """uint8 images ``(N, C, H, W)`` or ``(N, H, W)`` -> normalised float images of ``image_size``.

    ``resize="pad"`` centres smaller images on a zero background (LeNet-5's 28->32 padding of
    MNIST digits), ``"resize"`` rescales bilinearly (the 8x8 scikit-learn digits to 32x32).
    With ``resize_size`` the shorter side is resized to it and the centre ``image_size`` square
    cropped (the ImageNet evaluation transform: 256 then 224).
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        image_size: int | None = None,
        resize: str = "pad",
        resize_size: int | None = None,
    ) -> None:
        super().__init__()
        if resize not in ("pad", "resize"):
            raise ValueError(f"resize must be 'pad' or 'resize', not {resize!r}")
        self.mean, self.std = list(mean), list(std)
        self.image_size, self.resize, self.resize_size = image_size, resize, resize_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim == 3:
            images = images.unsqueeze(1)
        if images.ndim != 4:
            raise ValueError(f"expected images shaped (N, C, H, W) or (N, H, W), got {tuple(images.shape)}")
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
        x = self._fit_size(x)
        return TF.normalize(x, self.mean, self.std)

    def _fit_size(self, x: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        height, width = x.shape[-2:]
        if size is None or (height, width) == (size, size):
            return x
        if self.resize_size is not None:
            return TF.center_crop(TF.resize(x, self.resize_size, antialias=True), [size, size])
        if self.resize == "resize":
            return TF.resize(x, [size, size], antialias=True)
        if height > size or width > size:
            return TF.center_crop(x, [size, size])
        top, left = (size - height) // 2, (size - width) // 2
        return F.pad(x, (left, size - width - left, top, size - height - top))

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, resize={self.resize!r}, mean={self.mean}, std={self.std}"


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
