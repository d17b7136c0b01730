"""Models of x given a class label y: the conditional VAE, and M2, which adds p(y) and a classifier q(y|x).

Conditional VAE (Sohn, Lee & Yan 2015): p(x, z | y) = p(z) p(x|z, y), q(z|x, y), p(z) = N(0, I). `given(y)` is the
latent-variable model of x for labels y, so every estimator of vaekit computes its ELBO and log p(x|y) unchanged.

M2 (Kingma, Rezende, Mohamed & Welling 2014): p(x, y, z) = p(y) p(z) p(x|y, z) with p(y) uniform, q(z|x, y), and
the classifier q(y|x). It offers `given(y)` (as the CVAE), `label_prior()` (so log p(x) = logsumexp_y [log p(y) +
log p(x|y)]) and `classify(x)` = q(y|x). Its training objective is `vaekit.objectives.m2`.

The label enters the networks as a one-hot vector: concatenated to the encoder's features of x (`side` inputs)
and to z before the decoder. The defaults of M2 are the paper's MNIST architecture: one hidden layer of 500
units in every network, a 50-dimensional z.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution

from vaekit.config import option
from vaekit.distributions import diagonal_gaussian
from vaekit.distributions.priors import StandardNormalPrior
from vaekit.models.registry import MODELS
from vaekit.models.vae import LatentModelConfig
from vaekit.networks import build


@dataclass
class CVAEConfig(LatentModelConfig):
    """A conditional VAE's architecture."""

    latent_dim: int = option(8, "dimension d of z", minimum=1)
    hidden: tuple[int, ...] = option((512,), "hidden layer widths (encoder order)", minimum=1)
    num_classes: int = option(10, cli=False, minimum=2)  # K, from the data's labels

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        return (f"A conditional VAE p(z) p(x|z, y) over {self.num_classes} classes with a N(0, I) prior, a "
                f"{self.likelihood} likelihood, {self.network} networks (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}) and a {self.latent_dim}-dimensional latent space")


class LabelledView(nn.Module):
    """A conditional model for labels y [B]: the latent-variable model p(z) p(x|z, y) with q(z|x, y), for x of
    those B rows (z [..., B, d] in `decode`, where a batch of 1 broadcasts).

    y may have leading dimensions, [..., B]: then q(z|x, y) has batch [..., B] for x [B, ...] (x's part of the
    encoder is computed once), p(x|z, y) has batch [..., B], and every bound computed on the view has shape
    [..., B]: the bounds of the same x under several labels (M2's sum over classes)."""

    def __init__(self, model: CVAE, y: Tensor) -> None:
        super().__init__()
        if y.dim() < 1 or y.dtype != torch.int64:
            raise ValueError(f"labels must be int64 [..., B], got {y.dtype} {list(y.shape)}")
        if y.numel() and not (0 <= int(y.min()) and int(y.max()) < model.num_classes):
            raise ValueError(f"labels must be classes 0..{model.num_classes - 1}, got {int(y.min())}..{int(y.max())}")
        self.model, self.y = model, y
        self.onehot = F.one_hot(y, model.num_classes).to(next(model.parameters()).dtype)

    def prior(self) -> Distribution:
        """p(z) = N(0, I): batch [], event [latent_dim]."""
        return self.model.prior_module()

    def encode(self, x: Tensor) -> Distribution:
        """q(z|x, y): batch [B], event [latent_dim]."""
        return diagonal_gaussian(self.model.encoder(x, self.onehot), self.model.config.min_scale)

    def decode(self, z: Tensor) -> Distribution:
        """p(x|z, y): batch [..., B], event `data_shape`."""
        batch = torch.broadcast_shapes(z.shape[:-1], self.onehot.shape[:-1])
        zy = torch.cat([z.expand(*batch, z.shape[-1]), self.onehot.expand(*batch, self.onehot.shape[-1])], -1)
        return self.model.observation(self.model.decoder(zy))

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z | y) = log p(x|z, y) + log p(z), shape [..., B], nats."""
        return self.decode(z).log_prob(x) + self.prior().log_prob(z)

    def rows(self, start: int, stop: int) -> LabelledView:
        return LabelledView(self.model, self.y[..., start:stop])


@MODELS.register("cvae")
class CVAE(nn.Module):
    """The conditional VAE (see the module docstring): `given(y)` is a latent-variable model of x."""

    Config = CVAEConfig

    def __init__(self, config: CVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.observation = config.observation()
        k = config.num_classes
        self.encoder, decoder = build(config.network, config.data_shape, config.hidden, config.latent_dim,
                                      self.observation.num_params, side=k)
        assert decoder is not None  # an observation model has parameters: there is a decoder
        self.decoder = decoder
        self.prior_module = StandardNormalPrior(config.latent_dim, config.data_shape)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.config.data_shape

    def given(self, y: Tensor) -> LabelledView:
        """The latent-variable model p(x, z | y) for labels y [B] (int64 classes)."""
        return LabelledView(self, y)


@dataclass
class M2Config(CVAEConfig):
    """M2's architecture (defaults: the paper's for MNIST)."""

    latent_dim: int = option(50, "dimension d of z", minimum=1)
    hidden: tuple[int, ...] = option((500,), "hidden layer widths (encoder order)", minimum=1)
    classifier_hidden: tuple[int, ...] = option((500,), "hidden layer widths of the classifier q(y|x)", minimum=1)

    def describe(self) -> str:
        """One sentence, plain text: what this model is."""
        return (f"M2 (Kingma et al. 2014): p(y) uniform over {self.num_classes} classes, p(z) = N(0, I), a "
                f"{self.likelihood} p(x|y, z), {self.network} networks (hidden "
                f"{' x '.join(map(str, self.hidden)) or 'none'}; classifier q(y|x) "
                f"{' x '.join(map(str, self.classifier_hidden)) or 'none'}) and a {self.latent_dim}-dimensional z")


@MODELS.register("m2")
class M2(CVAE):
    """M2 (see the module docstring): `given(y)`, `label_prior()` and `classify(x)`."""

    Config = M2Config
    default_objective = "m2"
    label_logits: Tensor  # a buffer: p(y)'s logits

    def __init__(self, config: M2Config) -> None:
        super().__init__(config)
        self.classifier, _ = build(config.network, config.data_shape, config.classifier_hidden, config.num_classes,
                                   0, heads=1)
        self.register_buffer("label_logits", torch.zeros(config.num_classes), persistent=False)

    def label_prior(self) -> Categorical:
        """p(y): uniform over the classes."""
        return Categorical(logits=self.label_logits)

    def classify(self, x: Tensor) -> Categorical:
        """q(y|x) for x [B, *data_shape]: a Categorical with batch [B]."""
        return Categorical(logits=self.classifier(x)[:, 0])
