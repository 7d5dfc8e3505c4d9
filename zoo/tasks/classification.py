"""Classification: one LightningModule for every classifier in the zoo, of images and of audio
(feature sequences). The network is built from the registry by name, so a checkpoint holds
everything needed to rebuild it: the model's arguments, the data's description (classes,
normalisation, input size) and the optimiser settings.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from datamodules.info import AudioInfo, DataInfo, LabelledInfo
from zoo.tasks.base import Task
from zoo.tasks.buffered_updates import BufferedUpdates
from zoo.weights import head_parameter_names

LOSSES = ("cross_entropy", "mse")
SPLITS = ("train", "val", "test")


class Classification(Task):
    """Trains any registered classifier (``forward(x) -> (N, classes)`` scores).

    Args (besides ``Task``'s):
        loss: ``cross_entropy``, or ``mse`` (squared error between the softmax output and the
            one-hot target, as in the classic lecture slides).
        label_smoothing: for cross-entropy (Szegedy et al. 2016).
        channels_last: keep convolutional models and their inputs in NHWC memory format.
    """

    name = "classification"
    notebook_object = "zoo.inference:Classifier"
    modalities = ("image", "audio")
    headline_metrics = ("test/acc", "test/acc_top5", "test/loss", "val/acc", "val/loss")

    def __init__(self, loss: str = "cross_entropy", label_smoothing: float = 0.0, channels_last: bool = True, **common: Any) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        super().__init__(**common)
        self.info: LabelledInfo
        self.num_classes = int(self.info.num_classes)
        self.channels_last = channels_last and any(isinstance(m, nn.Conv2d) for m in self.model.modules())
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.metrics = nn.ModuleDict({f"{split}_metrics": self._make_metrics(split) for split in SPLITS})
        self.losses = nn.ModuleDict({f"{split}_loss": MeanMetric() for split in SPLITS})
        # training: the predicted class and the loss of each step, handed to the metrics together
        self.train_updates = (BufferedUpdates(self.metrics["train_metrics"]), BufferedUpdates(self.losses["train_loss"]))
        self.test_confusion = MulticlassConfusionMatrix(self.num_classes)

    @classmethod
    def model_arguments(cls, info: DataInfo) -> dict[str, Any]:
        if isinstance(info, AudioInfo):
            return {"num_classes": info.num_classes, "n_features": info.n_features}
        return {"num_classes": info.num_classes, "in_channels": info.channels, "input_size": info.image_size}

    # --- the fit check ----------------------------------------------------------------------------
    def described_inputs(self) -> str:
        shape = "x".join(map(str, self.info.input_shape))
        kind = "(steps x features) sequences" if self.info.modality == "audio" else "images"
        return f"{shape} {kind} of data set {self.info.name!r}"

    def fit_hint(self) -> str:
        if self.info.modality == "audio":
            return "choose a model for audio feature sequences (e.g. model=audio_rnn)"
        return "choose a model sized for this data, or set data.image_size to the size the model takes"

    def output_problem(self, outputs: torch.Tensor) -> str | None:
        if tuple(outputs.shape) == (2, self.info.num_classes):
            return None
        sample = "sequence" if self.info.modality == "audio" else "image"
        return (f"outputs {tuple(outputs.shape[1:])} scores per {sample} but data set {self.info.name!r} has"
                f" {self.info.num_classes} classes; set model.num_classes")  # fmt: skip

    # --- metrics ------------------------------------------------------------------------------------
    def _make_metrics(self, split: str) -> MetricCollection:
        metrics = {"acc": MulticlassAccuracy(self.num_classes, top_k=1, average="micro", validate_args=False)}
        if self.num_classes > 5 and split != "train":  # top-5 costs ~5% of a small model's step
            metrics["acc_top5"] = MulticlassAccuracy(self.num_classes, top_k=5, average="micro", validate_args=False)
        return MetricCollection(metrics, prefix=f"{split}/")

    def log_epoch(self, split: str) -> None:
        # Metric objects are updated per step and computed (synchronised across processes) once
        # per epoch: logging on every step costs Lightning ~0.3 ms a step per value.
        metrics, loss = self.metrics[f"{split}_metrics"], self.losses[f"{split}_loss"]
        if split == "train":
            for updates in self.train_updates:
                updates.flush()
        self.log_dict({**metrics.compute(), f"{split}/loss": loss.compute()}, prog_bar=True)
        metrics.reset()
        loss.reset()

    @property
    def backbone(self) -> nn.ModuleList:
        """Every top-level part of the network except the one holding the classifier head (the last
        ``nn.Linear``): what Lightning's ``BackboneFinetuning`` freezes, then unfreezes."""
        top = {name.split(".")[0] for name in head_parameter_names(self.model)}
        return nn.ModuleList(module for name, module in self.model.named_children() if name not in top)

    # --- steps --------------------------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.model(inputs)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "mse":
            target = F.one_hot(labels, self.num_classes).to(logits.dtype)
            return F.mse_loss(logits.softmax(dim=1), target)
        return F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)

    def shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> dict[str, torch.Tensor]:
        inputs, labels = batch
        logits = self(inputs)
        loss = self.compute_loss(logits.float(), labels)
        if split == "train":
            predictions, losses = self.train_updates
            predictions.add(logits.detach().argmax(dim=1), labels)
            losses.add(loss.detach(), weight=len(labels))
            self.log_step({"train/loss_step": loss})
        else:
            self.metrics[f"{split}_metrics"].update(logits.detach(), labels)
            self.losses[f"{split}_loss"].update(loss.detach(), weight=len(labels))
        return {"loss": loss, "logits": logits.detach()}

    def on_train_epoch_start(self) -> None:
        for updates in self.train_updates:  # what an interrupted epoch left
            updates.clear()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        outputs = self.shared_step(batch, "test")
        self.test_confusion.update(outputs["logits"], batch[1])
        return outputs

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(inputs).argmax(dim=1)


ImageClassifier = Classification  # the name before audio joined (tests and older notebooks)
