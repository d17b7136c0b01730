"""MADE (Germain, Gregor, Murray & Larochelle 2015): a fully observed density model p(x) = prod_d p(x_d | x_<d),
every conditional from one pass of a masked MLP (`vaekit.networks.masked`), in the natural ordering of x's
dimensions (flattened, row by row) with a single mask.

Each conditional is one dimension of a registered observation model (`vaekit.distributions.OBSERVATIONS`):
Bernoulli for binary data, Gaussian for continuous. log p(x) is exact (no latent variable, no importance
sampling); sampling is ancestral, one network pass per dimension. Training is maximum likelihood
(`--objective likelihood`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.config import option
from vaekit.models.registry import MODELS
from vaekit.models.vae import ObservationConfig
from vaekit.networks.masked import MaskedMLP


@dataclass
class MADEConfig(ObservationConfig):
    """MADE's architecture (default: the paper's one hidden layer of 500 units, one mask)."""

    hidden: tuple[int, ...] = option((500,), "hidden layer widths (encoder order)", minimum=1)
    mask_seed: int = option(0, "seed of the hidden units' degrees (the connectivity mask)", minimum=0)

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        return (f"MADE: p(x) = prod_d p(x_d | x_<d) over {math.prod(self.data_shape)} dimensions in the natural "
                f"order, {self.likelihood} conditionals from one masked MLP (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}, one mask)")


@MODELS.register("made")
class MADE(nn.Module):
    """The `DensityModel` protocol: exact `log_prob(x)` and ancestral `sample(n)`; `conditionals(x)` too."""

    Config = MADEConfig
    default_objective = "likelihood"

    def __init__(self, config: MADEConfig) -> None:
        super().__init__()
        self.config = config
        self.observation = config.observation()
        self.net = MaskedMLP(math.prod(config.data_shape), config.hidden, self.observation.num_params,
                             config.mask_seed)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def conditionals(self, x: Tensor) -> Distribution:
        """prod_d p(x_d | x_<d) with x_<d read from x [B, *data_shape]: batch [B], event `data_shape`; its
        `log_prob(x)` at the same x is log p(x)."""
        raw = self.net(x.flatten(1))  # [B, num_params, D]
        return self.observation(raw.unflatten(-1, self.config.data_shape))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) for x [B, *data_shape]: [B], nats."""
        return self.conditionals(x).log_prob(x)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """n draws x ~ p(x), dimension by dimension (D network passes): [n, *data_shape]."""
        weight = next(self.parameters())
        x = torch.zeros(n, *self.config.data_shape, dtype=weight.dtype, device=weight.device)
        flat = x.view(n, -1)
        for d in range(flat.shape[1]):
            flat[:, d] = self.conditionals(x).sample().reshape(n, -1)[:, d]
        return x
