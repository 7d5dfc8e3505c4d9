"""Reconstruction: trains any autoencoder of the zoo to recreate its input (labels unused).

The encoder sees the data module's normalised images; the targets are the same images back in
[0, 1] pixel units (un-normalised with the data's mean and std, clamped), which the decoders'
sigmoid outputs match and binary cross-entropy needs. ``noise`` corrupts the training inputs
in pixel units before normalisation while the targets stay clean: the denoising autoencoder
(Vincent, Larochelle, Bengio & Manzagol, "Extracting and composing robust features with
denoising autoencoders", ICML 2008), with additive Gaussian noise or masking noise (each pixel
set to 0 with probability ``noise_level``). Validation and test reconstruct clean images.

Every split logs ``loss`` (the training objective: reconstruction plus the model's penalty),
``mse`` (squared error per pixel in [0, 1] units) and ``penalty``. At test time the PCA of the
training images with as many components as the code (``pca_baseline``) reconstructs the same
test images: ``test/pca_mse`` beside ``test/mse``, as Hinton & Salakhutdinov 2006 compared them.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MeanSquaredError

from datamodules.info import DataInfo, ImageInfo
from zoo.tasks.base import Task
from zoo.tasks.pca import PCA, fit_pca_on_split

log = logging.getLogger(__name__)
LOSSES = ("bce", "mse")
NOISES = ("none", "gaussian", "masking")
SPLITS = ("train", "val", "test")
LOGGED = ("loss", "mse", "penalty")


def corrupt(images: torch.Tensor, noise: str, level: float) -> torch.Tensor:
    """Gaussian (``images + level * N(0, 1)``) or masking noise (each pixel zeroed with probability ``level``)."""
    if noise == "none" or level == 0:
        return images
    if noise == "gaussian":
        return images + level * torch.randn_like(images)
    return images * (torch.rand_like(images) >= level)


class Reconstruction(Task):
    """Trains any registered autoencoder (``forward(x) -> AutoencoderOutput``).

    Args (besides ``Task``'s):
        loss: ``bce`` (binary cross-entropy per pixel, the Bernoulli decoder) or ``mse``.
        noise, noise_level: ``none``, ``gaussian`` (standard deviation ``noise_level`` in [0, 1]
            pixel units) or ``masking`` (the fraction of pixels zeroed) on the training inputs.
        pca_baseline: fit PCA with ``code_size`` components on the training images at test time.
    """

    name = "reconstruction"
    notebook_object = "zoo.autoencoding:AutoencoderModel"
    modalities = ("image",)
    headline_metrics = ("test/loss", "test/mse", "test/pca_mse", "val/loss")

    def __init__(self, loss: str = "bce", noise: str = "none", noise_level: float = 0.0, pca_baseline: bool = True, **common: Any) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if noise not in NOISES:
            raise ValueError(f"unknown noise {noise!r}; choose one of {', '.join(NOISES)}")
        super().__init__(**common)
        self.info: ImageInfo
        self.register_buffer("mean", torch.tensor(self.info.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.info.std).view(1, -1, 1, 1), persistent=False)
        self.metrics = nn.ModuleDict({f"{split}_{name}": MeanMetric() for split in SPLITS for name in ("loss", "penalty")})
        for split in SPLITS:
            self.metrics[f"{split}_mse"] = MeanSquaredError()
        self.metrics["test_pca_mse"] = MeanSquaredError()
        self.pca: PCA | None = None

    @classmethod
    def model_arguments(cls, info: DataInfo) -> dict[str, Any]:
        """The images' channels and side."""
        return {"in_channels": info.channels, "input_size": info.image_size}

    def described_inputs(self) -> str:
        return f"{'x'.join(map(str, self.info.input_shape))} images of data set {self.info.name!r}"

    def fit_hint(self) -> str:
        return "set data.image_size to the size the autoencoder takes (model.input_size follows the data)"

    def output_problem(self, output: Any) -> str | None:
        shape = tuple(output.reconstruction.shape[1:])
        if shape == self.info.input_shape:
            return None
        return (f"recreates {'x'.join(map(str, shape))} images from the {self.described_inputs()}:"
                " set model.input_size and model.in_channels to the data's")  # fmt: skip

    # --- pixels <-> the encoder's normalised inputs ------------------------------------------
    def to_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images -> [0, 1] pixel units (the targets)."""
        return (images.float() * self.std + self.mean).clamp(0, 1)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std

    def corrupt(self, pixels: torch.Tensor) -> torch.Tensor:
        """The training corruption of [0, 1] images (``noise``, ``noise_level``)."""
        return corrupt(pixels, self.hparams.noise, self.hparams.noise_level)

    def forward(self, images: torch.Tensor) -> Any:
        return self.model(images)

    def reconstruction_loss(self, reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "bce":
            return F.binary_cross_entropy(reconstruction.float(), target)
        return F.mse_loss(reconstruction.float(), target)

    def shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        images, labels = batch
        target = self.to_pixels(images)
        inputs = self.normalise(self.corrupt(target)) if split == "train" and self.hparams.noise != "none" else images
        output = self(inputs)
        loss = self.reconstruction_loss(output.reconstruction, target) + output.penalty
        self.metrics[f"{split}_loss"].update(loss.detach(), weight=len(images))
        self.metrics[f"{split}_penalty"].update(output.penalty.detach(), weight=len(images))
        self.metrics[f"{split}_mse"].update(output.reconstruction.detach().float().flatten(1), target.flatten(1))
        if split == "train":
            self.log_step({"train/loss_step": loss})
        return {"loss": loss, "reconstruction": output.reconstruction.detach(), "target": target,
                "code": output.code.detach(), "labels": labels}  # fmt: skip

    def log_epoch(self, split: str) -> dict[str, torch.Tensor]:
        values = {f"{split}/{name}": self.metrics[f"{split}_{name}"].compute() for name in LOGGED}
        for name in LOGGED:
            self.metrics[f"{split}_{name}"].reset()
        self.log_dict(values, prog_bar=split != "train")
        return values

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        outputs = self.shared_step(batch, "test")
        if self.pca is not None:
            target = outputs["target"].flatten(1)
            self.metrics["test_pca_mse"].update(self.pca.reconstruct(target), target)
        return outputs

    def on_test_epoch_start(self) -> None:
        self.pca = None
        datamodule = getattr(self.trainer, "datamodule", None)
        if not self.hparams.pca_baseline:
            return
        if not hasattr(datamodule, "raw_split"):
            log.warning("no PCA baseline: the data module does not hold its training images in memory")
            return
        pixels = self.model.image_shape[0] * self.model.image_shape[1] * self.model.image_shape[2]
        if self.model.code_size >= pixels:
            log.warning("no PCA baseline: a %d-value code is not smaller than %d pixels", self.model.code_size, pixels)
            return
        self.pca = fit_pca_on_split(datamodule, self.model.code_size, self.to_pixels, self.device)

    def on_test_epoch_end(self) -> None:
        mse = self.log_epoch("test")["test/mse"]
        if self.pca is not None:
            pca_mse = self.metrics["test_pca_mse"].compute()
            self.metrics["test_pca_mse"].reset()
            self.log_dict({"test/pca_mse": pca_mse, "test/mse_vs_pca": mse / pca_mse})
