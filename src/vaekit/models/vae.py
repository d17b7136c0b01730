"""The variational autoencoder, assembled from parts: p(x, z) = p(z) p(x|z), q(z|x) a diagonal Gaussian.

    prior module     `vaekit.distributions.PRIORS` (normal, mixture, vamp)
    encoder, decoder `vaekit.networks.NETWORKS` (mlp, conv)
    observation      `vaekit.distributions.OBSERVATIONS` (bernoulli, gaussian, gaussian-fixed, ...)

q(z|x) is amortised by an encoder network (`encoder="network"`, the default), or not (`encoder="none"`): the seed's
q(z|lambda_i), a table of (loc, scale) per training row learned with the decoder (`at(index)` is the model for those
rows). For any other x, q(z|x) is a fit of lambda by gradient ascent on its ELBO, which the estimators make
(`vaekit.estimate.with_posteriors`, with this model's `inference_steps` and `inference_lr`): estimators sit above
models, so the model itself never runs one. The generative model p(z) p(x|z) and its options are the same either
way, which is why this is a field of the VAE's config rather than another kind: `--encoder none` combines with every
prior but the VampPrior (built from the encoder), likelihood and network, and the two runs differ in q alone.

References: Kingma & Welling 2014 (Auto-Encoding Variational Bayes); Rezende, Mohamed & Wierstra 2014;
Tomczak & Welling 2018 (VampPrior).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.config import check, option
from vaekit.distributions import OBSERVATIONS, PRIORS, Observation, Prior, diagonal_gaussian
from vaekit.errors import VaekitError
from vaekit.models.registry import MODELS
from vaekit.networks import NETWORKS, build

ENCODERS = ("network", "none")


def _needs_scale(kind: str) -> Callable[[type[Observation]], bool]:
    """Whether an observation family reads this scale setting (`Observation.needs_scale`)."""
    return lambda family: family.needs_scale == kind


def _has_components(prior: type[Prior]) -> bool:
    return prior.default_components is not None


@dataclass
class ObservationConfig:
    """What every model of x through an observation model shares: the data's shape and the family of p(x|.)."""

    data_shape: tuple[int, ...] = option((1, 8, 8), cli=False)
    likelihood: str = option("bernoulli", "observation model p(x|z)", choices=OBSERVATIONS.names)
    # Read by the families whose needs_scale is "fixed" (gaussian-fixed): the noise, in data units (data in [0, 1]).
    fixed_scale: float = option(0.1, "sigma of the gaussian-fixed likelihood", minimum=1e-12,
                                when=("likelihood", lambda: OBSERVATIONS.names_where(_needs_scale("fixed"))))
    # Read by the families whose needs_scale is "floor" (gaussian): keeps a learned Gaussian's density bounded (it
    # would diverge on constant pixels otherwise).
    obs_min_scale: float = option(1e-3, "floor on the gaussian likelihood's sigma", minimum=1e-12,
                                  when=("likelihood", lambda: OBSERVATIONS.names_where(_needs_scale("floor"))))

    def __post_init__(self) -> None:
        check(self)
        if not self.data_shape or any(s < 1 for s in self.data_shape):
            raise ValueError(f"data_shape must be positive sizes, got {self.data_shape}")

    def observation(self) -> Observation:
        """The observation model this config names."""
        return OBSERVATIONS[self.likelihood](self.data_shape, fixed_scale=self.fixed_scale,
                                             min_scale=self.obs_min_scale)


@dataclass
class LatentModelConfig(ObservationConfig):
    """What every model with an observation model p(x|z) shares; saved in a run's config.json under "model"."""

    network: str = option("mlp", "encoder/decoder body next to x", choices=NETWORKS.names)
    # A floor on q's scale keeps log q(z|x) finite when the encoder tries to collapse a dimension to a point.
    min_scale: float = option(1e-4, "floor on the standard deviation of every Gaussian over z", minimum=1e-12)


