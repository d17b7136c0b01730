"""Priors p(z): `nn.Module`s that return a `torch.distributions.Distribution` with event shape [latent_dim].

Each prior is registered in `PRIORS` under the name `--prior` takes. A prior is called with the model's
`encode` (the VampPrior is built from the encoder; the others ignore it) and returns p(z); sampling from a model
uses that distribution's own `sample`. A new prior is one `Prior` subclass with one `register` line: what configs and
messages need to know of it (whether it has components, whether it needs an encoder, how to describe it) are its
class attributes, never a list of names elsewhere.

References:
    [1] Tomczak & Welling 2018, VAE with a VampPrior.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from vaekit.distributions.mixture import DiagonalGaussianMixture
from vaekit.registry import Registry

PRIORS: Registry[type[Prior]] = Registry("prior")

Encode = Callable[[Tensor], Distribution]  # x [C, *data_shape] -> q(z|x) with batch [C], event [latent_dim]


class Prior(nn.Module):
    """p(z) over a `latent_dim`-dimensional z, possibly with learned parameters.

    Args:
        latent_dim: d.
        data_shape: the shape of one datapoint (for priors defined through the encoder).
        components: C, for priors with components (None: the prior's `default_components`).
    """

    name: ClassVar[str]
    default_components: ClassVar[int | None] = None  # None: the prior has no components
    needs_encoder: ClassVar[bool] = False  # defined through the model's encoder network
    description: ClassVar[str] = ""  # a phrase, plain text ("a N(0, I) prior"); default: "a <name> prior"

    @classmethod
    def describe(cls) -> str:
        """A phrase, plain text: what this prior is."""
        return cls.description or f"a {cls.name} prior"

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], components: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.components = components if components is not None else self.default_components

    def forward(self, encode: Encode | None = None) -> Distribution:
        raise NotImplementedError

    def initialize(self, x: Tensor) -> None:
        """Set data-dependent initial values from training rows x [N, *data_shape] (before the first step)."""


@PRIORS.register("normal")
class StandardNormalPrior(Prior):
    """p(z) = N(0, I); no parameters (buffers, so that it follows the model's device and dtype)."""

    description = "a N(0, I) prior"
    loc: Tensor
    scale: Tensor

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], components: int | None = None) -> None:
        super().__init__(latent_dim, data_shape, components)
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self, encode: Encode | None = None) -> Distribution:
        return Independent(Normal(self.loc, self.scale), 1)


@PRIORS.register("mixture")
class GaussianMixturePrior(Prior):
    """p(z) = sum_c pi_c N(z; m_c, diag(s_c^2)), every parameter learned; log p(z) by logsumexp over c.

    Means start as draws from N(0, I) (so the components are spread over the region the KL pulls q towards),
    scales at 1 (softplus-parameterised, with a floor), weights uniform.
    """

    default_components = 10
    description = "a learned mixture-of-Gaussians prior"
    components: int  # never None: there is a default

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], components: int | None = None,
                 min_scale: float = 1e-3) -> None:
        super().__init__(latent_dim, data_shape, components)
        c = self.components
        self.logits = nn.Parameter(torch.zeros(c))
        self.loc = nn.Parameter(torch.randn(c, latent_dim))
        self.raw_scale = nn.Parameter(torch.full((c, latent_dim), math.log(math.expm1(1.0))))  # softplus(raw) = 1
        self.min_scale = min_scale

    def forward(self, encode: Encode | None = None) -> Distribution:
        components = Independent(Normal(self.loc, F.softplus(self.raw_scale) + self.min_scale), 1)
        return DiagonalGaussianMixture(Categorical(logits=self.logits), components)


@PRIORS.register("vamp")
class VampPrior(Prior):
    """The VampPrior [1]: p(z) = (1/C) sum_c q(z | u_c), the encoder's posterior at C learned pseudo-inputs u_c.

    There is no closed-form KL(q(z|x) || p(z)): the ELBO uses the Monte-Carlo KL (chosen automatically). The
    pseudo-inputs start as C random training points (`initialize`), or as N(0.05, 0.01) noise (the paper's
    initialisation for MNIST) when trained without data.
    """

    default_components = 500
    needs_encoder = True
    description = "a VampPrior"
    components: int  # never None: there is a default

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], components: int | None = None) -> None:
        super().__init__(latent_dim, data_shape, components)
        self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(self.components, *data_shape))

    def forward(self, encode: Encode | None = None) -> Distribution:
        if encode is None:
            raise ValueError("the VampPrior is defined through the encoder: call it with the model's encode")
        q = encode(self.pseudo_inputs)  # batch [C], event [d]
        uniform = torch.zeros(self.components, dtype=self.pseudo_inputs.dtype, device=self.pseudo_inputs.device)
        return DiagonalGaussianMixture(Categorical(logits=uniform), q)

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        rows = torch.randint(0, x.shape[0], (self.components,), device=x.device)
        self.pseudo_inputs.copy_(x[rows].to(self.pseudo_inputs))
