"""TensorBoard callbacks: per-layer gradient norms, weight histograms, a grid of validation
images with predicted and true labels, and the test confusion matrix."""

from __future__ import annotations

from typing import Any

import lightning as L
import matplotlib.pyplot as plt
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import grad_norm, rank_zero_only
from torch.utils.tensorboard import SummaryWriter
from torchvision.utils import make_grid

from zoo.callbacks.base import TaskCallback


def tensorboard_writers(trainer: L.Trainer) -> list[SummaryWriter]:
    """The SummaryWriters of the trainer's TensorBoard loggers (none on ranks other than 0)."""
    if trainer.global_rank != 0:
        return []
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


class GradientNormLogger(TaskCallback):
    """Logs the L2 norm of every parameter's gradient as ``grad_norm/<parameter>`` (and the total).

    With a deep sigmoid MLP these curves show the vanishing gradient: the first layers' norms
    sit orders of magnitude under the last ones, where a ReLU network keeps them level.
    Computed on the batches the loggers write (every ``trainer.log_every_n_steps``), before clipping.
    """

    # the tasks trained through gradients (word2vec applies closed-form updates)
    tasks = ("classification", "layerwise_pretraining", "language_modeling", "reconstruction")

    def __init__(self, norm_type: float = 2.0) -> None:
        self.norm_type = norm_type

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        if not self.serves(pl_module) or not pl_module.logger_writes_this_batch():
            return
        norms = grad_norm(pl_module, norm_type=self.norm_type)
        prefix = f"grad_{float(self.norm_type)}_norm"
        renamed = {key.replace(prefix, "grad_norm", 1).replace("grad_norm_total", "grad_norm/total"): value
                   for key, value in norms.items()}  # fmt: skip
        pl_module.log_dict(renamed, on_step=True, on_epoch=False)


class WeightHistogramLogger(L.Callback):
    """Writes a histogram of every parameter after every ``every_n_epochs`` training epochs."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = every_n_epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        for writer in tensorboard_writers(trainer):
            for name, parameter in pl_module.named_parameters():
                writer.add_histogram(f"weights/{name}", parameter.detach().float().cpu(), trainer.global_step)


def prediction_grid(
    images: torch.Tensor, predicted: torch.Tensor, labels: torch.Tensor, class_names: list[str], columns: int = 8
) -> plt.Figure:
    """One figure of the images in a grid, each captioned "predicted (true)": green if right, red if wrong."""
    padding = 2
    grid = make_grid(images.clamp(0, 1), nrow=columns, padding=padding, pad_value=1.0)
    height, width = images.shape[-2:]
    rows = -(-len(images) // columns)
    figure, ax = plt.subplots(figsize=(1.5 * columns, 1.6 * rows))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.axis("off")
    for index, (guess, truth) in enumerate(zip(predicted.tolist(), labels.tolist())):
        row, column = divmod(index, columns)
        x = column * (width + padding) + padding
        y = row * (height + padding) + padding
        ax.text(x, y, f"{class_names[guess]} ({class_names[truth]})", fontsize=7, va="top",
                color="white", backgroundcolor="green" if guess == truth else "red")  # fmt: skip
    ax.set_title("predicted (true)", fontsize=9)
    figure.tight_layout(pad=0.2)
    return figure


class PredictionGridLogger(TaskCallback):
    """After each validation epoch, logs the first ``count`` validation images with their labels
    (``val/predictions``) and up to ``count`` misclassified ones (``val/misclassified``)."""

    tasks = ("classification", "layerwise_pretraining")
    modalities = ("image",)

    def __init__(self, count: int = 32) -> None:
        self.count = count
        self._first: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._wrong: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if trainer.sanity_checking or not self.serves(pl_module):
            return
        images, labels = batch
        predicted = outputs["logits"].argmax(1)
        if batch_idx == 0:
            n = self.count
            self._first = (images[:n].float().cpu(), predicted[:n].cpu(), labels[:n].cpu())
        missing = self.count - sum(len(part[0]) for part in self._wrong)
        if missing > 0:
            wrong = (predicted != labels).nonzero().flatten()[:missing]
            self._wrong.append((images[wrong].float().cpu(), predicted[wrong].cpu(), labels[wrong].cpu()))

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._first is None:
            return
        wrong = tuple(torch.cat(parts) for parts in zip(*self._wrong))
        for tag, (images, predicted, labels) in (("val/predictions", self._first), ("val/misclassified", wrong)):
            if len(images):
                self._log_grid(trainer, pl_module, tag, images, predicted, labels)
        self._first, self._wrong = None, []

    @staticmethod
    def _log_grid(trainer: L.Trainer, pl_module: L.LightningModule, tag: str, images: torch.Tensor,
                  predicted: torch.Tensor, labels: torch.Tensor) -> None:  # fmt: skip
        info = pl_module.info
        mean = torch.tensor(info.mean).view(1, -1, 1, 1)
        std = torch.tensor(info.std).view(1, -1, 1, 1)
        figure = prediction_grid(images * std + mean, predicted, labels, info.class_names)
        for writer in tensorboard_writers(trainer):
            writer.add_figure(tag, figure, trainer.global_step, close=False)
        plt.close(figure)


class FirstLayerFiltersLogger(TaskCallback):
    """Logs the first convolution's kernels as an image after every ``every_n_epochs`` epochs: the
    edge and colour detectors of Krizhevsky et al. 2012, Fig. 3. Each kernel is scaled to [0, 1];
    3-channel kernels show in colour, others one grey tile per input channel."""

    modalities = ("image",)

    def __init__(self, every_n_epochs: int = 1, upscale: int = 8) -> None:
        self.every_n_epochs, self.upscale = every_n_epochs, upscale

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        conv = next((m for m in pl_module.modules() if isinstance(m, torch.nn.Conv2d)), None)
        writers = tensorboard_writers(trainer)
        if conv is None or not writers or not self.serves(pl_module):
            return
        kernels = conv.weight.detach().float().cpu()
        if kernels.shape[1] != 3:
            kernels = kernels.reshape(-1, 1, *kernels.shape[2:])
        low = kernels.amin(dim=(1, 2, 3), keepdim=True)
        high = kernels.amax(dim=(1, 2, 3), keepdim=True)
        kernels = (kernels - low) / (high - low).clamp_min(1e-12)
        kernels = kernels.repeat_interleave(self.upscale, dim=2).repeat_interleave(self.upscale, dim=3)
        grid = make_grid(kernels, nrow=int(len(kernels) ** 0.5 + 0.999), padding=1, pad_value=1.0)
        for writer in writers:
            writer.add_image("filters/first_conv", grid, trainer.global_step)


class ConfusionMatrixLogger(TaskCallback):
    """At the end of testing, logs the confusion matrix the task accumulated as a figure."""

    tasks = ("classification", "layerwise_pretraining")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.serves(pl_module):
            return
        confusion = pl_module.test_confusion
        confusion.compute()  # on every rank: it synchronises the counts across processes
        writers = tensorboard_writers(trainer)
        if writers:
            class_names = pl_module.info.class_names
            figure, _ = confusion.plot(labels=class_names)
            figure.set_size_inches(max(6, 0.6 * len(class_names)), max(6, 0.6 * len(class_names)))
            for writer in writers:
                writer.add_figure("test/confusion_matrix", figure, trainer.global_step, close=False)
            plt.close(figure)
        confusion.reset()
