"""The variational autoencoder: p(x, z) = p(z) p(x|z) with p(z) = N(0, I), and q(z|x) a diagonal Gaussian.

References: Kingma & Welling 2014 (Auto-Encoding Variational Bayes); Rezende, Mohamed & Wierstra 2014.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.errors import DataError
from vaekit.likelihoods import LIKELIHOODS, ObservationModel
from vaekit.networks import NETWORKS, build


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model's architecture; saved in every run's config.json."""

    data_shape: tuple[int, ...] = field(default=(1, 8, 8), metadata={"cli": False})
    latent_dim: int = field(default=8, metadata={"help": "dimension d of z"})
    hidden: tuple[int, ...] = field(default=(512,), metadata={"help": "hidden layer widths (encoder order)"})
    likelihood: str = field(default="bernoulli", metadata={"help": "observation model p(x|z)", "choices": tuple(LIKELIHOODS)})
    network: str = field(default="mlp", metadata={"help": "encoder/decoder body", "choices": NETWORKS})
    # A floor on q's scale keeps log q(z|x) finite when the encoder tries to collapse a dimension to a point.
    min_scale: float = field(default=1e-4, metadata={"help": "floor on the encoder's standard deviation"})
    # Only used by gaussian-fixed: the observation noise, in data units (data scaled to [0, 1]).
    fixed_scale: float = field(default=0.1, metadata={"help": "sigma of the gaussian-fixed likelihood"})
    # Keeps the learned Gaussian's density bounded (it would diverge on constant pixels otherwise).
    obs_min_scale: float = field(default=1e-3, metadata={"help": "floor on the gaussian likelihood's sigma"})

    def __post_init__(self) -> None:
        self.data_shape = tuple(int(s) for s in self.data_shape)
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise ValueError("latent_dim and hidden sizes must be positive")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class VAE(nn.Module):
    """A VAE whose methods are the quantities of the theory.

    Shapes: x is [B, *data_shape]; z is [..., B, latent_dim] (leading sample dimensions allowed).

    Example:
        >>> model = VAE(ModelConfig(data_shape=(1, 28, 28), latent_dim=20, hidden=(400,)))
        >>> qz_x = model.encode(x)                 # batch [B], event [20]
        >>> z = qz_x.rsample((5,))                 # (5, B, 20)
        >>> model.log_joint(x, z).shape            # (5, B), nats
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.observation = ObservationModel(
            config.likelihood, config.data_shape, fixed_scale=config.fixed_scale, min_scale=config.obs_min_scale
        )
        self.encoder, self.decoder = build(
            config.network, config.data_shape, config.hidden, config.latent_dim, self.observation.num_params
        )
        # Buffers, so that the prior follows the model across devices and dtypes.
        self.register_buffer("prior_loc", torch.zeros(config.latent_dim), persistent=False)
        self.register_buffer("prior_scale", torch.ones(config.latent_dim), persistent=False)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def prior(self) -> Distribution:
        """p(z) = N(0, I): batch shape [], event shape [latent_dim]."""
        return Independent(Normal(self.prior_loc, self.prior_scale), 1)

    def encode(self, x: Tensor) -> Distribution:
        """q(z|x) = N(loc(x), diag(scale(x)^2)): batch [B], event [latent_dim]; scale = softplus + min_scale."""
        return self.posterior(self.encoder(x))

    def posterior(self, raw: Tensor) -> Distribution:
        """q(z|x) from the encoder's raw output [B, 2, latent_dim] (location, unconstrained scale)."""
        loc, raw_scale = raw.unbind(-2)  # each (B, d)
        return Independent(Normal(loc, F.softplus(raw_scale) + self.config.min_scale), 1)

    def decode(self, z: Tensor) -> Distribution:
        """p(x|z): batch [..., B], event `data_shape`."""
        return self.observation(self.decoder(z))

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x|z) + log p(z), shape [..., B], nats."""
        return self.decode(z).log_prob(x) + self.prior().log_prob(z)

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Draw x ~ p(x) by ancestral sampling: z ~ p(z), x ~ p(x|z).

        Args:
            n: number of samples.
            mean: return the mean of p(x|z) instead of a draw from it (what pictures usually show).
            generator: optional RNG for z (and for x through the global RNG when `mean` is False).

        Returns:
            Tensor [n, *data_shape].
        """
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.prior_loc.device)
        px_z = self.decode(z)
        return px_z.mean if mean else px_z.sample()


@torch.no_grad()
def check_support(model: VAE, x: Tensor, what: str) -> None:
    """Raise `DataError` unless every row of x [N, *data_shape] lies in the support of the model's p(x|z)."""
    z = torch.zeros(1, model.latent_dim, device=model.prior_loc.device, dtype=model.prior_loc.dtype)
    px_z = model.decode(z)
    inside = px_z.support.check(x)
    if not bool(inside.all()):
        bad = int((~inside).sum())
        raise DataError(f"{what}: {bad} of {len(x)} rows lie outside the support of the {model.config.likelihood} "
                        f"likelihood ({px_z.support}); choose a likelihood that fits the data")
