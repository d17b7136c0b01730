"""The registry of encoder/decoder bodies (`--network`): name -> function building the (encoder, decoder) pair.

Encoders map x [B, *data_shape] to [B, 2, latent_dim] (location and unconstrained scale, from one fused output
layer). Decoders map z [..., latent_dim] to [..., num_params, *data_shape]. Builders also take the keywords `side`
(extra encoder inputs, concatenated to z for the decoder) and `heads` (encoder outputs per latent dimension);
see `vaekit.networks.build`. The probabilistic meaning of those
numbers lives in `vaekit.distributions`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vaekit.registry import Registry

Build = Callable[..., tuple[nn.Module, nn.Module | None]]

NETWORKS: Registry[Build] = Registry("network")
