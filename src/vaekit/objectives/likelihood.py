"""Maximum likelihood for fully observed models: minibatch SGD on the negative log-probability of what the
model models, with no latent variable and no bound.

    loss = -(1/B) sum_b log p(data_b)
    log p(data) = log p(y|x)          a classifier (`Classifier`: classify(x).log_prob(y))
                = log p(x)            a density model (`DensityModel`: log_prob(x), e.g. MADE)
                = log p(x) + log p(y|x) = log p(x, y)   a model that is both

The per-datapoint figure (training term and validation figure) is `log_likelihood`, in nats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vaekit.config import check
from vaekit.data.batch import Batch
from vaekit.errors import VaekitError
from vaekit.models.protocol import Classifier, DensityModel, labelled
from vaekit.objectives.registry import OBJECTIVES, Loss, Objective


@dataclass
class LikelihoodConfig:
    """Maximum likelihood has no settings; saved in a run's config.json under "objective"."""

    def __post_init__(self) -> None:
        check(self)


def log_probability(model: Any, batch: Batch) -> Tensor:
    """log p(y|x) for a classifier, log p(x) for a density model, their sum for a model that is both: [B], nats."""
    total = None
    if isinstance(model, DensityModel):
        total = model.log_prob(batch.x)
    if isinstance(model, Classifier):
        if not labelled(batch.y):
            raise VaekitError("a classifier's likelihood needs a label for every row, and this batch lacks some")
        part = model.classify(batch.x).log_prob(batch.y)
        total = part if total is None else total + part
    if total is None:
        raise VaekitError(f"{type(model).__name__} is neither a classifier nor a density model")
    return total


@OBJECTIVES.register("likelihood")
class Likelihood(Objective):
    """Maximise the exact log-likelihood of a fully observed model (see the module docstring)."""

    Config = LikelihoodConfig
    validation_figure = "log_likelihood"
    figure_label = "log-likelihood"

    def __call__(self, model: Any, batch: Batch, progress: float) -> Loss:
        log_p = log_probability(model, batch)
        return Loss(-log_p.mean(), {"log_likelihood": log_p})

    def check(self, model: Any) -> None:
        if not isinstance(model, (Classifier, DensityModel)):
            raise VaekitError(f"--objective likelihood fits fully observed models (a classifier, a density model such "
                              f"as made), and {type(model).__name__} has latent variables; use --objective elbo or "
                              "iwae")

    def needs_labels(self, model: Any) -> bool:
        return isinstance(model, Classifier)

    @torch.no_grad()
    def validate(self, model: Any, batch: Batch) -> Tensor:
        return log_probability(model, batch)

    def describe(self) -> str:
        return "the exact log-likelihood (maximum likelihood)"