@dataclass
class VAEConfig(LatentModelConfig):
    """A one-layer VAE's architecture."""

    latent_dim: int = option(8, "dimension d of z", minimum=1)
    hidden: tuple[int, ...] = option((512,), "hidden layer widths (encoder order)", minimum=1)
    prior: str = option("normal", "prior p(z)", choices=PRIORS.names, group="prior")
    prior_components: int | None = option(None, "C: the prior's components (mixture components, VampPrior "
                                          "pseudo-inputs), the prior's own number when not given", minimum=1,
                                          group="prior",
                                          when=("prior", lambda: PRIORS.names_where(_has_components)))
    # none: the seed's q(z|lambda_i), one (loc, scale) per training row, learned with the decoder; q(z|x) of any
    # other x is fitted by gradient ascent on its ELBO (vaekit.estimate.with_posteriors).
    encoder: str = option("network", "q(z|x): an encoder network (amortised), or none: per-datapoint parameters "
                          "lambda_i of the training rows, fitted by gradient ascent for other data",
                          choices=ENCODERS, group="inference")
    num_rows: int | None = option(None, cli=False, minimum=1)  # training rows of the table (--encoder none)
    inference_steps: int = option(200, "Adam steps fitting q(z|lambda) to data outside the training rows",
                                  minimum=1, group="inference", when=("encoder", ("none",)))
    inference_lr: float = option(0.05, "initial Adam learning rate of that fit (decayed linearly to 0)",
                                 minimum=1e-12, group="inference", when=("encoder", ("none",)))
    # Each row's lambda_i gets one gradient an epoch (the decoder one a step): at the decoder's rate it would
    # hardly move, and q stays at the prior while the decoder learns to ignore z.
    local_lr_scale: float = option(100.0, "learning rate of the lambda_i in training, as a multiple of --lr",
                                   minimum=1e-6, group="inference", when=("encoder", ("none",)))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder == "none" and self.num_rows is None:
            raise ValueError("encoder 'none' keeps parameters per training row: num_rows must be given")
        if self.encoder == "none" and PRIORS[self.prior].needs_encoder:
            others = " or ".join(PRIORS.names_where(lambda c: not c.needs_encoder))
            raise ValueError(f"{PRIORS[self.prior].describe()} ({self.prior}) is built from the encoder network; with "
                             f"--encoder none use --prior {others}")

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        prior = PRIORS[self.prior].describe()
        components = f" ({self.prior_components} components)" if self.prior_components else ""
        inference = (f", q(z|lambda_i) per training row (no encoder; other data fitted in {self.inference_steps} "
                     "steps)" if self.encoder == "none" else "")
        return (f"A VAE with {prior}{components}, a {self.likelihood} likelihood, {self.network} networks (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}) and a {self.latent_dim}-dimensional latent space"
                f"{inference}")


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
        encoder, decoder = build(
            config.network, config.data_shape, config.hidden, config.latent_dim, self.observation.num_params
        )
        assert decoder is not None  # an observation model has parameters: there is a decoder
        # Built either way, so that the decoder starts from the same weights with or without an encoder. The order
        # of registration is the order of the parameters, which a saved optimiser state relies on: encoder first.
        self.encoder = encoder if config.encoder == "network" else None
        self.decoder = decoder
        if config.encoder == "none":
            assert config.num_rows is not None  # VAEConfig checks that encoder "none" has it
            self.posteriors = PosteriorTable(config.num_rows, config.latent_dim)
        self.prior_module = PRIORS[config.prior](config.latent_dim, config.data_shape, config.prior_components)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    @property
    def amortised(self) -> bool:
        """Whether q(z|x) is an encoder's output (cheap); else `encode` fits it per datapoint (an optimisation)."""
        return self.encoder is not None

    def prior(self) -> Distribution:
        """p(z): batch shape [], event shape [latent_dim]."""
        return self.prior_module(self.encode)

    @property
    def inference_steps(self) -> int:
        """Adam steps of the per-datapoint fit of q(z|x) for data outside the training rows (without an encoder)."""
        return self.config.inference_steps

    @property
    def inference_lr(self) -> float:
        """The initial learning rate of that fit."""
        return self.config.inference_lr

    def encode(self, x: Tensor) -> Distribution:
        """q(z|x) = N(loc(x), diag(scale(x)^2)): batch [B], event [latent_dim]; scale = softplus + min_scale.

        Without an encoder (`encoder="none"`) there is no q(z|x) to compute: the training rows' own q(z|lambda_i)
        are `at(index)`, and `vaekit.estimate.with_posteriors(model, x)` fits one to any other x (raises
        `VaekitError` naming both).
        """
        if self.encoder is None:
            raise VaekitError("this VAE has no encoder (--encoder none): its q(z|x) of the training rows is "
                              "model.at(index), and vaekit.estimate.with_posteriors(model, x) fits one to other data")
        return self.posterior(self.encoder(x))

    def parameter_groups(self) -> list[dict]:
        """The optimiser's parameter groups: the lambda_i of the training rows (without an encoder) learn at
        `local_lr_scale` times the learning rate of the other parameters."""
        if self.encoder is not None:
            return [{"params": list(self.parameters())}]
        table = list(self.posteriors.parameters())
        rest = [p for p in self.parameters() if all(p is not t for t in table)]
        return [{"params": rest}, {"params": table, "lr_scale": self.config.local_lr_scale}]

    def at(self, index: Tensor) -> nn.Module:
        """The model for training rows `index` [B]: q(z|x) is q(z|lambda_i) of those rows without an encoder; with
        one, it is the encoder's q(z|x) and the model itself."""
        return TrainingRows(self, index) if self.encoder is None else self

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


class PosteriorTable(nn.Module):
    """lambda_i for N training rows: raw [N, 2, latent_dim] (location, unconstrained scale, as an encoder's output),
    starting at q = N(0, I)."""

    def __init__(self, num_rows: int, latent_dim: int) -> None:
        super().__init__()
        raw = torch.zeros(num_rows, 2, latent_dim)
        raw[:, 1] = math.log(math.expm1(1.0))  # softplus^-1(1): scale 1 (the min_scale floor adds 1e-4)
        self.raw = nn.Parameter(raw)

    def forward(self, index: Tensor) -> Tensor:
        return self.raw[index]


class TrainingRows(nn.Module):
    """A non-amortised VAE for some of its training rows: q(z|x) = q(z|lambda_i) of rows `index`; the model's
    prior and decoder otherwise. x must be those rows, in that order."""

    def __init__(self, model: VAE, index: Tensor) -> None:
        super().__init__()
        self.model, self.index = model, index

    def prior(self) -> Distribution:
        return self.model.prior()

    def encode(self, x: Tensor) -> Distribution:
        if x.shape[0] != self.index.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows, but this model is bound to {self.index.shape[0]} training rows")
        return self.model.posterior(self.model.posteriors(self.index))

    def decode(self, z: Tensor) -> Distribution:
        return self.model.decode(z)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        return self.model.log_joint(x, z)

    def rows(self, start: int, stop: int) -> TrainingRows:
        return TrainingRows(self.model, self.index[start:stop])
