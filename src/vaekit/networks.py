"""Encoder and decoder bodies: plain `nn.Module`s that map tensors to raw distribution parameters.

Encoders map x [B, *data_shape] to [B, 2, latent_dim] (location and unconstrained scale, from one fused
output layer). Decoders map z [..., latent_dim] to [..., num_params, *data_shape]. The probabilistic meaning
of those numbers lives in `model.py` and `likelihoods.py`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from torch import Tensor, nn

NETWORKS = ("mlp", "conv")


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x [B, *data_shape] -> [B, 2, latent_dim] through hidden ReLU layers."""

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.net = mlp([math.prod(data_shape), *hidden, 2 * latent_dim])
        self.latent_dim = latent_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).unflatten(-1, (2, self.latent_dim))


class MLPDecoder(nn.Module):
    """z [..., latent_dim] -> [..., num_params, *data_shape] through hidden ReLU layers."""

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int) -> None:
        super().__init__()
        self.out_shape = (num_params, *data_shape)
        self.net = mlp([latent_dim, *reversed(hidden), math.prod(self.out_shape)])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).unflatten(-1, self.out_shape)


def _conv_grid(data_shape: tuple[int, ...]) -> tuple[int, int]:
    """Spatial size after two stride-2 convolutions (kernel 4, padding 1, rounding up)."""
    _, h, w = data_shape
    return math.ceil(h / 4), math.ceil(w / 4)


class ConvEncoder(nn.Module):
    """Images [B, C, H, W] -> [B, 2, latent_dim]: two stride-2 convolutions, then an MLP."""

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, channels: int = 32) -> None:
        super().__init__()
        c, h, w = data_shape
        gh, gw = _conv_grid(data_shape)
        # Pad to a multiple of 4 so both halvings are exact and the decoder can mirror them.
        self.pad = (0, 4 * gw - w, 0, 4 * gh - h)
        self.conv = nn.Sequential(
            nn.Conv2d(c, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
        )
        self.head = mlp([2 * channels * gh * gw, *hidden, 2 * latent_dim])
        self.latent_dim = latent_dim

    def forward(self, x: Tensor) -> Tensor:
        x = nn.functional.pad(x, self.pad)
        return self.head(self.conv(x).flatten(1)).unflatten(-1, (2, self.latent_dim))


class ConvDecoder(nn.Module):
    """z [..., latent_dim] -> [..., num_params, C, H, W]: an MLP, then two stride-2 transposed convolutions."""

    def __init__(
        self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int, channels: int = 32
    ) -> None:
        super().__init__()
        c, self.h, self.w = data_shape
        self.grid = (2 * channels, *_conv_grid(data_shape))
        self.head = nn.Sequential(mlp([latent_dim, *reversed(hidden), math.prod(self.grid)]), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(channels, num_params * c, 4, stride=2, padding=1),
        )
        self.out_shape = (num_params, c, self.h, self.w)

    def forward(self, z: Tensor) -> Tensor:
        batch = z.shape[:-1]
        y = self.deconv(self.head(z.reshape(-1, z.shape[-1])).unflatten(-1, self.grid))  # (N, P*C, 4gh, 4gw)
        y = y[..., : self.h, : self.w]
        return y.reshape(*batch, *self.out_shape)


def build(network: str, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int
          ) -> tuple[nn.Module, nn.Module]:
    """The (encoder, decoder) pair for a network name in `NETWORKS`."""
    if network == "mlp":
        return MLPEncoder(data_shape, hidden, latent_dim), MLPDecoder(data_shape, hidden, latent_dim, num_params)
    if network == "conv":
        if len(data_shape) != 3:
            raise ValueError(f"network 'conv' needs image data shaped (C, H, W); this data has shape {data_shape}")
        return ConvEncoder(data_shape, hidden, latent_dim), ConvDecoder(data_shape, hidden, latent_dim, num_params)
    raise ValueError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
