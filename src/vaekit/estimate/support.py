"""Checking data against a model's observation model before a hot loop runs with argument checks off."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor
from torch.distributions.constraints import Constraint

from vaekit.errors import DataError
from vaekit.models.protocol import x_distribution


@torch.no_grad()
def check_support(model: Any, x: Tensor, what: str) -> None:
    """Raise `DataError` unless every row of x [N, *data_shape] lies in the support of the model's distribution
    over x (p(x|z) of a latent-variable model, p(x|z, y) of a conditional one, a density model's conditionals);
    a model that does not model x (a classifier) takes any x.

    Evaluates that distribution at z = 0 (no random draw, so the caller's random stream is untouched).
    """
    px = x_distribution(model)
    if px is None:
        return
    inside = cast(Constraint, px.support).check(x)  # a distribution over x declares its support
    if not bool(inside.all()):
        bad = int((~inside).sum())
        raise DataError(f"{what}: {bad} of {len(x)} rows lie outside the support of the model's likelihood "
                        f"({px.support}); choose a likelihood that fits the data")
