"""The importance-weighted bound as a training objective (Burda, Grosse & Salakhutdinov 2016).

    L_K(x) = E[log (1/K) sum_k w_k],  log w_k = log p(x, z_k) - log q(z_k|x),  z_k ~ q(z|x)

Its gradient weights each draw by its normalised importance weight. K = 1 is the ELBO. The K draws of a batch go
through the decoder as one matrix product ([K, B, d] -> [K, B, ...]). The best epoch is the one with the best
validation L_K (the figure this objective trains); evaluation always reports the plain ELBO and log p(x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from vaekit.config import check, option
from vaekit.data.batch import Batch
from vaekit.estimate.bounds import weights
from vaekit.estimate.logmeanexp import log_mean_exp
from vaekit.models.protocol import LatentVariableModel, for_batch
from vaekit.objectives.registry import OBJECTIVES, LatentVariableObjective, Loss


@dataclass
class IWAEConfig:
    """Settings of the IWAE objective; saved in a run's config.json under "objective"."""

    iw_samples: int = option(5, "K, importance samples per datapoint in the IWAE bound", minimum=1)

    def __post_init__(self) -> None:
        check(self)


@OBJECTIVES.register("iwae")
class IWAE(LatentVariableObjective):
    """Maximise the IWAE bound L_K; terms: `iwae_bound`, and the ELBO's terms estimated from the same draws, named
    for what they are: `mc_elbo` = mean_k log w_k and `mc_kl` = `reconstruction` - `mc_elbo`, both Monte-Carlo
    (the ELBO objective's `elbo` and `kl` use the closed-form KL where there is one)."""

    Config = IWAEConfig
    validation_figure = "iwae_bound"
    figure_label = "IWAE bound"
    term_labels: ClassVar[dict[str, str]] = {"mc_elbo": "ELBO (Monte-Carlo, the IWAE draws)",
                                             "mc_kl": "KL (Monte-Carlo, the IWAE draws)"}

    def __call__(self, model: LatentVariableModel, batch: Batch, progress: float) -> Loss:
        w = weights(for_batch(model, batch), batch.x, self.config.iw_samples)  # (K, B) each
        bound = log_mean_exp(w.log_w)
        mc_elbo = w.log_w.mean(0)  # the ELBO of the same K draws: Monte-Carlo in both of its terms
        reconstruction = w.log_px_z.mean(0)
        terms = {"iwae_bound": bound, "mc_elbo": mc_elbo, "reconstruction": reconstruction,
                 "mc_kl": reconstruction - mc_elbo}
        return Loss(-bound.mean(), terms)

    def describe(self) -> str:
        return f"the IWAE bound (K = {self.config.iw_samples})"

    @torch.no_grad()
    def validate(self, model: LatentVariableModel, batch: Batch) -> Tensor:
        w = weights(for_batch(model, batch), batch.x, self.config.iw_samples, reparameterized=False)
        return log_mean_exp(w.log_w)
