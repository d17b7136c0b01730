"""The benchmarked 784-400-20 MLP VAE as pythae models: VAE, IWAE, VAMP (import only inside benchmarks/.venv-pythae).

pythae's own `Encoder_VAE_MLP` / `Decoder_AE_MLP` have a fixed 512-unit hidden layer, so the 400-unit MLP is
given to `pythae.models.VAE` (and IWAE, VAMP) as a custom encoder/decoder -- pythae's documented way to choose an
architecture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from _common import HIDDEN, LATENT, D
from pythae.models import VAE, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from torch import nn


class Encoder(BaseEncoder):
    """x -> (embedding = mean, log_covariance = log-variance), two 400->20 heads as pythae expects."""

    def __init__(self) -> None:
        BaseEncoder.__init__(self)
        self.fc = nn.Linear(D, HIDDEN)
        self.embedding = nn.Linear(HIDDEN, LATENT)
        self.log_var = nn.Linear(HIDDEN, LATENT)

    def forward(self, x):
        h = F.relu(self.fc(x.reshape(-1, D)))
        return ModelOutput(embedding=self.embedding(h), log_covariance=self.log_var(h))


class Decoder(BaseDecoder):
    """z -> Bernoulli means (sigmoid), as pythae's "bce" reconstruction loss expects."""

    def __init__(self) -> None:
        BaseDecoder.__init__(self)
        self.fc = nn.Linear(LATENT, HIDDEN)
        self.out = nn.Linear(HIDDEN, D)

    def logits(self, z):
        return self.out(F.relu(self.fc(z)))

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.logits(z)).reshape(-1, 1, 28, 28))


def build_vae() -> VAE:
    """pythae VAE with the benchmarked MLP and the Bernoulli ("bce") reconstruction loss."""
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def build_iwae(k: int):
    """pythae IWAE (K = `k` importance samples, `number_samples`) with the benchmarked MLP and "bce"."""
    from pythae.models import IWAE, IWAEConfig

    config = IWAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce", number_samples=k)
    return IWAE(config, encoder=Encoder(), decoder=Decoder())


def build_vamp(components: int):
    """pythae VAMP (VampPrior, C = `components` pseudo-inputs) with the benchmarked MLP and "bce", no KL warm-up.

    pythae makes its pseudo-inputs as hardtanh(Linear(C -> 784)(I_C)), a C x C @ C x 784 product every step
    (as the VampPrior paper's code does); vaekit keeps them as a [C, 1, 28, 28] parameter.
    """
    from pythae.models import VAMP, VAMPConfig

    config = VAMPConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce",
                        number_components=components, linear_scheduling_steps=0)
    return VAMP(config, encoder=Encoder(), decoder=Decoder())


def vamp_pseudo_inputs(model):
    """A pythae VAMP's C pseudo-inputs [C, 1, 28, 28], as its `_log_p_z` computes them."""
    c = model.number_components
    return model.pseudo_inputs(model.idle_input.to(next(model.parameters()).device)).reshape(c, 1, 28, 28)


def encode_loc_scale(model: VAE, x):
    """(mean, standard deviation) of q(z|x), for `_common.elbo_per_image`."""
    out = model.encoder(x)
    return out.embedding, torch.exp(0.5 * out.log_covariance)


def pythae_version() -> str:
    from importlib.metadata import version
    return version("pythae")
