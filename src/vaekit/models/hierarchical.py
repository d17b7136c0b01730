"""A VAE with two stochastic layers (Burda, Grosse & Salakhutdinov 2016): a directed graph whose conditionals
are neural networks.

    p(x, z1, z2) = p(z2) p(z1|z2) p(x|z1)          q(z1, z2|x) = q(z1|x) q(z2|z1)

p(z2) = N(0, I); p(z1|z2), q(z1|x) and q(z2|z1) are diagonal Gaussians whose parameters come from MLPs; p(x|z1)
is any registered observation model. Inside the model protocol z = [z1, z2] (concatenated): `encode` and
`prior` return `Chain` distributions over both layers, and `decode` reads z1. The defaults are the paper's
architecture for MNIST: deterministic layers 200-200 between x and z1 and 100-100 between z1 and z2, latent
sizes 100 and 50.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.config import option
from vaekit.distributions import Chain, diagonal_gaussian
from vaekit.distributions.priors import StandardNormalPrior
from vaekit.models.registry import MODELS
from vaekit.models.vae import LatentModelConfig
from vaekit.networks import GaussianHead, build


@dataclass
class HVAEConfig(LatentModelConfig):
    """A two-layer VAE's architecture."""

    latent_dim: int = option(100, "dimension of z1, the layer next to x", minimum=1)
    hidden: tuple[int, ...] = option((200, 200), "hidden widths between x and z1 (encoder order)", minimum=1)
    latent_dim2: int = option(50, "dimension of z2, the top layer", minimum=1, group="hierarchy")
    hidden2: tuple[int, ...] = option((100, 100), "hidden widths between z1 and z2 (encoder order)", minimum=1,
                                      group="hierarchy")

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        return (f"A VAE with two stochastic layers, z1 ({self.latent_dim} dimensions, next to x) and z2 "
                f"({self.latent_dim2}), a {self.likelihood} likelihood and {self.network} networks (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'} between x and z1, "
                f"{' x '.join(map(str, self.hidden2)) or 'none'} between z1 and z2)")


@MODELS.register("hvae")
class HVAE(nn.Module):
    """Two stochastic layers; z [..., B, latent_dim + latent_dim2] holds [z1, z2]."""

    Config = HVAEConfig

    def __init__(self, config: HVAEConfig) -> None:
        super().__init__()
        self.config = config
        d1, d2 = config.latent_dim, config.latent_dim2
        self.observation = config.observation()
        self.encoder, decoder = build(  # q(z1|x) and p(x|z1)
            config.network, config.data_shape, config.hidden, d1, self.observation.num_params
        )
        assert decoder is not None  # an observation model has parameters: there is a decoder
        self.decoder = decoder
        self.encoder2 = GaussianHead(d1, config.hidden2, d2)  # q(z2|z1)
        self.decoder2 = GaussianHead(d2, tuple(reversed(config.hidden2)), d1)  # p(z1|z2)
        self.top = StandardNormalPrior(d2, config.data_shape)  # p(z2)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim + self.config.latent_dim2

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def _q_z2(self, z1: Tensor) -> Distribution:
        return diagonal_gaussian(self.encoder2(z1), self.config.min_scale)

    def _p_z1(self, z2: Tensor) -> Distribution:
        return diagonal_gaussian(self.decoder2(z2), self.config.min_scale)

    def prior(self) -> Distribution:
        """p(z1, z2) = p(z2) p(z1|z2) over [z1, z2]: batch [], event [latent_dim + latent_dim2]."""
        c = self.config
        return Chain(self.top(), [self._p_z1], [c.latent_dim2, c.latent_dim], ["z2", "z1"], reverse=True)

    def encode(self, x: Tensor) -> Distribution:
        """q(z1, z2|x) = q(z1|x) q(z2|z1) over [z1, z2]: batch [B], event [latent_dim + latent_dim2]."""
        c = self.config
        q_z1 = diagonal_gaussian(self.encoder(x), c.min_scale)
        return Chain(q_z1, [self._q_z2], [c.latent_dim, c.latent_dim2], ["z1", "z2"])

    def decode(self, z: Tensor) -> Distribution:
        """p(x|z1), reading z1 from z [..., B, latent_dim + latent_dim2]: batch [..., B], event `data_shape`."""
        return self.observation(self.decoder(z[..., : self.config.latent_dim]))

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z1, z2) = log p(x|z1) + log p(z1|z2) + log p(z2), shape [..., B], nats."""
        return self.decode(z).log_prob(x) + self.prior().log_prob(z)
