"""Distributions: observation models p(x|z), priors p(z), multi-layer latents, and the KL between them."""

from vaekit.distributions.base import diagonal_gaussian, unchecked
from vaekit.distributions.hierarchy import Chain
from vaekit.distributions.kl import KLUnits, analytic_kl, kl, kl_units
from vaekit.distributions.mixture import DiagonalGaussianMixture
from vaekit.distributions.observations import OBSERVATIONS, Observation
from vaekit.distributions.priors import PRIORS, Prior

__all__ = ["OBSERVATIONS", "PRIORS", "Chain", "DiagonalGaussianMixture", "KLUnits", "Observation", "Prior", "analytic_kl", "diagonal_gaussian",
           "kl", "kl_units", "unchecked"]
