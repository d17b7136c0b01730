"""MLP bodies: linear layers with ReLU between them, for data of any shape (flattened)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from vaekit.networks.registry import NETWORKS


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    """h [..., d_in] -> [..., 2, d_out] (location, unconstrained scale) through hidden ReLU layers; any leading
    dimensions, so that it can map a batch of samples [K, B, d_in] (the conditionals of a hierarchy)."""

    def __init__(self, d_in: int, hidden: Sequence[int], d_out: int) -> None:
        super().__init__()
        self.net = mlp([d_in, *hidden, 2 * d_out])
        self.d_out = d_out

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h).unflatten(-1, (2, self.d_out))


def linear_with_side(layer: nn.Linear, h: Tensor, side: Tensor | None) -> Tensor:
    """`layer` applied to [h, side] (concatenated): h [B, n] and side [..., B, m] with any leading dimensions, the
    output [..., B, out]. h's part of the product is computed once for every leading index of side (several
    labels for the same x, as M2's sum over classes needs)."""
    if side is None:
        return layer(h)
    n = h.shape[-1]
    return F.linear(h, layer.weight[:, :n], layer.bias) + F.linear(side, layer.weight[:, n:])


class MLPEncoder(nn.Module):
    """x [B, *data_shape] (and side inputs s [..., B, side], concatenated to the flattened x) -> [..., B, heads,
    latent_dim] through hidden ReLU layers."""

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, side: int = 0,
                 heads: int = 2) -> None:
        super().__init__()
        self.net = mlp([math.prod(data_shape) + side, *hidden, heads * latent_dim])
        self.latent_dim, self.heads = latent_dim, heads

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        h = linear_with_side(cast(nn.Linear, self.net[0]), x.flatten(1), side)
        return self.net[1:](h).unflatten(-1, (self.heads, self.latent_dim))


class MLPDecoder(nn.Module):
    """z [..., latent_dim] -> [..., num_params, *data_shape] through hidden ReLU layers."""

    def __init__(self, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int) -> None:
        super().__init__()
        self.out_shape = (num_params, *data_shape)
        self.net = mlp([latent_dim, *reversed(hidden), math.prod(self.out_shape)])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).unflatten(-1, self.out_shape)


@NETWORKS.register("mlp")
def build_mlp(data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int, *,
              side: int = 0, heads: int = 2) -> tuple[nn.Module, nn.Module | None]:
    """An MLP encoder and decoder (the decoder mirrors the encoder's hidden widths); see `vaekit.networks.build`."""
    decoder = MLPDecoder(data_shape, hidden, latent_dim + side, num_params) if num_params else None
    return MLPEncoder(data_shape, hidden, latent_dim, side, heads), decoder
