"""MADE (Germain, Gregor, Murray & Larochelle 2015): a fully observed density model p(x) = prod_d p(x_d | x_<d),
every conditional from one pass of a masked MLP (`vaekit.networks.masked`), in the natural ordering of x's
dimensions (flattened, row by row) or a seeded random one, optionally with direct input-to-output connections.

Each conditional is one dimension of a registered observation model (`vaekit.distributions.OBSERVATIONS`):
Bernoulli for binary data, Gaussian for continuous. log p(x) is exact (no latent variable, no importance
sampling); sampling is ancestral, one network pass per dimension. Training is maximum likelihood
(`--objective likelihood`).

With several masks (`masks` M > 1, the paper's order- and connectivity-agnostic training) each training step uses
the next mask in turn, so training maximises the average over masks of log p_m(x); the model's density is the
mixture of the M autoregressive models, p(x) = (1/M) sum_m p_m(x) (the paper's ensemble at test time), which is
normalised and exact: `log_prob` computes it with M network passes. Sampling picks a mask uniformly per draw.
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
from vaekit.networks.masked import ORDERS, MaskedMLP


@dataclass
class MADEConfig(ObservationConfig):
    """MADE's architecture (default: the paper's one hidden layer of 500 units, one mask, the natural order)."""

    hidden: tuple[int, ...] = option((500,), "hidden layer widths (encoder order)", minimum=1)
    mask_seed: int = option(0, "seed of the hidden units' degrees (the connectivity mask) and of a random order",
                            minimum=0)
    order: str = option("natural", "ordering of x's dimensions: natural (row by row) or random (drawn with "
                        "--mask-seed)", choices=ORDERS)
    direct: bool = option(False, "direct connections from every input to the outputs after it")
    masks: int = option(1, "masks cycled in training (one per step; a new order each when --order random); "
                        "log p(x) is exact for their mixture", minimum=1, maximum=4096)

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        masks = "one mask" if self.masks == 1 else f"the mixture of {self.masks} masks"
        return (f"MADE: p(x) = prod_d p(x_d | x_<d) over {math.prod(self.data_shape)} dimensions in the {self.order} "
                f"order, {self.likelihood} conditionals from one masked MLP (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}, {masks}"
                f"{', direct connections' if self.direct else ''})")


@MODELS.register("made")
class MADE(nn.Module):
    """The `DensityModel` protocol: exact `log_prob(x)` and ancestral `sample(n)`; `conditionals(x)` too."""

    Config = MADEConfig
    default_objective = "likelihood"
    steps: Tensor

    def __init__(self, config: MADEConfig) -> None:
        super().__init__()
        self.config = config
        self.observation = config.observation()
        self.net = MaskedMLP(math.prod(config.data_shape), config.hidden, self.observation.num_params,
                             config.mask_seed, config.order, config.direct, config.masks)
        if config.masks > 1:  # training steps taken: which mask the next one uses (saved, so resume continues)
            self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def conditionals(self, x: Tensor) -> Distribution:
        """prod_d p(x_d | x_<d) under the current mask, x_<d read from x [B, *data_shape]: batch [B], event
        `data_shape`; its `log_prob(x)` at the same x is log p_m(x)."""
        raw = self.net(x.flatten(1))  # [B, num_params, D]
        return self.observation(raw.unflatten(-1, self.config.data_shape))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) for x [B, *data_shape]: [B], nats. With several masks: in training, log p_m(x) under the
        next mask in turn; otherwise the mixture's log (1/M) sum_m p_m(x)."""
        masks = self.config.masks
        if masks == 1:
            return self.conditionals(x).log_prob(x)
        if self.training:
            self.net.use_mask(int(self.steps) % masks)
            self.steps += 1
            return self.conditionals(x).log_prob(x)
        per_mask = []
        for m in range(masks):
            self.net.use_mask(m)
            per_mask.append(self.conditionals(x).log_prob(x))
        return torch.logsumexp(torch.stack(per_mask), 0) - math.log(masks)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """n draws x ~ p(x), dimension by dimension in the ordering (D network passes per mask used): [n,
        *data_shape]. With several masks each draw comes from a mask chosen uniformly."""
        weight = next(self.parameters())
        x = torch.zeros(n, *self.config.data_shape, dtype=weight.dtype, device=weight.device)
        flat = x.view(n, -1)
        masks = self.config.masks
        chosen = torch.randint(masks, (n,), device=weight.device) if masks > 1 else torch.zeros(n, dtype=torch.long)
        for m in range(masks):
            rows = torch.nonzero(chosen.to(weight.device) == m).flatten()
            if not len(rows):
                continue
            self.net.use_mask(m)
            part = x[rows]
            for d in self.net.ordering(m).tolist():
                part.view(len(rows), -1)[:, d] = self.conditionals(part).sample().reshape(len(rows), -1)[:, d]
            flat[rows] = part.view(len(rows), -1)
        return x
