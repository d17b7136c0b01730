"""Per-datapoint variational inference, and the inference gap split into its approximation and amortization
parts (Cremer, Li & Duvenaud 2018).

For each datapoint, q*(z) is the diagonal Gaussian that maximises the ELBO, found by gradient ascent on
(loc, log scale) from the encoder's output. Then, per datapoint, in nats:
    approximation gap = log p(x) - L[q*]   (what the diagonal-Gaussian family cannot express)
    amortization gap  = L[q*] - L[q]       (what the encoder misses for this x)
and the two add up to the total gap log p(x) - L[q]. log p(x) is importance-sampled with q* as the proposal.
For a model whose q(z|x) is richer than a diagonal Gaussian over all of z (a hierarchy's q(z1|x) q(z2|z1)),
q* is still the best diagonal Gaussian over z, and the amortization gap can come out negative.

Reference: C. Cremer, X. Li, D. Duvenaud, "Inference Suboptimality in Variational Autoencoders", ICML 2018.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from vaekit.estimate.bounds import elbo
from vaekit.estimate.diagnostics import posterior_moments
from vaekit.estimate.likelihood import log_likelihood
from vaekit.models.protocol import LatentVariableModel


@dataclass(frozen=True)
class GapSplit:
    """Per-datapoint figures, each [N] float64, nats."""

    log_likelihood: Tensor   # log p(x), importance-sampled with q* as the proposal
    elbo_optimal: Tensor     # L[q*]
    elbo_encoder: Tensor     # L[q], the encoder's ELBO (same K, same estimator)

    @property
    def approximation(self) -> Tensor:
        return self.log_likelihood - self.elbo_optimal

    @property
    def amortization(self) -> Tensor:
        return self.elbo_optimal - self.elbo_encoder

    @property
    def total(self) -> Tensor:
        return self.log_likelihood - self.elbo_encoder


def optimal_posterior(
    model: LatentVariableModel, x: Tensor, *, steps: int = 500, lr: float = 1e-2, num_samples: int = 10
) -> tuple[Tensor, Tensor]:
    """Fit q*(z) = N(loc, diag(scale^2)) to each datapoint by Adam on its ELBO, starting from the encoder.

    Datapoints are optimised together (their ELBOs are independent, so the summed objective has independent
    gradients); the model's weights are not touched. The ELBO's KL term is analytic where p(z) has a closed
    form against a diagonal Gaussian, Monte-Carlo otherwise.

    Args:
        model: any model with the protocol's `encode`, `decode` and `prior`.
        x: data [N, *data_shape].
        steps: Adam steps.
        lr: initial Adam learning rate on (loc, log scale), decayed linearly to zero.
        num_samples: reparameterised draws per step of the ELBO.

    Returns:
        (loc, scale), each [N, d].
    """
    frozen = [p for p in model.parameters() if p.requires_grad] if isinstance(model, torch.nn.Module) else []
    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            start_loc, start_scale, _ = posterior_moments(model.encode(x))
            pz = model.prior()
        loc = start_loc.clone().requires_grad_(True)
        log_scale = start_scale.log().clone().requires_grad_(True)
        optimizer = torch.optim.Adam([loc, log_scale], lr=lr)
        # Decaying the step to zero averages out the gradient noise, so q* settles at the optimum.
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1 - t / steps)
        for _ in range(steps):
            q = Independent(Normal(loc, log_scale.exp()), 1)
            bound = elbo(model, x, num_samples, qz_x=q, pz=pz).elbo  # (N,)
            optimizer.zero_grad(set_to_none=True)
            (-bound.sum()).backward()
            optimizer.step()
            schedule.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return loc.detach(), log_scale.detach().exp()


def gap_split(
    model: LatentVariableModel, x: Tensor, *, num_samples: int = 1000, steps: int = 500, lr: float = 1e-2
) -> GapSplit:
    """Split each datapoint's gap into approximation and amortization parts (see the module docstring).

    Args:
        x: data [N, *data_shape], as the model sees it.
        num_samples: K for log p(x) and for both ELBOs (the ELBOs average log p(x|z) over the same K samples).
        steps: Adam steps of the per-datapoint optimisation of q*.
        lr: its learning rate.
    """
    loc, scale = optimal_posterior(model, x, steps=steps, lr=lr)
    optimal = log_likelihood(model, x, num_samples, proposal=(loc, scale))
    encoder = log_likelihood(model, x, num_samples)
    return GapSplit(log_likelihood=optimal.values, elbo_optimal=optimal.elbo, elbo_encoder=encoder.elbo)
