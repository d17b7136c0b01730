"""Observation models p(x|z): turn a decoder's raw output into a `torch.distributions.Distribution` over x.

Every observation model is a `torch.distributions` object wrapped in `Independent`, so `log_prob(x)` already
sums over the data dimensions and returns one log-density per datapoint, in nats.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, ContinuousBernoulli, Distribution, Independent, Normal

#: Names accepted by `ModelConfig.likelihood`, with the number of decoder outputs per data dimension.
LIKELIHOODS: dict[str, int] = {
    "bernoulli": 1,             # logits; binary data
    "gaussian": 2,              # mean and a learned per-dimension scale
    "gaussian-fixed": 1,        # mean; the scale is a fixed configured sigma
    "continuous-bernoulli": 1,  # logits; data in [0, 1] (Loaiza-Ganem & Cunningham 2019)
}

#: Likelihoods that are densities over real values (their log p(x) is not a probability).
CONTINUOUS = frozenset({"gaussian", "gaussian-fixed", "continuous-bernoulli"})


@contextmanager
def unchecked() -> Iterator[None]:
    """Turn off torch.distributions' argument and support checks inside hot loops.

    Only for loops whose inputs were checked once beforehand: the checks cost a pass over every tensor (about
    8% of an importance-sampling evaluation) and would repeat the same verdict on the same data.
    """
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


@dataclass(frozen=True)
class ObservationModel:
    """A family p(x|z) parameterised by the decoder's raw output.

    Args:
        name: one of `LIKELIHOODS`.
        data_shape: the event shape of x, e.g. (1, 28, 28) or (D,).
        fixed_scale: the standard deviation of `gaussian-fixed`, in data units.
        min_scale: floor on the learned standard deviation of `gaussian`, so the density stays bounded.
    """

    name: str
    data_shape: tuple[int, ...]
    fixed_scale: float = 0.1
    min_scale: float = 1e-3

    def __post_init__(self) -> None:
        if self.name not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {self.name!r}; choose one of {', '.join(LIKELIHOODS)}")
        if self.fixed_scale <= 0 or self.min_scale <= 0:
            raise ValueError("fixed_scale and min_scale must be positive")

    @property
    def num_params(self) -> int:
        """Decoder outputs per data dimension."""
        return LIKELIHOODS[self.name]

    @property
    def is_continuous(self) -> bool:
        return self.name in CONTINUOUS

    def __call__(self, raw: Tensor) -> Distribution:
        """Build p(x|z).

        Args:
            raw: decoder output, shape [..., num_params, *data_shape].

        Returns:
            A distribution with batch shape [...] and event shape `data_shape`.
        """
        params = raw.unbind(-len(self.data_shape) - 1)
        rank = len(self.data_shape)
        if self.name == "bernoulli":
            return Independent(Bernoulli(logits=params[0]), rank)
        if self.name == "continuous-bernoulli":
            return Independent(ContinuousBernoulli(logits=params[0]), rank)
        if self.name == "gaussian":
            scale = F.softplus(params[1]) + self.min_scale
            return Independent(Normal(params[0], scale), rank)
        return Independent(Normal(params[0], torch.full_like(params[0], self.fixed_scale)), rank)

    @staticmethod
    def mean(px_z: Distribution) -> Tensor:
        """The mean of p(x|z) (what pictures show), shape [..., *data_shape]."""
        return px_z.mean
