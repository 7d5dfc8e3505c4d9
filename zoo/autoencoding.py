"""``zoo.load`` of an autoencoder: encode raw images to codes, decode codes to images, and (VAE) sample."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from datamodules.transforms import ImagePreprocess, as_image_batch
from zoo.errors import UnsupportedOperationError


class AutoencoderModel(nn.Module):
    """An eval-mode autoencoder that takes raw uint8 images ``(N, H, W)``, ``(N, C, H, W)`` or one ``(H, W)``.

    ``encode(images)`` gives the codes ``(N, code_size)``, ``decode(codes)`` images in [0, 1]
    ``(N, C, H, W)``, ``reconstruct(images)`` both in turn; ``sample(n)`` draws ``n`` images from a
    VAE's prior (other autoencoders raise ``UnsupportedOperationError``).
    """

    def __init__(self, model: nn.Module, config: dict[str, Any]) -> None:
        super().__init__()
        info = config["data_info"]
        self.model, self.config = model, config
        self.class_names: list[str] = list(info.get("class_names") or [])
        self.preprocess = ImagePreprocess(info["mean"], info["std"], info["image_size"], info["resize"])
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
        batch = as_image_batch(images, self.config["data_info"]["channels"])
        return self.preprocess(batch.to(next(self.model.parameters()).device))

    @torch.no_grad()
    def encode(self, images: Any) -> torch.Tensor:
        """Codes of raw uint8 images (a VAE's posterior means)."""
        return self.model.encode(self._as_batch(images))

    @torch.no_grad()
    def decode(self, codes: Any) -> torch.Tensor:
        """Images in [0, 1] from codes ``(N, code_size)`` (or one ``(code_size,)``)."""
        codes = torch.as_tensor(codes, dtype=torch.float32, device=next(self.model.parameters()).device)
        if codes.ndim == 1:
            codes = codes.unsqueeze(0)
        if codes.shape[-1] != self.code_size:
            raise ValueError(f"this autoencoder decodes {self.code_size}-value codes, got {codes.shape[-1]} values")
        return self.model.decode(codes)

    def reconstruct(self, images: Any) -> torch.Tensor:
        """Raw uint8 images -> their reconstructions in [0, 1]."""
        return self.decode(self.encode(images))

    def sample(self, count: int, seed: int | None = None) -> torch.Tensor:
        """``count`` images in [0, 1] decoded from draws of a VAE's prior."""
        if not hasattr(self.model, "sample"):
            raise UnsupportedOperationError(
                f"model {self.config['model']['name']!r} is a deterministic autoencoder with no prior to sample from:"
                " load a VAE checkpoint (model=vae) for sample(), or decode codes of your own with decode()"
            )
        generator = torch.Generator(device=next(self.model.parameters()).device)
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        return self.model.sample(count, generator=generator)
