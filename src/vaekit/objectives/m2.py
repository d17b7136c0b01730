"""The semi-supervised objective of M2 (Kingma, Rezende, Mohamed & Welling 2014), for a model with p(y)
(`label_prior`), p(x, z | y) (`given`) and a classifier q(y|x) (`classify`):

    labelled row (x, y):  L(x, y) = E_q(z|x,y)[log p(x|y, z)] - KL(q(z|x, y) || p(z)) + log p(y)
                          (the ELBO of log p(x, y)), plus the classification term a log q(y|x)
    unlabelled row x:     U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))   (the ELBO of log p(x), q(y, z|x) = q(y|x) q(z|x, y))

    loss = -(1/B) [ sum_labelled (L(x, y) + a log q(y|x)) + sum_unlabelled U(x) ]

with a = alpha N / N_l per labelled row (N training rows, N_l of them labelled; the paper's alpha = 0.1): the
paper's J^alpha = J + alpha E_labelled[log q(y|x)] with the expectation written as a sum over the N_l points,
scaled as in the paper's alpha = 0.1 N. The sum over y in U(x) is explicit: every unlabelled row is decoded once
per class, in one batch (the model's `given` takes labels [K, B]). The ELBOs use one reparameterised draw of z and
the analytic KL.

Training terms (per row, nats): `bound` = L(x, y) on labelled rows and U(x) on unlabelled ones, `objective` = the
row's part of the loss above (negated). The validation figure is `unlabelled_bound`, U(x) of every validation
row with its label ignored: a lower bound on log p(x) that needs no validation labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from vaekit.config import check, option
from vaekit.data.batch import UNLABELLED, Batch
from vaekit.errors import VaekitError
from vaekit.estimate.bounds import elbo
from vaekit.objectives.registry import OBJECTIVES, Loss, Objective


@dataclass
class M2ObjectiveConfig:
    """Settings of M2's objective; saved in a run's config.json under "objective"."""

    alpha: float = option(0.1, "weight of the classification term log q(y|x): alpha N / N_labelled per labelled "
                          "row (Kingma et al. 2014: 0.1)", minimum=0)

    def __post_init__(self) -> None:
        check(self)


def class_bounds(model: Any, x: Tensor, y: Tensor | None = None) -> Tensor:
    """L(x, y) = ELBO of log p(x, y) (one draw of z, analytic KL), nats: for the given labels y [B] a tensor [B]; for
    y None, every class for every row, [K, B] (labels [K, B] through one view: all K * B rows decoded as one batch)."""
    if y is None:
        y = torch.arange(model.num_classes, device=x.device)[:, None].expand(-1, x.shape[0])
    return elbo(model.given(y), x).elbo + model.label_prior().log_prob(y)


def unlabelled_bound(model: Any, x: Tensor, q_y: torch.distributions.Categorical | None = None) -> Tensor:
    """U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)) [B], nats: a lower bound on log p(x)."""
    q_y = model.classify(x) if q_y is None else q_y
    return (q_y.probs * class_bounds(model, x).T).sum(-1) + q_y.entropy()


@OBJECTIVES.register("m2")
class M2Objective(Objective):
    """Labelled and unlabelled bounds with the weighted classification term (see the module docstring)."""

    Config = M2ObjectiveConfig
    validation_figure = "unlabelled_bound"
    figure_label = "unlabelled bound U(x)"
    term_labels: ClassVar[dict[str, str]] = {"bound": "bound L or U", "objective": "objective"}

    def __init__(self, config: M2ObjectiveConfig) -> None:
        super().__init__(config)
        self.weight = config.alpha  # a = alpha N / N_l; `prepare` sets N / N_l from the training labels

    def prepare(self, y_train: Tensor | None) -> None:
        if y_train is None:
            raise VaekitError("--objective m2 needs labels, and the data has none; give labelled data")
        n_labelled = int((y_train != UNLABELLED).sum())
        if n_labelled == 0:
            raise VaekitError("--objective m2 needs some labelled training rows, and there are none")
        self.weight = self.config.alpha * len(y_train) / n_labelled

    def check(self, model: Any) -> None:
        if not all(hasattr(model, m) for m in ("given", "label_prior", "classify")):
            raise VaekitError(f"--objective m2 trains a model with p(y), p(x, z | y) and a classifier q(y|x) (--model "
                              f"m2); {type(model).__name__} lacks some of them")

    def scalars(self, progress: float) -> dict[str, float]:
        return {"classification_weight": self.weight}

    def __call__(self, model: Any, batch: Batch, progress: float) -> Loss:
        x, b = batch.x, len(batch)
        y = batch.y if batch.y is not None else torch.full((b,), UNLABELLED, device=x.device)
        known = y != UNLABELLED
        q_y = model.classify(x)
        bound = torch.empty(b, dtype=x.dtype, device=x.device)
        row = torch.empty_like(bound)
        if bool(known.any()):
            labelled_bound = class_bounds(model, x[known], y[known])
            bound[known] = labelled_bound
            row[known] = labelled_bound + self.weight * q_y.log_prob(y.clamp(min=0))[known]
        if not bool(known.all()):
            q_unknown = torch.distributions.Categorical(logits=q_y.logits[~known])
            u = unlabelled_bound(model, x[~known], q_unknown)
            bound[~known], row[~known] = u, u
        return Loss(-row.mean(), {"objective": row, "bound": bound})

    @torch.no_grad()
    def validate(self, model: Any, batch: Batch) -> Tensor:
        return unlabelled_bound(model, batch.x)

    def describe(self) -> str:
        return f"M2's labelled and unlabelled bounds with the classification term (alpha {self.config.alpha:g})"
