"""PCA, the linear baseline of autoencoders: the ``k`` leading principal components of the training
images reconstruct an image from ``k`` numbers with the least squared error any linear code can
reach (Hinton & Salakhutdinov 2006 compare their 30-unit autoencoder with 30-component PCA)."""

from __future__ import annotations

from typing import Any, Callable

import torch


class PCA:
    """Projection on the ``components`` (``(k, D)``, orthonormal rows) around ``mean`` (``(D,)``)."""

    def __init__(self, mean: torch.Tensor, components: torch.Tensor) -> None:
        self.mean, self.components = mean, components

    @classmethod
    def fit(cls, data: torch.Tensor, k: int) -> "PCA":
        """The ``k`` leading components of ``(N, D)`` data (eigenvectors of the covariance, in float64)."""
        return cls.from_moments(data.double().sum(0), data.double().T @ data.double(), len(data), k)

    @classmethod
    def from_moments(cls, total: torch.Tensor, gram: torch.Tensor, count: int, k: int) -> "PCA":
        """From the sum and the Gram matrix ``X^T X`` of ``count`` rows (so data can come in chunks)."""
        if not 0 < k <= len(total):
            raise ValueError(f"PCA needs 1 to {len(total)} components, got {k}")
        mean = total / count
        covariance = gram / count - torch.outer(mean, mean)
        _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
        return cls(mean.float(), vectors[:, -k:].flip(1).T.contiguous().float())

    def encode(self, data: torch.Tensor) -> torch.Tensor:
        return (data - self.mean.to(data.device)) @ self.components.to(data.device).T

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return codes @ self.components.to(codes.device) + self.mean.to(codes.device)

    def reconstruct(self, data: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` -> its projection on the components, back in the data's space."""
        return self.decode(self.encode(data))


def fit_pca_on_split(
    datamodule: Any, k: int, to_pixels: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
    split: str = "train", chunk: int = 5000,
) -> PCA:  # fmt: skip
    """PCA of an in-memory data module's ``split`` as the model sees it: preprocessed on ``device``
    (resized and normalised), then mapped back to pixels by ``to_pixels``."""
    images = datamodule.raw_split(split).images
    total = gram = None
    for start in range(0, len(images), chunk):
        pixels = to_pixels(datamodule.preprocess(images[start : start + chunk].to(device))).flatten(1).double()
        total = pixels.sum(0) if total is None else total + pixels.sum(0)
        gram = pixels.T @ pixels if gram is None else gram + pixels.T @ pixels
    return PCA.from_moments(total.cpu(), gram.cpu(), len(images), k)
