"""Convolutional bodies for images [C, H, W]: two stride-2 convolutions and an MLP, mirrored in the decoder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from torch import Tensor, nn

from vaekit.networks.mlp import linear_with_side, mlp
from vaekit.networks.registry import NETWORKS


def _conv_grid(data_shape: tuple[int, ...]) -> tuple[int, int]:
    """Spatial size after two stride-2 convolutions (kernel 4, padding 1, rounding up)."""
    _, h, w = data_shape
    return math.ceil(h / 4), math.ceil(w / 4)


class ConvEncoder(nn.Module):
    """Images [B, C, H, W] -> [..., B, heads, latent_dim]: two stride-2 convolutions, then an MLP (which also takes
    the side inputs s [..., B, side], concatenated to the convolutions' features)."""

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, channels: int = 32,
                 side: int = 0, heads: int = 2) -> None:
        super().__init__()
        c, h, w = data_shape
        gh, gw = _conv_grid(data_shape)
        # Pad to a multiple of 4 so both halvings are exact and the decoder can mirror them.
        self.pad = (0, 4 * gw - w, 0, 4 * gh - h)
        self.conv = nn.Sequential(
            nn.Conv2d(c, channels, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.ReLU(),
        )
        self.head = mlp([2 * channels * gh * gw + side, *hidden, heads * latent_dim])
        self.latent_dim, self.heads = latent_dim, heads

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        h = linear_with_side(cast(nn.Linear, self.head[0]), self.conv(nn.functional.pad(x, self.pad)).flatten(1), side)
        return self.head[1:](h).unflatten(-1, (self.heads, self.latent_dim))


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


@NETWORKS.register("conv")
def build_conv(data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int, *,
               side: int = 0, heads: int = 2) -> tuple[nn.Module, nn.Module | None]:
    """A convolutional encoder and decoder, for image data shaped (C, H, W); see `vaekit.networks.build`."""
    if len(data_shape) != 3:
        raise ValueError(f"network 'conv' needs image data shaped (C, H, W); this data has shape {data_shape}")
    decoder = ConvDecoder(data_shape, hidden, latent_dim + side, num_params) if num_params else None
    return ConvEncoder(data_shape, hidden, latent_dim, side=side, heads=heads), decoder
