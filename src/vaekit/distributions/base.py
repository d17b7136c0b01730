"""Small pieces shared by the distributions: the diagonal Gaussian of a network's raw output, and turning
argument checks off inside hot loops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal


def diagonal_gaussian(raw: Tensor, min_scale: float) -> Independent:
    """N(loc, diag(scale^2)) from a network's raw output [..., 2, d] (location, unconstrained scale).

    scale = softplus(raw scale) + min_scale: the floor keeps log q finite when a network tries to collapse a
    dimension to a point. Batch shape [...], event shape [d].
    """
    loc, raw_scale = raw.unbind(-2)
    return Independent(Normal(loc, F.softplus(raw_scale) + min_scale), 1)


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
