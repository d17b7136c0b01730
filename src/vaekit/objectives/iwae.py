"""The importance-weighted bound as a training objective (Burda, Grosse & Salakhutdinov 2016).

    L_K(x) = E[log (1/K) sum_k w_k],  log w_k = log p(x, z_k) - log q(z_k|x),  z_k ~ q(z|x)

Its gradient weights each draw by its normalised importance weight. K = 1 is the ELBO. The K draws of a batch go
through the decoder as one matrix product ([K, B, d] -> [K, B, ...]). The best epoch is the one with the best
validation L_K (the figure this objective trains); evaluation always reports the plain ELBO and log p(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.config import check, option
from vaekit.data.batch import Batch
from vaekit.estimate.bounds import weights
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
    """Maximise the IWAE bound L_K; terms: `iwae_bound`, and the ELBO's terms estimated from the same draws."""

    Config = IWAEConfig
    validation_figure = "iwae_bound"

    def __call__(self, model: LatentVariableModel, batch: Batch, progress: float) -> Loss:
        k = self.config.iw_samples
        w = weights(for_batch(model, batch), batch.x, k)  # (K, B) each
        bound = torch.logsumexp(w.log_w, 0) - math.log(k)
        elbo = w.log_w.mean(0)
        reconstruction = w.log_px_z.mean(0)
        terms = {"iwae_bound": bound, "elbo": elbo, "reconstruction": reconstruction, "kl": reconstruction - elbo}
        return Loss(-bound.mean(), terms)

    def describe(self) -> str:
        return f"the IWAE bound (K = {self.config.iw_samples})"

    @torch.no_grad()
    def validate(self, model: LatentVariableModel, batch: Batch) -> Tensor:
        w = weights(for_batch(model, batch), batch.x, self.config.iw_samples, reparameterized=False)
        return torch.logsumexp(w.log_w, 0) - math.log(self.config.iw_samples)
