"""Encoder and decoder bodies: plain `nn.Module`s mapping tensors to raw distribution parameters.

    encoder, decoder = build("mlp", data_shape=(1, 28, 28), hidden=(400,), latent_dim=20, num_params=1)
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from vaekit.networks.conv import ConvDecoder, ConvEncoder, build_conv
from vaekit.networks.mlp import GaussianHead, MLPDecoder, MLPEncoder, build_mlp, mlp
from vaekit.networks.registry import NETWORKS


def build(network: str, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int, *,
          side: int = 0, heads: int = 2) -> tuple[nn.Module, nn.Module | None]:
    """The (encoder, decoder) pair registered as `network` in `NETWORKS`.

    The encoder maps x [B, *data_shape] (and optional side inputs s [B, side], e.g. a one-hot label) to
    [B, heads, latent_dim]: heads = 2 for a Gaussian's (location, unconstrained scale), 1 for logits. The decoder
    maps [..., latent_dim + side] (z with the side inputs concatenated) to [..., num_params, *data_shape]; with
    num_params = 0 there is no decoder (None), for a network that only reads x (a classifier).
    """
    return NETWORKS[network](data_shape, hidden, latent_dim, num_params, side=side, heads=heads)


__all__ = ["NETWORKS", "ConvDecoder", "ConvEncoder", "GaussianHead", "MLPDecoder", "MLPEncoder", "build", "build_conv", "build_mlp",
           "mlp"]
