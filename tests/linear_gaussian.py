"""A linear-Gaussian VAE (probabilistic PCA) whose log p(x) and posterior are known in closed form.

p(z) = N(0, I_d), p(x|z) = N(W z + b, sigma^2 I_D), so p(x) = N(b, W W^T + sigma^2 I) and
p(z|x) = N(M^-1 W^T (x - b) / sigma^2, M^-1) with M = I + W^T W / sigma^2. W has orthogonal columns, so the
exact posterior is a diagonal Gaussian and lies inside the encoder's family.
"""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

from vaekit.models import VAE, VAEConfig


def linear_gaussian(data_dim: int = 5, latent_dim: int = 2, sigma: float = 0.5, seed: int = 0):
    """Returns (model, exact_log_px) with the encoder set to the exact posterior; float64."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(data_dim, latent_dim, generator=g, dtype=torch.float64))
    w = q * torch.linspace(1.0, 2.0, latent_dim, dtype=torch.float64)  # orthogonal columns, distinct norms
    b = torch.randn(data_dim, generator=g, dtype=torch.float64)
    model = VAE(VAEConfig(data_shape=(data_dim,), latent_dim=latent_dim, hidden=(),
                            likelihood="gaussian-fixed", fixed_scale=sigma, min_scale=1e-6)).double()
    m_diag = 1 + (w * w).sum(0) / sigma**2            # M is diagonal because W's columns are orthogonal
    a = (w / sigma**2 / m_diag).T                      # posterior mean = a (x - b), (d, D)
    post_scale = m_diag.rsqrt()
    with torch.no_grad():
        dec = model.decoder.net[0]
        dec.weight.copy_(w)
        dec.bias.copy_(b)
        enc = model.encoder.net[0]                     # outputs (loc, raw_scale) stacked: 2d rows
        enc.weight.zero_()
        enc.weight[:latent_dim] = a
        enc.bias[:latent_dim] = -a @ b
        # softplus(raw) + min_scale = post_scale  =>  raw = log(expm1(post_scale - min_scale))
        enc.bias[latent_dim:] = torch.log(torch.expm1(post_scale - model.config.min_scale))
    marginal = MultivariateNormal(b, w @ w.T + sigma**2 * torch.eye(data_dim, dtype=torch.float64))
    return model, marginal


def perturb_encoder(model: VAE, scale: float = 0.3, seed: int = 1, loc_only: bool = False) -> VAE:
    """Move the encoder away from the exact posterior (so the gap is positive).

    With `loc_only` the scales stay exact, so q keeps the posterior's tails and importance sampling converges fast.
    """
    g = torch.Generator().manual_seed(seed)
    rows = model.latent_dim if loc_only else None
    with torch.no_grad():
        for p in model.encoder.parameters():
            p[:rows].add_(scale * torch.randn(p[:rows].shape, generator=g, dtype=p.dtype))
    return model


