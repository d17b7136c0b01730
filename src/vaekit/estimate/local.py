"""Per-datapoint (non-amortised) variational inference, and the inference gap split into its approximation and
amortization parts (Cremer, Li & Duvenaud 2018).

`fit_posteriors` fits q(z|lambda_i) = N(loc_i, diag(scale_i^2)) to each datapoint x_i by gradient ascent on that
datapoint's ELBO under a model's prior and decoder: the seed's variational inference with per-datapoint
parameters lambda_i = (loc_i, log scale_i), before amortisation replaces lambda_i by an encoder's output. Started
from the encoder's q(z|x), it refines it to q*, the best diagonal Gaussian; then, per datapoint, in nats:
    approximation gap = log p(x) - L[q*]   (what the diagonal-Gaussian family cannot express)
    amortization gap  = L[q*] - L[q]       (what the encoder misses for this x)
and the two add up to the total gap log p(x) - L[q]. log p(x) is importance-sampled with q* as the proposal.
For a model whose q(z|x) is richer than a diagonal Gaussian over all of z (a hierarchy's q(z1|x) q(z2|z1)),
q* is still the best diagonal Gaussian over z, and the amortization gap can come out negative.

Reference: C. Cremer, X. Li, D. Duvenaud, "Inference Suboptimality in Variational Autoencoders", ICML 2018.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from vaekit.estimate.bounds import elbo
from vaekit.estimate.diagnostics import posterior_moments
from vaekit.estimate.likelihood import DEFAULT_MEMORY_BUDGET, log_likelihood
from vaekit.models.protocol import LatentVariableModel, amortised, dtype_of, rows

#: The per-datapoint fit's Adam steps and initial learning rate, by default (and for a model without an encoder that
#: does not give its own `inference_steps` and `inference_lr`).
FIT_STEPS, FIT_LR = 500, 1e-2


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


def fit_posteriors(
    model: Any,
    x: Tensor,
    *,
    start: tuple[Tensor, Tensor] | None = None,
    steps: int = FIT_STEPS,
    lr: float = FIT_LR,
    num_samples: int = 10,
    batch_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    """Per-datapoint variational inference: fit q(z|lambda_i) = N(loc_i, diag(scale_i^2)) to each row x_i of x by
    Adam on that row's ELBO, with the model's prior and decoder fixed (its weights are not touched).

    Datapoints are optimised together, in chunks of `batch_size` (their ELBOs are independent, so the summed
    objective has independent gradients). The ELBO's KL term is analytic where p(z) has a closed form against a
    diagonal Gaussian, Monte-Carlo otherwise. Works inside `torch.inference_mode` too (it leaves it for the fit).

    Args:
        model: anything with the protocol's `prior` and `decode` (and `encode`, when `start` is not given); a model
            bound to per-datapoint values (`given(y)`) is processed chunk by chunk through `rows`.
        x: data [N, *data_shape], as the model sees it.
        start: initial (loc, scale), each [N, d]; by default the moments of the model's q(z|x) (so the fit refines
            the encoder: q* of the gap split), or N(0, I) for a model without `encode` or without an encoder
            (`amortised` False).
        steps: Adam steps.
        lr: initial Adam learning rate on (loc, log scale), decayed linearly to zero (which averages out the
            gradient noise, so that the fit settles at the optimum).
        num_samples: reparameterised draws of z per step.
        batch_size: datapoints optimised at once.

    Returns:
        (loc, scale), each [N, d], detached.

    Example:
        >>> loc, scale = fit_posteriors(model, x_test, steps=200)   # q*(z) per test point
        >>> log_likelihood(model, x_test, 1000, proposal=(loc, scale))
    """
    locs, scales = [], []
    with torch.inference_mode(False), torch.enable_grad():
        for begin in range(0, x.shape[0], batch_size):
            end = min(begin + batch_size, x.shape[0])
            part = rows(model, begin, end)
            xb = x[begin:end].clone()  # a normal tensor, even if x was made under inference_mode
            with torch.no_grad():
                pz = part.prior()
                if start is not None:
                    loc0, scale0 = (s[begin:end].clone() for s in start)
                elif isinstance(part, LatentVariableModel) and amortised(part):
                    loc0, scale0, _ = posterior_moments(part.encode(xb))
                else:
                    loc0 = torch.zeros(end - begin, *pz.event_shape, dtype=dtype_of(part), device=x.device)
                    scale0 = torch.ones_like(loc0)
            loc = loc0.detach().clone().requires_grad_(True)
            log_scale = scale0.detach().log().clone().requires_grad_(True)
            optimizer = torch.optim.Adam([loc, log_scale], lr=lr)
            schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1 - t / steps)
            for _ in range(steps):
                q = Independent(Normal(loc, log_scale.exp()), 1)
                bound = elbo(part, xb, num_samples, qz_x=q, pz=pz).elbo  # (B,)
                # autograd.grad, not backward: the model's parameters collect no gradient.
                optimizer.zero_grad(set_to_none=True)
                loc.grad, log_scale.grad = torch.autograd.grad(-bound.sum(), [loc, log_scale])
                optimizer.step()
                schedule.step()
            locs.append(loc.detach())
            scales.append(log_scale.detach().exp())
    return torch.cat(locs), torch.cat(scales)


class FixedPosteriors(torch.nn.Module):
    """A latent-variable model whose q(z|x) is a given diagonal Gaussian per row, N(loc_i, diag(scale_i^2)), for x
    of those rows in that order; prior, decoder and joint are the model's. `rows` slices it, so every estimator
    can use it. Made by `with_posteriors`."""

    def __init__(self, model: Any, loc: Tensor, scale: Tensor) -> None:
        super().__init__()
        self.model, self.loc, self.scale = model, loc, scale

    def prior(self) -> torch.distributions.Distribution:
        return self.model.prior()

    def encode(self, x: Tensor) -> torch.distributions.Distribution:
        if x.shape[0] != self.loc.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows, but these posteriors are for {self.loc.shape[0]}")
        return Independent(Normal(self.loc, self.scale), 1)

    def decode(self, z: Tensor) -> torch.distributions.Distribution:
        return self.model.decode(z)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        return self.model.log_joint(x, z)

    def rows(self, start: int, stop: int) -> FixedPosteriors:
        return FixedPosteriors(rows(self.model, start, stop), self.loc[start:stop], self.scale[start:stop])


def with_posteriors(model: Any, x: Tensor) -> Any:
    """`model` with q(z|x) for the rows x: itself where q(z|x) is an encoder's output, else (a model whose
    `amortised` is False: no encoder) a `FixedPosteriors` holding one per-datapoint fit of q(z|lambda_i) to each
    row of x, from N(0, I), by the model's `inference_steps` Adam steps at its `inference_lr` (`fit_posteriors`).

    This is where such a model gets q(z|x) of new data: the model sits below the estimators and runs no fit
    itself. Estimators that encode x in small chunks (`log_likelihood` with a large K) then reuse the one fit.
    """
    if amortised(model):
        return model
    steps, lr = getattr(model, "inference_steps", FIT_STEPS), getattr(model, "inference_lr", FIT_LR)
    loc, scale = fit_posteriors(model, x, steps=steps, lr=lr)  # from N(0, I): the model has no q(z|x) to start from
    return FixedPosteriors(model, loc, scale)


def optimal_posterior(
    model: LatentVariableModel, x: Tensor, *, steps: int = 500, lr: float = 1e-2, num_samples: int = 10
) -> tuple[Tensor, Tensor]:
    """q*(z) = N(loc, diag(scale^2)) per datapoint, fitted from the encoder's q(z|x): `fit_posteriors` with its
    default start. Returns (loc, scale), each [N, d]."""
    return fit_posteriors(model, x, steps=steps, lr=lr, num_samples=num_samples)


def gap_split(
    model: LatentVariableModel, x: Tensor, *, num_samples: int = 1000, steps: int = 500, lr: float = 1e-2,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> GapSplit:
    """Split each datapoint's gap into approximation and amortization parts (see the module docstring).

    Args:
        x: data [N, *data_shape], as the model sees it.
        num_samples: K for log p(x) and for both ELBOs (the ELBOs average log p(x|z) over the same K samples).
        steps: Adam steps of the per-datapoint optimisation of q*.
        lr: its learning rate.
        memory_budget: bytes of tensors one chunk of importance samples may make (`log_likelihood`).
    """
    loc, scale = fit_posteriors(model, x, steps=steps, lr=lr)
    optimal = log_likelihood(model, x, num_samples, proposal=(loc, scale), memory_budget=memory_budget)
    encoder = log_likelihood(model, x, num_samples, memory_budget=memory_budget)
    return GapSplit(log_likelihood=optimal.values, elbo_optimal=optimal.elbo, elbo_encoder=encoder.elbo)
