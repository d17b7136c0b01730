"""Lower bounds on log p(x): the ELBO in its two forms and the importance-weighted (IWAE) bound.

Every bound returns one value per datapoint, shape [B], in nats; the training loss is `-bound.mean()` at the
call site.

References:
    [1] Kingma & Welling 2014, Auto-Encoding Variational Bayes.
    [2] Burda, Grosse & Salakhutdinov 2016, Importance Weighted Autoencoders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from vaekit.model import VAE


@dataclass(frozen=True)
class ElboTerms:
    """Per-datapoint ELBO terms, each [B], nats: elbo = reconstruction - kl."""

    elbo: Tensor
    reconstruction: Tensor  # E_q[log p(x|z)]
    kl: Tensor              # KL(q(z|x) || p(z)), exact or Monte-Carlo


def elbo(
    model: VAE, x: Tensor, num_samples: int = 1, analytic_kl: bool = True, qz_x: Distribution | None = None
) -> ElboTerms:
    """The evidence lower bound L(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) = E_q[log p(x, z) - log q(z|x)].

    With `analytic_kl` the KL term is exact (`torch.distributions.kl_divergence`), which lowers the variance [1];
    otherwise both terms are Monte-Carlo averages over the same K reparameterised samples z_k ~ q(z|x), the form
    that works for any prior. Both are unbiased estimates of the same L(x).

    Args:
        model: the VAE.
        x: data [B, *data_shape].
        num_samples: K, samples of z per datapoint.
        analytic_kl: use the closed-form KL.
        qz_x: `model.encode(x)`, where the caller has it already.

    Returns:
        `ElboTerms`, each of shape [B], nats per datapoint; differentiable (pathwise gradients).
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    qz_x = model.encode(x) if qz_x is None else qz_x
    z = qz_x.rsample((num_samples,))  # (K, B, d)
    reconstruction = model.decode(z).log_prob(x).mean(0)  # (B,)
    if analytic_kl:
        kl = kl_divergence(qz_x, model.prior())
    else:
        kl = (qz_x.log_prob(z) - model.prior().log_prob(z)).mean(0)
    return ElboTerms(elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl)


def log_weights(model: VAE, x: Tensor, num_samples: int, proposal: Distribution | None = None) -> Tensor:
    """Importance log-weights log w_k = log p(x, z_k) - log q(z_k|x), z_k ~ q(z|x); shape (K, B), nats.

    Args:
        proposal: q(z|x) with batch [B] and event [latent_dim]; the encoder's `model.encode(x)` by default.
    """
    qz_x = model.encode(x) if proposal is None else proposal
    z = qz_x.rsample((num_samples,))  # (K, B, d)
    return model.log_joint(x, z) - qz_x.log_prob(z)


def iwae_bound(model: VAE, x: Tensor, num_samples: int) -> Tensor:
    """One draw of the IWAE bound L_K(x) = log (1/K) sum_k w_k [2], shape [B], nats.

    L_1 is the ELBO; E[L_K] rises with K toward log p(x). Differentiable; memory grows with K*B, so for
    evaluation with large K use `vaekit.evaluate.log_likelihood`, which chunks.
    """
    log_w = log_weights(model, x, num_samples)  # (K, B)
    return torch.logsumexp(log_w, 0) - math.log(num_samples)
