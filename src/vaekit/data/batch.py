"""A minibatch: the data rows, their labels where the data has them, and their row indices in the split."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """x [B, *data_shape] as the model sees it; y [B] integer labels or None; index [B] rows of the split or None
    (for per-datapoint parameters)."""

    x: Tensor
    y: Tensor | None = None
    index: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]
