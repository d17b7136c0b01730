"""Checking data against a model's observation model before a hot loop runs with argument checks off."""

from __future__ import annotations

import torch
from torch import Tensor

from vaekit.errors import DataError
from vaekit.models.protocol import LatentVariableModel, dtype_of


@torch.no_grad()
def check_support(model: LatentVariableModel, x: Tensor, what: str) -> None:
    """Raise `DataError` unless every row of x [N, *data_shape] lies in the support of the model's p(x|z).

    Decodes z = 0 (no random draw, so the caller's random stream is untouched).
    """
    pz = model.prior()
    z = torch.zeros(1, *pz.event_shape, dtype=dtype_of(model), device=x.device)
    px_z = model.decode(z)
    inside = px_z.support.check(x)
    if not bool(inside.all()):
        bad = int((~inside).sum())
        raise DataError(f"{what}: {bad} of {len(x)} rows lie outside the support of the model's likelihood "
                        f"({px_z.support}); choose a likelihood that fits the data")
