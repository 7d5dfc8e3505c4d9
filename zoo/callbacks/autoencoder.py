"""TensorBoard pictures of autoencoders: inputs beside their reconstructions after every validation
epoch (with the corrupted inputs of a denoising autoencoder), samples from a VAE's prior and a
latent traversal, and the test codes in TensorBoard's embedding projector with labels and sprites."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torchvision.utils import make_grid

from zoo.callbacks.base import TaskCallback
from zoo.callbacks.tensorboard import tensorboard_writers


def latent_traversal(model: torch.nn.Module, code: torch.Tensor, dims: int, steps: int, span: float) -> torch.Tensor:
    """Images decoded from ``code`` with each of its first ``dims`` values swept over ``[-span, span]``:
    ``(dims * steps, C, H, W)``, one row per latent dimension."""
    values = torch.linspace(-span, span, steps, device=code.device)
    codes = code.repeat(dims * steps, 1)
    for dim in range(dims):
        codes[dim * steps : (dim + 1) * steps, dim] = values
    return model.decode(codes)


class ReconstructionGridLogger(TaskCallback):
    """After each validation epoch, logs ``val/reconstructions``: rows of ``count // 8`` inputs, each
    followed by a row of their reconstructions (and, with ``task.noise``, ``val/denoising``: corrupted
    inputs over their reconstructions). For models with ``sample`` (the VAE) also ``vae/samples``
    from the prior and ``vae/latent_traversal`` (the first validation image's code, each of its
    first ``traversal_dims`` values swept over [-3, 3])."""

    tasks = ("reconstruction",)

    def __init__(self, count: int = 32, samples: int = 64, traversal_dims: int = 8, traversal_steps: int = 11) -> None:
        self.count, self.samples = count, samples
        self.traversal_dims, self.traversal_steps = traversal_dims, traversal_steps
        self._batch: dict[str, torch.Tensor] | None = None

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if batch_idx == 0 and not trainer.sanity_checking and self.serves(pl_module):
            self._batch = {key: outputs[key][: self.count] for key in ("target", "reconstruction", "code")}

    @staticmethod
    def interleave(top: torch.Tensor, bottom: torch.Tensor, columns: int = 8) -> torch.Tensor:
        """A grid whose rows alternate: ``columns`` of ``top``, then the same ``columns`` of ``bottom``."""
        rows = [part[start : start + columns] for start in range(0, len(top), columns) for part in (top, bottom)]
        return make_grid(torch.cat(rows).float().clamp(0, 1).cpu(), nrow=columns, padding=2, pad_value=1.0)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batch, self._batch = self._batch, None
        writers = tensorboard_writers(trainer)
        if batch is None or not writers:
            return
        step = trainer.global_step
        images = {"val/reconstructions": self.interleave(batch["target"], batch["reconstruction"])}
        model = pl_module.model
        with torch.no_grad():
            if pl_module.hparams.get("noise", "none") != "none":
                noisy = pl_module.corrupt(batch["target"])
                denoised = model(pl_module.normalise(noisy)).reconstruction
                images["val/denoising"] = self.interleave(noisy, denoised)
            if hasattr(model, "sample"):
                samples = model.sample(self.samples)
                images["vae/samples"] = make_grid(samples.float().cpu(), nrow=8, padding=2, pad_value=1.0)
                dims = min(self.traversal_dims, model.code_size)
                traversal = latent_traversal(model, batch["code"][:1], dims, self.traversal_steps, 3.0)
                images["vae/latent_traversal"] = make_grid(
                    traversal.float().cpu(), nrow=self.traversal_steps, padding=2, pad_value=1.0
                )
        for writer in writers:
            for tag, grid in images.items():
                writer.add_image(tag, grid, step)


class CodeEmbeddingLogger(TaskCallback):
    """At the end of testing, writes up to ``count`` test codes to TensorBoard's projector
    (``test/codes``) with their class names as labels and the images as a sprite."""

    tasks = ("reconstruction",)

    def __init__(self, count: int = 2000) -> None:
        self.count = count
        self._parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if not self.serves(pl_module) or not tensorboard_writers(trainer):
            return
        missing = self.count - sum(len(part[0]) for part in self._parts)
        if missing > 0:
            self._parts.append(tuple(outputs[key][:missing].float().cpu() for key in ("code", "target", "labels")))

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        parts, self._parts = self._parts, []
        if not parts:
            return
        codes, images, labels = (torch.cat(column) for column in zip(*parts))
        names = pl_module.info.class_names
        metadata = [names[int(label)] for label in labels] if names else [str(int(label)) for label in labels]
        for writer in tensorboard_writers(trainer):
            writer.add_embedding(codes, metadata, label_img=images, global_step=trainer.global_step, tag="test/codes")
