"""Observation models p(x|z): turn a decoder's raw output into a `torch.distributions.Distribution` over x.

Every observation model is registered in `OBSERVATIONS` under the name `--likelihood` takes, says how many decoder
outputs it needs per data dimension and which scale setting it reads (`needs_scale`), and returns a
`torch.distributions` object wrapped in `Independent`, so that `log_prob(x)` already sums over the data dimensions:
one log-density per datapoint, in nats. A new observation model is one subclass of `Observation` with one `register`
line.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Bernoulli, ContinuousBernoulli, Distribution, Independent, Normal

from vaekit.registry import Registry

OBSERVATIONS: Registry[type[Observation]] = Registry("likelihood")


class Observation:
    """A family p(x|z) parameterised by the decoder's raw output.

    Args:
        data_shape: the event shape of x, e.g. (1, 28, 28) or (D,).
        fixed_scale: the standard deviation of `gaussian-fixed`, in data units.
        min_scale: floor on a learned standard deviation, so the density stays bounded.
    """

    name: ClassVar[str]
    num_params: ClassVar[int]  # decoder outputs per data dimension
    continuous: ClassVar[bool]  # a density over real values (its log p(x) is not a probability)
    binary: ClassVar[bool] = False  # defined on {0, 1} only: the data must be binary (or binarized)
    # The scale setting the family reads, so that a config offers it for this family only: "fixed" (its standard
    # deviation, `fixed_scale`), "floor" (the floor on a learned one, `min_scale`), or None.
    needs_scale: ClassVar[str | None] = None

    def __init__(self, data_shape: tuple[int, ...], *, fixed_scale: float = 0.1, min_scale: float = 1e-3) -> None:
        if fixed_scale <= 0 or min_scale <= 0:
            raise ValueError("fixed_scale and min_scale must be positive")
        self.data_shape = tuple(data_shape)
        self.fixed_scale = fixed_scale
        self.min_scale = min_scale

    def distribution(self, params: tuple[Tensor, ...]) -> Distribution:
        """The elementwise distribution from `num_params` tensors, each [..., *data_shape]."""
        raise NotImplementedError

    def __call__(self, raw: Tensor) -> Distribution:
        """Build p(x|z).

        Args:
            raw: decoder output, shape [..., num_params, *data_shape].

        Returns:
            A distribution with batch shape [...] and event shape `data_shape`.
        """
        dim = -len(self.data_shape) - 1
        # One parameter: squeeze (a view both ways) rather than unbind, whose backward stacks a copy of the whole
        # gradient [..., 1, *data_shape] -- with K importance samples, a K x batch x data copy every step.
        params = (raw.squeeze(dim),) if raw.shape[dim] == 1 else raw.unbind(dim)
        return Independent(self.distribution(params), len(self.data_shape))


@OBSERVATIONS.register("bernoulli")
class BernoulliObservation(Observation):
    """Bernoulli(logits) per dimension: binary data."""

    num_params, continuous, binary = 1, False, True

    def distribution(self, params: tuple[Tensor, ...]) -> Distribution:
        return Bernoulli(logits=params[0])


@OBSERVATIONS.register("gaussian")
class GaussianObservation(Observation):
    """Normal(mean, softplus(raw) + min_scale) per dimension: a learned diagonal variance."""

    num_params, continuous, needs_scale = 2, True, "floor"

    def distribution(self, params: tuple[Tensor, ...]) -> Distribution:
        return Normal(params[0], F.softplus(params[1]) + self.min_scale)


@OBSERVATIONS.register("gaussian-fixed")
class FixedGaussianObservation(Observation):
    """Normal(mean, fixed_scale) per dimension: a configured, fixed noise level."""

    num_params, continuous, needs_scale = 1, True, "fixed"

    def distribution(self, params: tuple[Tensor, ...]) -> Distribution:
        return Normal(params[0], torch.full_like(params[0], self.fixed_scale))


@OBSERVATIONS.register("continuous-bernoulli")
class ContinuousBernoulliObservation(Observation):
    """ContinuousBernoulli(logits) per dimension: data in [0, 1] (Loaiza-Ganem & Cunningham 2019)."""

    num_params, continuous = 1, True

    def distribution(self, params: tuple[Tensor, ...]) -> Distribution:
        return ContinuousBernoulli(logits=params[0])
