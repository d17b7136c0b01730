"""A minibatch (the data rows, their labels where the data has them, their row indices in the split) and the label
of an unlabelled row: a leaf module (torch only), so that models, objectives and estimators can speak of batches
without loading the data readers."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

#: The label of a training row whose label is not used (`vaekit.data.keep_labels`: semi-supervised training).
UNLABELLED = -1


@dataclass(frozen=True)
class Batch:
    """x [B, *data_shape] as the model sees it; y [B] integer labels or None; index [B] rows of the split or None
    (for per-datapoint parameters)."""

    x: Tensor
    y: Tensor | None = None
    index: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]
