"""A two-layer linear-Gaussian model z2 -> z1 -> x built as vaekit's `hvae`, whose log p(x) and posterior are
known in closed form.

    z2 ~ N(0, I_d),  z1 | z2 ~ N(alpha * z2 + a, s1^2 I_d),  x | z1 ~ N(W z1 + b, sigma^2 I_D)

alpha is diagonal and W has orthogonal columns, so the exact posterior p(z1, z2 | x) = p(z1|x) p(z2|z1) is a
product of diagonal Gaussians, linear in their inputs: the hvae's q(z1|x) q(z2|z1) (networks with no hidden
layers) can hold it exactly. p(x) = N(W a + b, W diag(alpha^2 + s1^2) W^T + sigma^2 I).
"""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

from vaekit.models import HVAE, HVAEConfig


def _set_head(head: torch.nn.Module, weight: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor,
              min_scale: float) -> None:
    """A linear GaussianHead / MLPEncoder output (loc = weight @ h + bias, scale constant)."""
    layer = head.net[0]
    d = bias.shape[0]
    layer.weight.zero_()
    layer.weight[:d] = weight
    layer.bias[:d] = bias
    layer.bias[d:] = torch.log(torch.expm1(scale - min_scale))


def two_layer_gaussian(data_dim: int = 5, latent_dim: int = 2, sigma: float = 0.5, s1: float = 0.7, seed: int = 0):
    """Returns (model, marginal p(x)) with q set to the exact posterior; float64."""
    g = torch.Generator().manual_seed(seed)
    d = latent_dim
    q, _ = torch.linalg.qr(torch.randn(data_dim, d, generator=g, dtype=torch.float64))
    w = q * torch.linspace(1.0, 2.0, d, dtype=torch.float64)
    b = torch.randn(data_dim, generator=g, dtype=torch.float64)
    alpha = torch.linspace(0.8, 1.6, d, dtype=torch.float64)
    a = torch.randn(d, generator=g, dtype=torch.float64)
    min_scale = 1e-6
    model = HVAE(HVAEConfig(data_shape=(data_dim,), latent_dim=d, hidden=(), latent_dim2=d, hidden2=(),
                            likelihood="gaussian-fixed", fixed_scale=sigma, min_scale=min_scale)).double()
    v = alpha**2 + s1**2                          # prior variance of z1 (diagonal)
    precision = 1 / v + (w * w).sum(0) / sigma**2  # of p(z1|x), diagonal since W's columns are orthogonal
    pi = 1 + alpha**2 / s1**2                      # of p(z2|z1)
    with torch.no_grad():
        dec = model.decoder.net[0]
        dec.weight.copy_(w)
        dec.bias.copy_(b)
        _set_head(model.decoder2, torch.diag(alpha), a, torch.full((d,), s1, dtype=torch.float64), min_scale)
        # q(z1|x): loc = (W^T (x - b) / sigma^2 + a / v) / precision
        _set_head(model.encoder, (w / sigma**2 / precision).T, (a / v - w.T @ b / sigma**2) / precision,
                  precision.rsqrt(), min_scale)
        # q(z2|z1): loc = alpha (z1 - a) / (s1^2 pi)
        _set_head(model.encoder2, torch.diag(alpha / s1**2 / pi), -alpha * a / s1**2 / pi, pi.rsqrt(), min_scale)
    cov = w @ torch.diag(v) @ w.T + sigma**2 * torch.eye(data_dim, dtype=torch.float64)
    return model, MultivariateNormal(w @ a + b, cov)
