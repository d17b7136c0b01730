"""Lower bounds on log p(x) and the one importance-weight core they share.

`log_weights` is the core: z_k ~ q(z|x), log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x). The IWAE bound,
the importance-sampled log p(x) (`vaekit.estimate.likelihood`), the diagnostics and the gap split are all built
on it. The ELBO's KL term is analytic where `torch.distributions` has a closed form (lower variance), Monte-Carlo
from the same draws otherwise, chosen automatically (`vaekit.distributions.kl`).

Every bound returns one value per datapoint, shape [B], in nats; the training loss is `-bound.mean()` at the
call site. Estimators take any model that honours the model protocol (`vaekit.models.protocol`).

References:
    [1] Kingma & Welling 2014, Auto-Encoding Variational Bayes.
    [2] Burda, Grosse & Salakhutdinov 2016, Importance Weighted Autoencoders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaekit.distributions import kl
from vaekit.estimate.logmeanexp import log_mean_exp
from vaekit.models.protocol import LatentVariableModel


@dataclass(frozen=True)
class ElboTerms:
    """Per-datapoint ELBO terms, each [B], nats: elbo = reconstruction - kl."""

    elbo: Tensor
    reconstruction: Tensor  # E_q[log p(x|z)]
    kl: Tensor              # KL(q(z|x) || p(z)), exact or Monte-Carlo


class Weights(NamedTuple):
    """Importance log-weights and the parts the bounds need, each (K, B), nats."""

    log_w: Tensor      # log p(x|z) + log p(z) - log q(z|x)
    log_px_z: Tensor   # log p(x|z)
    z: Tensor          # the draws, (K, B, d)


def draw(q: Distribution, sample_shape: Sequence[int], *, reparameterized: bool = True) -> tuple[Tensor, Tensor]:
    """Samples z ~ q and their log-density log q(z), using `rsample_and_log_prob` where q has it (a hierarchy's
    conditionals then run once). Reparameterised (pathwise gradients) unless `reparameterized` is False."""
    if hasattr(q, "rsample_and_log_prob"):
        if reparameterized:
            return q.rsample_and_log_prob(sample_shape)
        with torch.no_grad():
            return q.rsample_and_log_prob(sample_shape)
    shape = torch.Size(sample_shape)
    z = q.rsample(shape) if reparameterized else q.sample(shape)
    return z, q.log_prob(z)


def weights(model: LatentVariableModel, x: Tensor, num_samples: int, *, qz_x: Distribution | None = None,
            pz: Distribution | None = None, reparameterized: bool = True) -> Weights:
    """The importance-weight core: K draws z_k ~ q(z|x) and their log-weights, each (K, B).

    Args:
        model: any model with the protocol's `encode`, `decode` and `prior`.
        x: data [B, *data_shape].
        num_samples: K.
        qz_x: the proposal, batch [B]; `model.encode(x)` by default.
        pz: `model.prior()`, where the caller has it (a loop over chunks builds it once).
        reparameterized: draw with `rsample` (differentiable) or `sample`.
    """
    qz_x = model.encode(x) if qz_x is None else qz_x
    pz = model.prior() if pz is None else pz
    z, log_qz = draw(qz_x, (num_samples,), reparameterized=reparameterized)  # (K, B, d), (K, B)
    log_px_z = model.decode(z).log_prob(x)  # (K, B)
    return Weights(log_px_z + pz.log_prob(z) - log_qz, log_px_z, z)


def log_weights(model: LatentVariableModel, x: Tensor, num_samples: int, proposal: Distribution | None = None
                ) -> Tensor:
    """Importance log-weights log w_k = log p(x, z_k) - log q(z_k|x), z_k ~ q(z|x); shape (K, B), nats.

    Args:
        proposal: q(z|x) with batch [B] and event [d]; the encoder's `model.encode(x)` by default.
    """
    return weights(model, x, num_samples, qz_x=proposal).log_w


def elbo_with_samples(model: LatentVariableModel, x: Tensor, num_samples: int = 1, analytic: bool = True,
                      qz_x: Distribution | None = None, pz: Distribution | None = None) -> tuple[ElboTerms, Tensor]:
    """`elbo`, and the draws z (K, B, d) it used (diagnostics reuse them)."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    qz_x = model.encode(x) if qz_x is None else qz_x
    pz = model.prior() if pz is None else pz
    # log q(z) where q gives it with the draw (a hierarchy's conditionals then run once); else `kl` computes it
    # only if it needs the Monte-Carlo form.
    if hasattr(qz_x, "rsample_and_log_prob"):
        z, log_qz = draw(qz_x, (num_samples,))  # (K, B, d), (K, B)
    else:
        z, log_qz = qz_x.rsample((num_samples,)), None
    reconstruction = model.decode(z).log_prob(x).mean(0)  # E_q[log p(x|z)]
    divergence = kl(qz_x, pz, z, analytic=analytic, log_qz=log_qz)  # closed form, or from the same draws
    return ElboTerms(elbo=reconstruction - divergence, reconstruction=reconstruction, kl=divergence), z


def elbo(model: LatentVariableModel, x: Tensor, num_samples: int = 1, analytic_kl: bool = True,
         qz_x: Distribution | None = None, pz: Distribution | None = None) -> ElboTerms:
    """The evidence lower bound L(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) = E_q[log p(x, z) - log q(z|x)].

    The KL term is exact where `torch.distributions` has a closed form for these q and p (lower variance [1]) and
    `analytic_kl` is set; otherwise both terms are Monte-Carlo averages over the same K reparameterised draws
    z_k ~ q(z|x), the form that works for any prior (a mixture, the VampPrior, a hierarchy). Both are unbiased
    estimates of the same L(x).

    Args:
        model: any model with the protocol's `encode`, `decode` and `prior`.
        x: data [B, *data_shape].
        num_samples: K, draws of z per datapoint.
        analytic_kl: use the closed-form KL where one exists.
        qz_x: `model.encode(x)` (or another q with batch [B]), where the caller has it already.
        pz: `model.prior()`, where the caller has it already.

    Returns:
        `ElboTerms`, each of shape [B], nats per datapoint; differentiable (pathwise gradients).
    """
    return elbo_with_samples(model, x, num_samples, analytic_kl, qz_x, pz)[0]


def iwae_bound(model: LatentVariableModel, x: Tensor, num_samples: int, pz: Distribution | None = None) -> Tensor:
    """One draw of the IWAE bound L_K(x) = log (1/K) sum_k w_k [2], shape [B], nats.

    L_1 is the ELBO; E[L_K] rises with K toward log p(x). Differentiable: its gradient weights each draw by its
    normalised importance weight. Memory grows with K*B, so for evaluation with large K use
    `vaekit.estimate.log_likelihood`, which chunks.
    """
    return log_mean_exp(weights(model, x, num_samples, pz=pz).log_w)  # over the K draws of log_w (K, B)
