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

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MeanSquaredError

from zoo.errors import ModelDataMismatchError, first_line
from zoo.registry import create_model
from zoo.tasks.common import check_finite_loss, configure_optimizers
from zoo.tasks.pca import PCA, fit_pca_on_split

log = logging.getLogger(__name__)
LOSSES = ("bce", "mse")
NOISES = ("none", "gaussian", "masking")


def check_autoencoder_fits_data(model: nn.Module, model_name: str, data_info: dict) -> None:
    """Run a dummy batch of the data's image shape through ``model``; one clear line if it does not fit."""
    shape = (data_info["channels"], data_info["image_size"], data_info["image_size"])
    described = f"{'x'.join(map(str, shape))} images of data set {data_info['name']!r}"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model(torch.zeros(2, *shape))
    except Exception as error:
        raise ModelDataMismatchError(
            f"autoencoder {model_name!r} cannot take the {described} ({first_line(error)}): set data.image_size to"
            f" the model's input size, or model.input_size to the data's"
        ) from None
    finally:
        model.train(was_training)
    if tuple(output.reconstruction.shape[1:]) != shape:
        raise ModelDataMismatchError(
            f"autoencoder {model_name!r} recreates {'x'.join(map(str, output.reconstruction.shape[1:]))} images"
            f" from the {described}: set model.input_size and model.in_channels to the data's"
        )


def corrupt(images: torch.Tensor, noise: str, level: float) -> torch.Tensor:
    """Gaussian (``images + level * N(0, 1)``) or masking noise (each pixel zeroed with probability ``level``)."""
    if noise == "none" or level == 0:
        return images
    if noise == "gaussian":
        return images + level * torch.randn_like(images)
    return images * (torch.rand_like(images) >= level)


class Reconstruction(L.LightningModule):
    """Trains any registered autoencoder (``forward(x) -> AutoencoderOutput``).

    Args:
        model: registry name and builder arguments, e.g. ``{"name": "deep_autoencoder"}``.
        data_info: the data set's ``DataInfo`` as a dict (channels, size, mean/std).
        optimizer, scheduler: Hydra ``_partial_`` configs, as in ``ImageClassifier``.
        loss: ``bce`` (binary cross-entropy per pixel, the Bernoulli decoder) or ``mse``.
        noise, noise_level: ``none``, ``gaussian`` (standard deviation ``noise_level`` in [0, 1]
            pixel units) or ``masking`` (the fraction of pixels zeroed) on the training inputs.
        pca_baseline: fit PCA with ``code_size`` components on the training images at test time.
        compile: ``torch.compile`` the network.
        data_config: the data module's config, kept in checkpoints.
    """

    def __init__(
        self,
        model: dict[str, Any],
        data_info: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        loss: str = "bce",
        noise: str = "none",
        noise_level: float = 0.0,
        pca_baseline: bool = True,
        compile: bool = False,
        data_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if noise not in NOISES:
            raise ValueError(f"unknown noise {noise!r}; choose one of {', '.join(NOISES)}")
        self.save_hyperparameters(logger=False)  # the loggers get the run's config with its final metrics (zoo.training.finish_run)
        self.model = create_model(**model)
        check_autoencoder_fits_data(self.model, model["name"], data_info)
        if compile:
            self.model.compile()
        self.register_buffer("mean", torch.tensor(data_info["mean"]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(data_info["std"]).view(1, -1, 1, 1), persistent=False)
        self.metrics = nn.ModuleDict(
            {f"{split}_{name}": MeanMetric() for split in ("train", "val", "test") for name in ("loss", "penalty")}
        )
        for split in ("train", "val", "test"):
            self.metrics[f"{split}_mse"] = MeanSquaredError()
        self.metrics["test_pca_mse"] = MeanSquaredError()
        self.pca: PCA | None = None

    modalities = ("image",)

    @staticmethod
    def model_arguments(info: Any) -> dict[str, Any]:
        """The model's data-dependent arguments: the images' channels and side."""
        return {"in_channels": info.channels, "input_size": info.image_size}

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

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        images, labels = batch
        target = self.to_pixels(images)
        inputs = self.normalise(self.corrupt(target)) if split == "train" and self.hparams.noise != "none" else images
        output = self(inputs)
        loss = self.reconstruction_loss(output.reconstruction, target) + output.penalty
        self.metrics[f"{split}_loss"].update(loss.detach(), weight=len(images))
        self.metrics[f"{split}_penalty"].update(output.penalty.detach(), weight=len(images))
        self.metrics[f"{split}_mse"].update(output.reconstruction.detach().float().flatten(1), target.flatten(1))
        if split == "train":
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        return {"loss": loss, "reconstruction": output.reconstruction.detach(), "target": target,
                "code": output.code.detach(), "labels": labels}  # fmt: skip

    def _log_epoch(self, split: str) -> dict[str, torch.Tensor]:
        values = {f"{split}/{name}": self.metrics[f"{split}_{name}"].compute() for name in ("loss", "mse", "penalty")}
        for name in ("loss", "mse", "penalty"):
            self.metrics[f"{split}_{name}"].reset()
        self.log_dict(values, prog_bar=split != "train")
        return values

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train")["loss"]
        check_finite_loss(self, loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        outputs = self._step(batch, "test")
        if self.pca is not None:
            target = outputs["target"].flatten(1)
            self.metrics["test_pca_mse"].update(self.pca.reconstruct(target), target)
        return outputs

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

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
        mse = self._log_epoch("test")["test/mse"]
        if self.pca is not None:
            pca_mse = self.metrics["test_pca_mse"].compute()
            self.metrics["test_pca_mse"].reset()
            self.log_dict({"test/pca_mse": pca_mse, "test/mse_vs_pca": mse / pca_mse})

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.parameters(), monitor="val/loss")
