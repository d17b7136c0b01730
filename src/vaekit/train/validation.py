"""Validation after every epoch: the plain ELBO's terms and active units where the model has latent variables, and
the objective's own figure (the one that picks the best epoch) where the loop does not compute it itself.

Rank 0 computes the figures and the other processes take them, so that every process keeps the same best epoch.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from vaekit.data.batch import Batch
from vaekit.estimate import summarize, with_posteriors
from vaekit.models import LatentVariableModel, for_batch
from vaekit.objectives import Objective
from vaekit.train import distributed
from vaekit.train.batches import TrainingData

#: The figures validation reports for a latent-variable model (means per datapoint; active units a count).
SUMMARY = ("elbo", "reconstruction", "kl", "active_units")
#: A model without an encoder (`amortised` False: q(z|lambda_i) per row) fits q to each validation row by gradient ascent
#: every epoch; it is validated on this many rows of the validation split (the first ones), not all.
PER_DATAPOINT_VALIDATION_ROWS = 1000
#: Validation rows scored at once for the objective's own figure.
_CHUNK = 1024


def latent_view(model: nn.Module, data: TrainingData, rows: slice = slice(None)) -> object:
    """The model validation scores on rows of the validation split: conditioned on their labels where the model is
    conditional (`vaekit.models.for_batch`), else the model itself."""
    return for_batch(model, Batch(data.x_valid[rows], None if data.y_valid is None else data.y_valid[rows]))


def validation_names(model: nn.Module, objective: Objective, data: TrainingData) -> list[str]:
    """The validation figures: the plain ELBO's terms and active units where the model (as validated) is a
    latent-variable model, and the objective's own figure where the loop does not compute it itself."""
    names = list(SUMMARY) if isinstance(latent_view(model, data, slice(0, 1)), LatentVariableModel) else []
    return names + ([objective.validation_figure] if objective.validation_figure not in names else [])


def _objective_figure(model: nn.Module, objective: Objective, data: TrainingData) -> float:
    """The mean of the objective's validation figure over the validation rows, nats per datapoint."""
    n, total = data.x_valid.shape[0], 0.0
    with torch.no_grad():
        for start in range(0, n, _CHUNK):
            y = None if data.y_valid is None else data.y_valid[start : start + _CHUNK]
            batch = Batch(data.x_valid[start : start + _CHUNK], y)
            total += float(objective.validate(model, batch).double().sum())
    return total / n


def validate(model: nn.Module, objective: Objective, data: TrainingData, group: distributed.Group,
             device: torch.device) -> dict[str, float]:
    """Validation figures by name (`validation_names`), means per datapoint (nats; active units a count)."""
    names = validation_names(model, objective, data)
    values = torch.zeros(len(names), dtype=torch.float64, device=device)
    if group.is_main:
        figures = []
        if names[: len(SUMMARY)] == list(SUMMARY):  # `validation_names` found a latent-variable model
            # A model without an encoder gets q(z|x) of the validation rows fitted here (`with_posteriors`).
            view = with_posteriors(latent_view(model, data), data.x_valid)
            summary = summarize(cast(LatentVariableModel, view), data.x_valid)
            figures = [summary.elbo, summary.reconstruction, summary.kl, summary.active_units]
        if len(names) > len(figures):
            figures.append(_objective_figure(model, objective, data))
        values = torch.tensor(figures, dtype=torch.float64, device=device)
    return dict(zip(names, distributed.from_main(values, group).tolist()))


__all__ = ["PER_DATAPOINT_VALIDATION_ROWS", "SUMMARY", "latent_view", "validate", "validation_names"]
