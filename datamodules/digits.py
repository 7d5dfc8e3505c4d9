"""The UCI handwritten digits that ship inside scikit-learn (Alpaydin & Kaynak 1998): 1,797
real 8x8 images of 16 grey levels. Works offline everywhere; resized to 32x32 for LeNet-5.

The data set has no official test split, so a fixed, seeded 20% is held out as test and
10% of the rest as validation.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from datamodules.in_memory import ImageArrays, InMemoryImageDataModule
from datamodules.registry import register_data_module


@register_data_module("digits")
class DigitsDataModule(InMemoryImageDataModule):
    name = "digits"
    class_names = [str(digit) for digit in range(10)]
    # Of the 0-255 rescaled pixels of the whole set (tests/test_datamodules.py recomputes them).
    mean, std = (0.3053,), (0.3759,)
    native_size = 8
    resize = "resize"

    def __init__(self, test_size: float = 0.2, val_size: float = 0.1, **kwargs) -> None:
        super().__init__(val_size=val_size, **kwargs)
        self.test_size = test_size

    def load_arrays(self) -> tuple[ImageArrays, ImageArrays]:
        digits = load_digits()
        images = torch.from_numpy(digits.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
        data = ImageArrays(images, torch.from_numpy(digits.target).long())
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.split_seed + 1))
        n_test = int(round(self.test_size * len(data)))
        return data.subset(order[n_test:]), data.subset(order[:n_test])
