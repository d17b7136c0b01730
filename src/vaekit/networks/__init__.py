"""Encoder and decoder bodies: plain `nn.Module`s mapping tensors to raw distribution parameters.

    encoder, decoder = build("mlp", data_shape=(1, 28, 28), hidden=(400,), latent_dim=20, num_params=1)
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from vaekit.networks.conv import ConvDecoder, ConvEncoder, build_conv
from vaekit.networks.mlp import GaussianHead, MLPDecoder, MLPEncoder, build_mlp, mlp
from vaekit.networks.registry import NETWORKS


def build(network: str, data_shape: tuple[int, ...], hidden: Sequence[int], latent_dim: int, num_params: int
          ) -> tuple[nn.Module, nn.Module]:
    """The (encoder, decoder) pair registered as `network` in `NETWORKS`."""
    return NETWORKS[network](data_shape, hidden, latent_dim, num_params)


__all__ = ["NETWORKS", "ConvDecoder", "ConvEncoder", "GaussianHead", "MLPDecoder", "MLPEncoder", "build", "build_conv", "build_mlp",
           "mlp"]
