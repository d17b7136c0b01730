"""The registry of encoder/decoder bodies (`--network`): name -> function building the (encoder, decoder) pair.

Encoders map x [B, *data_shape] to [B, 2, latent_dim] (location and unconstrained scale, from one fused output
layer). Decoders map z [..., latent_dim] to [..., num_params, *data_shape]. The probabilistic meaning of those
numbers lives in `vaekit.distributions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from vaekit.registry import Registry

Build = Callable[[tuple[int, ...], Sequence[int], int, int], tuple[nn.Module, nn.Module]]

NETWORKS: Registry[Build] = Registry("network")
