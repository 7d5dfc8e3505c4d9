"""TensorBoard callbacks: per-layer gradient norms, weight histograms, a grid of validation
images with predicted and true labels, and the test confusion matrix."""

from __future__ import annotations

from typing import Any

import lightning as L
import matplotlib.pyplot as plt
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.compat.proto.summary_pb2 import Summary
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
        named = [(name, p.grad) for name, p in pl_module.named_parameters() if p.grad is not None]
        if not named:
            return
        norms = torch._foreach_norm([grad.detach() for _, grad in named], self.norm_type)
        total = torch.linalg.vector_norm(torch.stack(norms), self.norm_type)
        values = torch.stack([*norms, total]).tolist()  # one device sync for all of them
        keys = [f"grad_norm/{name}" for name, _ in named] + ["grad_norm/total"]
        write_step_scalars(trainer, dict(zip(keys, values)), pl_module.logger_step())


def write_step_scalars(trainer: L.Trainer, values: dict[str, float], step: int) -> None:
    """Write scalars straight to the loggers (rank 0) at ``step``, the one Lightning draws this batch's
    logged values at (``Task.logger_step``). ``LightningModule.log`` costs ~0.3 ms per value, which a
    dozen per-layer norms turn into 5% of a small model's training time; TensorBoard gets them as one
    event (one ``add_scalar`` each, as Lightning's logger writes them, is ~45 us a value)."""
    if trainer.global_rank != 0:
        return
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()])
            logger.experiment.file_writer.add_summary(summary, step)
        else:
            logger.log_metrics(values, step=step)


def write_histogram(writer: SummaryWriter, tag: str, values: torch.Tensor, step: int, bins: int = 64) -> None:
    """``writer.add_histogram`` with ``bins`` equal buckets counted by torch (``histc``), not numpy's
    search through TensorBoard's ~1,500 exponential ones: ~15 ms instead of 64 ms for a 1.5M-value
    embedding, which every epoch pays per matrix. Non-finite values are left out (as the figure would)."""
    values = values.detach().float().flatten().cpu()
    finite = torch.isfinite(values)
    if not finite.all():
        values = values[finite]
    if not len(values):
        return
    low, high = (float(end) for end in torch.aminmax(values))
    if high > low:
        counts = torch.histc(values, bins, min=low, max=high)
        limits = torch.linspace(low, high, bins + 1)[1:]
    else:
        counts, limits = torch.tensor([float(len(values))]), torch.tensor([high])
    writer.add_histogram_raw(tag, min=low, max=high, num=len(values), sum=float(values.sum()),
                             sum_squares=float(values.square().sum()), bucket_limits=limits.tolist(),
                             bucket_counts=counts.tolist(), global_step=step)  # fmt: skip


class WeightHistogramLogger(L.Callback):
    """Writes a histogram of every parameter after every ``every_n_epochs`` training epochs."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = every_n_epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        for writer in tensorboard_writers(trainer):
            for name, parameter in pl_module.named_parameters():
                write_histogram(writer, f"weights/{name}", parameter, trainer.global_step)


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
