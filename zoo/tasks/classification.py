"""Classification: one LightningModule for every classifier in the zoo (images, and audio as
feature sequences).

The network is built from the registry by name (``model={"name": "lenet5", ...}``), so a
checkpoint holds everything needed to rebuild it: the model's arguments, the data set's
description (classes, normalisation, input size) and the optimiser settings.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from zoo.errors import ModelDataMismatchError, first_line
from zoo.registry import create_model
from zoo.tasks.common import check_finite_loss, configure_optimizers
from zoo.weights import head_parameter_names

LOSSES = ("cross_entropy", "mse")


def check_model_fits_data(model: nn.Module, model_name: str, data_info: dict) -> None:
    """Run a dummy batch of the data's shape through ``model``; raise one clear line if it does not fit."""
    shape = data_info.get("sample_shape") or (data_info["channels"], data_info["image_size"], data_info["image_size"])
    image = data_info.get("modality", "image") == "image"
    kind = "images" if image else "(steps x features) sequences"
    described = f"{'x'.join(str(size) for size in shape)} {kind} of data set {data_info['name']!r}"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(torch.zeros(2, *shape))
    except Exception as error:
        raise ModelDataMismatchError(
            f"model {model_name!r} cannot take the {described} ({first_line(error)}); choose a model sized for"
            " this data, or set its input size (e.g. model.in_features / model.input_size)"
        ) from None
    finally:
        model.train(was_training)
    if outputs.shape != (2, data_info["num_classes"]):
        raise ModelDataMismatchError(
            f"model {model_name!r} outputs {tuple(outputs.shape[1:])} scores per {'image' if image else 'sequence'}"
            f" but data set {data_info['name']!r} has {data_info['num_classes']} classes; set model.num_classes"
        )


class ImageClassifier(L.LightningModule):
    """Trains any registered image classifier.

    Args:
        model: registry name and builder arguments, e.g. ``{"name": "lenet5", "num_classes": 10}``.
        data_info: the data set's ``DataInfo`` as a dict (classes, channels, size, mean/std).
        optimizer: a Hydra ``_partial_`` config of a ``torch.optim`` class.
        scheduler: a Hydra ``_partial_`` config of a ``torch.optim.lr_scheduler`` class plus
            ``interval`` (``epoch``/``step``); ``T_max``/``total_steps`` left ``null`` are filled
            from the trainer's length. Empty or ``None`` for a constant learning rate.
        loss: ``cross_entropy``, or ``mse`` (squared error between the softmax output and the
            one-hot target, as in the classic lecture slides).
        label_smoothing: for cross-entropy (Szegedy et al. 2016).
        channels_last: keep convolutional models and their inputs in NHWC memory format.
        compile: ``torch.compile`` the network (measure first: it is slower on small CPU models).
        data_config: the data module's config, kept in checkpoints so evaluation and notebooks
            can rebuild the same test set.
    """

    def __init__(
        self,
        model: dict[str, Any],
        data_info: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        loss: str = "cross_entropy",
        label_smoothing: float = 0.0,
        channels_last: bool = True,
        compile: bool = False,
        data_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        self.save_hyperparameters(logger=False)  # the loggers get the run's config with its final metrics (zoo.training.finish_run)
        self.model = create_model(**model)
        check_model_fits_data(self.model, model["name"], data_info)
        self.num_classes = int(data_info["num_classes"])
        self.channels_last = channels_last and any(isinstance(m, nn.Conv2d) for m in self.model.modules())
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if compile:
            self.model.compile()
        self.train_metrics = self._make_metrics("train")
        self.val_metrics = self._make_metrics("val")
        self.test_metrics = self._make_metrics("test")
        self.test_confusion = MulticlassConfusionMatrix(self.num_classes)

    # the kinds of data (DataInfo.modality) this task trains on
    modalities = ("image", "audio")

    @staticmethod
    def model_arguments(info: Any) -> dict[str, Any]:
        """The model's data-dependent arguments, filled from the data module's ``DataInfo``."""
        return {"num_classes": info.num_classes, "in_channels": info.channels}

    def _make_metrics(self, split: str) -> MetricCollection:
        metrics = {"acc": MulticlassAccuracy(self.num_classes, top_k=1, average="micro", validate_args=False)}
        if self.num_classes > 5 and split != "train":  # top-5 costs ~5% of a small model's step
            metrics["acc_top5"] = MulticlassAccuracy(self.num_classes, top_k=5, average="micro", validate_args=False)
        return MetricCollection(metrics, prefix=f"{split}/")

    @property
    def backbone(self) -> nn.ModuleList:
        """Every top-level part of the network except the one holding the classifier head (the last
        ``nn.Linear``): what Lightning's ``BackboneFinetuning`` freezes, then unfreezes."""
        head = head_parameter_names(self.model)
        top = {name.split(".")[0] for name in head}
        return nn.ModuleList(module for name, module in self.model.named_children() if name not in top)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last and images.ndim == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "mse":
            target = F.one_hot(labels, self.num_classes).to(logits.dtype)
            return F.mse_loss(logits.softmax(dim=1), target)
        return F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        images, labels = batch
        logits = self(images)
        loss = self.compute_loss(logits.float(), labels)
        metrics = getattr(self, f"{split}_metrics")
        metrics.update(logits.detach(), labels)
        on_step = split == "train"
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step)
        return {"loss": loss, "logits": logits.detach()}

    def _log_epoch_metrics(self, split: str) -> None:
        # Metric objects are updated per step and computed (synchronised across processes) once
        # per epoch: logging the objects on every step costs Lightning ~1 ms a step per metric.
        metrics = getattr(self, f"{split}_metrics")
        self.log_dict(metrics.compute(), prog_bar=True)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._shared_step(batch, "train")["loss"]
        check_finite_loss(self, loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self._shared_step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        outputs = self._shared_step(batch, "test")
        self.test_confusion.update(outputs["logits"], batch[1])
        return outputs

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(images).argmax(dim=1)

    def configure_optimizers(self) -> Any:
        trainable = [parameter for parameter in self.parameters() if parameter.requires_grad]  # a frozen backbone stays out
        return configure_optimizers(self, trainable, monitor="val/acc")
