"""A mixture of diagonal Gaussians whose density is computed with matrix products: the mixture and VampPrior
priors' p(z).

torch.distributions' `MixtureSameFamily.log_prob` broadcasts z [..., d] against the C components [C, d] and
evaluates every Normal density elementwise on a [..., C, d] tensor; with the VampPrior's C = 500 that outweighs all
of a training step's matrix products (benchmarks/profile_family.py). Expanding the square,

    sum_j (z_j - m_cj)^2 / s_cj^2 = z^2 @ (1/s^2)^T - 2 z @ (m / s^2)^T + sum_j m_cj^2 / s_cj^2,

gives the same density from two [N, d] @ [d, C] products and a logsumexp over C. The expansion cancels digits when
z is close to m_c relative to s_c, so it is evaluated in float64 (the products are small) and returned in z's
dtype. Everything else (sampling, the mixture's parameters, validation) is `MixtureSameFamily`'s own; tests check
the density and its gradients against it.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor
from torch.distributions import Independent, MixtureSameFamily, Normal


class DiagonalGaussianMixture(MixtureSameFamily):
    """sum_c pi_c N(z; m_c, diag(s_c^2)): `MixtureSameFamily(Categorical, Independent(Normal(m, s), 1))` with C
    components of dimension d (batch shape []), and `log_prob` as matrix products (see the module docstring)."""

    def __init__(self, mixture_distribution, component_distribution, validate_args: bool | None = None) -> None:
        if not (isinstance(component_distribution, Independent) and isinstance(component_distribution.base_dist, Normal)
                and component_distribution.reinterpreted_batch_ndims == 1
                and len(component_distribution.batch_shape) == 1):
            raise ValueError("DiagonalGaussianMixture needs Independent(Normal(loc [C, d], scale [C, d]), 1) components")
        super().__init__(mixture_distribution, component_distribution, validate_args=validate_args)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) for z [..., d]: shape [...], nats."""
        if self._validate_args:
            self._validate_sample(z)
        base = cast(Normal, cast(Independent, self.component_distribution).base_dist)  # as __init__ checked
        loc, scale = base.loc.double(), base.scale.double()  # [C, d]
        precision = scale.reciprocal().square()
        zz = z.double()
        quadratic = zz.square() @ precision.T - 2 * (zz @ (loc * precision).T) + (loc.square() * precision).sum(-1)
        log_components = -0.5 * quadratic - scale.log().sum(-1) - 0.5 * loc.shape[-1] * math.log(2 * math.pi)
        log_weights = torch.log_softmax(self.mixture_distribution.logits.double(), -1)
        return torch.logsumexp(log_components + log_weights, -1).to(z.dtype)
