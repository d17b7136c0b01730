"""The variational autoencoder, assembled from parts: p(x, z) = p(z) p(x|z), q(z|x) a diagonal Gaussian.

    prior module     `vaekit.distributions.PRIORS` (normal, mixture, vamp)
    encoder, decoder `vaekit.networks.NETWORKS` (mlp, conv)
    observation      `vaekit.distributions.OBSERVATIONS` (bernoulli, gaussian, gaussian-fixed, ...)

References: Kingma & Welling 2014 (Auto-Encoding Variational Bayes); Rezende, Mohamed & Wierstra 2014;
Tomczak & Welling 2018 (VampPrior).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.config import check, option
from vaekit.distributions import OBSERVATIONS, PRIORS, Observation, diagonal_gaussian
from vaekit.models.registry import MODELS
from vaekit.networks import NETWORKS, build


@dataclass
class LatentModelConfig:
    """What every model with an observation model p(x|z) shares; saved in a run's config.json under "model"."""

    data_shape: tuple[int, ...] = option((1, 8, 8), cli=False)
    likelihood: str = option("bernoulli", "observation model p(x|z)", choices=OBSERVATIONS.names)
    network: str = option("mlp", "encoder/decoder body next to x", choices=NETWORKS.names)
    # A floor on q's scale keeps log q(z|x) finite when the encoder tries to collapse a dimension to a point.
    min_scale: float = option(1e-4, "floor on the standard deviation of every Gaussian over z", minimum=1e-12)
    # Only used by gaussian-fixed: the observation noise, in data units (data scaled to [0, 1]).
    fixed_scale: float = option(0.1, "sigma of the gaussian-fixed likelihood", minimum=1e-12,
                                when=("likelihood", ("gaussian-fixed",)))
    # Keeps the learned Gaussian's density bounded (it would diverge on constant pixels otherwise).
    obs_min_scale: float = option(1e-3, "floor on the gaussian likelihood's sigma", minimum=1e-12,
                                  when=("likelihood", ("gaussian",)))

    def __post_init__(self) -> None:
        check(self)
        if not self.data_shape or any(s < 1 for s in self.data_shape):
            raise ValueError(f"data_shape must be positive sizes, got {self.data_shape}")

    def observation(self) -> Observation:
        """The observation model p(x|z) this config names."""
        return OBSERVATIONS[self.likelihood](self.data_shape, fixed_scale=self.fixed_scale,
                                             min_scale=self.obs_min_scale)


@dataclass
class VAEConfig(LatentModelConfig):
    """A one-layer VAE's architecture."""

    latent_dim: int = option(8, "dimension d of z", minimum=1)
    hidden: tuple[int, ...] = option((512,), "hidden layer widths (encoder order)", minimum=1)
    prior: str = option("normal", "prior p(z)", choices=PRIORS.names, group="prior")
    prior_components: int | None = option(None, "C: mixture components or VampPrior pseudo-inputs (default 10 / 500)",
                                          minimum=1, group="prior", when=("prior", ("mixture", "vamp")))

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        prior = {"normal": "a N(0, I) prior", "mixture": "a learned mixture-of-Gaussians prior",
                 "vamp": "a VampPrior"}.get(self.prior, f"a {self.prior} prior")
        components = f" ({self.prior_components} components)" if self.prior_components else ""
        return (f"A VAE with {prior}{components}, a {self.likelihood} likelihood, {self.network} networks (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}) and a {self.latent_dim}-dimensional latent space")


@MODELS.register("vae")
class VAE(nn.Module):
    """A VAE whose methods are the quantities of the theory (the model protocol, `vaekit.models.protocol`).

    Shapes: x is [B, *data_shape]; z is [..., B, latent_dim] (leading sample dimensions allowed).

    Example:
        >>> model = VAE(VAEConfig(data_shape=(1, 28, 28), latent_dim=20, hidden=(400,)))
        >>> qz_x = model.encode(x)                 # batch [B], event [20]
        >>> z = qz_x.rsample((5,))                 # (5, B, 20)
        >>> model.log_joint(x, z).shape            # (5, B), nats
    """

    Config = VAEConfig

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.observation = config.observation()
        self.encoder, self.decoder = build(
            config.network, config.data_shape, config.hidden, config.latent_dim, self.observation.num_params
        )
        self.prior_module = PRIORS[config.prior](config.latent_dim, config.data_shape, config.prior_components)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def prior(self) -> Distribution:
        """p(z): batch shape [], event shape [latent_dim]."""
        return self.prior_module(self.encode)

    def encode(self, x: Tensor) -> Distribution:
        """q(z|x) = N(loc(x), diag(scale(x)^2)): batch [B], event [latent_dim]; scale = softplus + min_scale."""
        return self.posterior(self.encoder(x))

    def posterior(self, raw: Tensor) -> Distribution:
        """q(z|x) from the encoder's raw output [B, 2, latent_dim] (location, unconstrained scale)."""
        return diagonal_gaussian(raw, self.config.min_scale)

    def decode(self, z: Tensor) -> Distribution:
        """p(x|z): batch [..., B], event `data_shape`."""
        return self.observation(self.decoder(z))

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x|z) + log p(z), shape [..., B], nats."""
        return self.decode(z).log_prob(x) + self.prior().log_prob(z)

    def initialize(self, x: Tensor) -> None:
        """Data-dependent initialisation from training rows x [N, *data_shape] (the VampPrior's pseudo-inputs)."""
        self.prior_module.initialize(x)
