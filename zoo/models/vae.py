"""The variational autoencoder (Kingma & Welling, "Auto-encoding variational Bayes", ICLR 2014):
an encoder gives the mean and log-variance of a Gaussian posterior over a ``latent_size`` code,
a sample of it (the reparameterisation trick: ``z = mu + sigma * eps``) is decoded by a
Bernoulli decoder, and the loss adds ``KL(q(z|x) || N(0, I))`` to the reconstruction error.

Follows the interface of ``zoo.models.autoencoder``; ``penalty`` is the KL divergence per image
divided by the number of pixels, so that with ``task.loss=bce`` (a per-pixel mean) the training
loss times the pixel count is the negative ELBO in nats per image. ``encode`` gives the
posterior mean; ``sample(n)`` decodes draws from the prior.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.models.autoencoder import AutoencoderOutput, activation_layer, check_input_size
from zoo.registry import register_model


class VAE(nn.Module):
    """Dense encoder ``in -> hidden_sizes -> (mu, log_var)``, dense decoder ``latent -> hidden_sizes
    reversed -> in -> sigmoid``."""

    def __init__(
        self, image_shape: Sequence[int], hidden_sizes: Sequence[int] = (512, 256), latent_size: int = 20,
        activation: str = "relu",
    ) -> None:  # fmt: skip
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.in_features = int(torch.tensor(self.image_shape).prod())
        self.code_size = self.latent_size = latent_size
        widths = [self.in_features, *hidden_sizes]
        trunk: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            trunk += [nn.Linear(fan_in, fan_out), activation_layer(activation)]
        self.encoder = nn.Sequential(*trunk)
        self.mu = nn.Linear(widths[-1], latent_size)
        self.log_var = nn.Linear(widths[-1], latent_size)
        reverse = [latent_size, *widths[::-1]]
        decoder: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(reverse[:-1], reverse[1:])):
            decoder.append(nn.Linear(fan_in, fan_out))
            if index < len(reverse) - 2:
                decoder.append(activation_layer(activation))
        self.decoder = nn.Sequential(*decoder)

    def encoder_network(self) -> nn.Module:
        """Images -> posterior means."""
        return nn.Sequential(self.encoder, self.mu)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)`` of ``q(z | x)``."""
        check_input_size(x, self.in_features, "variational autoencoder")
        hidden = self.encoder(x)
        return self.mu(hidden), self.log_var(hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(code)).view(-1, *self.image_shape)

    def forward(self, x: torch.Tensor) -> AutoencoderOutput:
        mu, log_var = self.posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var) if self.training else mu
        kl = -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1).mean()
        return AutoencoderOutput(self.decode(z), mu, kl / self.in_features)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` images decoded from ``z ~ N(0, I)``, in [0, 1]."""
        device = self.mu.weight.device
        z = torch.randn(count, self.latent_size, generator=generator, device=device)
        return self.decode(z)


@register_model(task="reconstruction")
def vae(
    in_channels: int = 1, input_size: int = 28, hidden_sizes: Sequence[int] = (512, 256), latent_size: int = 20,
    activation: str = "relu",
) -> VAE:  # fmt: skip
    """A dense VAE with a 20-dimensional latent (Kingma & Welling 2014 used 500 hidden units and 2-200 latents)."""
    return VAE((in_channels, input_size, input_size), list(hidden_sizes), latent_size, activation)
