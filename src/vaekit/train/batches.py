"""The training data as the loop sees it: the splits on the training device, preprocessed once where the pipeline
is deterministic, and the batches of an epoch as row indices into one resident tensor (no per-item Python)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaekit.data.batch import UNLABELLED, Batch
from vaekit.data.pipeline import Pipeline
from vaekit.data.splits import Splits
from vaekit.errors import DataError
from vaekit.estimate import check_support


@dataclass
class TrainingData:
    """The splits on the training device, as the model sees them."""

    x_train: Tensor              # stored rows (uint8 or float32)
    y_train: Tensor | None       # labels [N] where the data has them (UNLABELLED where --labelled dropped one)
    train_view: Tensor | None    # the fixed training view, or None when the pipeline draws fresh noise
    x_valid: Tensor
    y_valid: Tensor | None
    pipeline: Pipeline
    labelled_rows: Tensor | None = None  # rows with a label, where only some have one (semi-supervised)

    @property
    def n(self) -> int:
        return self.x_train.shape[0]

    def batch(self, index: Tensor, generator: torch.Generator) -> Batch:
        """Rows `index` of the training split, with new noise where the pipeline is stochastic."""
        x = self.train_view[index] if self.train_view is not None else self.pipeline.fresh(self.x_train[index], generator)
        return Batch(x, None if self.y_train is None else self.y_train[index], index)

    def epoch_batches(self, generator: torch.Generator, batch_size: int, labelled_batch: int) -> list[Tensor]:
        """The row indices of each batch of an epoch: a fresh permutation of the rows in slices of `batch_size`, and,
        where only some rows are labelled, `labelled_batch` more rows of each batch drawn in turn from a fresh
        permutation of the labelled ones (so that a few labels are seen in every batch)."""
        order = torch.randperm(self.n, generator=generator, device=self.x_train.device)
        slices = list(order.split(batch_size))
        if not labelled_batch or self.labelled_rows is None:
            return slices
        wanted = len(slices) * labelled_batch
        repeats = -(-wanted // len(self.labelled_rows))
        extra = torch.cat([self.labelled_rows[torch.randperm(len(self.labelled_rows), generator=generator,
                                                             device=self.x_train.device)] for _ in range(repeats)])
        return [torch.cat([rows, extra[i * labelled_batch : (i + 1) * labelled_batch]]) for i, rows in enumerate(slices)]

    def first_validation_rows(self, n: int) -> TrainingData:
        """The same data, validated on the first `n` validation rows only."""
        return dataclasses.replace(self, x_valid=self.x_valid[:n], y_valid=None if self.y_valid is None else
                                   self.y_valid[:n])


def labelled_only(splits: Splits, needed: bool) -> Splits:
    """The splits an objective trains on: the labelled training rows only, where it needs a label for every row."""
    if not needed:
        return splits
    if splits.y_train is None or splits.y_valid is None:
        raise DataError(f"{splits.name} has no labels, and this model and objective need a label for every row; give "
                        "labelled data (see `vaekit datasets`; --label-column for a CSV file)")
    keep = splits.y_train != UNLABELLED
    return dataclasses.replace(splits, x_train=splits.x_train[keep], y_train=splits.y_train[keep])


def prepare_data(model: nn.Module, splits: Splits, pipeline: Pipeline, device: torch.device) -> TrainingData:
    """The splits on `device` through `pipeline`, checked once against the model's support (so that the loop can
    run with argument checks off)."""
    # Deterministic pipelines are applied once, on the CPU so that every device sees the same draws; stochastic
    # ones draw fresh noise for every batch.
    known = None if splits.y_train is None else splits.y_train != UNLABELLED
    partly = known is not None and not bool(known.all())
    data = TrainingData(
        x_train=splits.x_train.to(device),
        y_train=None if splits.y_train is None else splits.y_train.to(device),
        train_view=None if pipeline.stochastic else pipeline.fixed(splits.x_train, "train").to(device),
        x_valid=pipeline.fixed(splits.x_valid, "valid").to(device),
        y_valid=None if splits.y_valid is None else splits.y_valid.to(device),
        pipeline=pipeline,
        labelled_rows=torch.nonzero(known).flatten().to(device) if partly and known is not None else None,
    )
    sample = data.train_view if data.train_view is not None else pipeline.fresh(
        data.x_train[:256], torch.Generator(device=device).manual_seed(0))
    for name, view in (("train", sample), ("validation", data.x_valid)):
        check_support(model, view, f"{splits.name} ({name} split)")
    return data


__all__ = ["TrainingData", "labelled_only", "prepare_data"]
