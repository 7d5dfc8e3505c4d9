"""``zoo.load`` of an autoencoder: encode raw images to codes, decode codes to images, and (VAE) sample."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch import nn

from datamodules.info import ImageInfo
from datamodules.transforms import ImagePreprocess, as_image_batch
from zoo.data_info import read_data_info
from zoo.errors import InputError, UnsupportedOperationError


class AutoencoderModel(nn.Module):
    """An eval-mode autoencoder that takes raw images ``(N, H, W)``, ``(N, C, H, W)``, one ``(H, W)``, ...

    ``encode(images)`` gives the codes ``(N, code_size)``, ``decode(codes)`` images in [0, 1]
    ``(N, C, H, W)``, ``reconstruct(images)`` both in turn; ``sample(n)`` draws ``n`` images from a
    VAE's prior (other autoencoders raise ``UnsupportedOperationError``).

    Images follow ``Classifier``'s rules (``datamodules.transforms.as_image_batch`` and
    ``ImagePreprocess.check_input_size``): integer dtypes are pixel values 0-255, floats values in
    [0, 1]; other values, NaN/inf, bool, complex or object arrays, and sizes the training images'
    transform was not made for are refused with a one-line ``InputError``.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.info: ImageInfo = read_data_info(config, (ImageInfo,), "autoencoder")
        self.class_names: list[str] = list(self.info.class_names)
        self.preprocess = ImagePreprocess.from_info(self.info)
        self.eval()

    @property
    def code_size(self) -> int:
        return self.model.code_size

    @property
    def data_config(self) -> dict[str, Any] | None:
        """The training run's data module config, to rebuild its test set."""
        return self.config.get("data_config")

    def forward(self, images: torch.Tensor) -> Any:
        """Preprocessed float images -> the model's ``AutoencoderOutput``."""
        return self.model(images)

    def _as_batch(self, images: Any) -> torch.Tensor:
        batch = as_image_batch(images, self.info.channels)
        self.preprocess.check_input_size(*batch.shape[-2:])
        return self.preprocess(batch.to(next(self.model.parameters()).device))

    @torch.no_grad()
    def encode(self, images: Any) -> torch.Tensor:
        """Codes of raw images (uint8 0-255 or floats in [0, 1]; a VAE's posterior means)."""
        return self.model.encode(self._as_batch(images))

    @torch.no_grad()
    def decode(self, codes: Any) -> torch.Tensor:
        """Images in [0, 1] from codes ``(N, code_size)`` (or one ``(code_size,)``)."""
        try:
            codes = torch.as_tensor(np.asarray(codes) if not isinstance(codes, torch.Tensor) else codes)
        except (TypeError, ValueError, RuntimeError):
            raise InputError("codes must be numbers (N, code_size) or one (code_size,): got something else") from None
        if codes.dtype == torch.bool or codes.is_complex():
            dtype = str(codes.dtype).removeprefix("torch.")
            raise InputError(f"codes of dtype {dtype} are not taken: give real numbers")
        codes = codes.to(device=next(self.model.parameters()).device, dtype=torch.float32)
        if codes.ndim == 1:
            codes = codes.unsqueeze(0)
        if codes.ndim != 2 or codes.shape[-1] != self.code_size:
            raise InputError(f"this autoencoder decodes {self.code_size}-value codes, got shape {tuple(codes.shape)}")
        if not bool(torch.isfinite(codes).all()):
            raise InputError("codes hold NaN or infinite values: decode finite codes")
        return self.model.decode(codes)

    def reconstruct(self, images: Any) -> torch.Tensor:
        """Raw images (as for ``encode``) -> their reconstructions in [0, 1]."""
        return self.decode(self.encode(images))

    def sample(self, count: int, seed: int | None = None) -> torch.Tensor:
        """``count`` (a whole number >= 1) images in [0, 1] decoded from draws of a VAE's prior."""
        if not hasattr(self.model, "sample"):
            raise UnsupportedOperationError(
                f"model {self.config['model']['name']!r} is a deterministic autoencoder with no prior to sample from:"
                " load a VAE checkpoint (model=vae) for sample(), or decode codes of your own with decode()"
            )
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
            raise InputError(f"count must be a whole number of images >= 1, got {count!r}")
        generator = torch.Generator(device=next(self.model.parameters()).device)
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        return self.model.sample(count, generator=generator)
