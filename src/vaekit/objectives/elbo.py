"""The ELBO as a training objective, with the KL weight beta, linear KL warm-up, and free bits.

    loss = -(1/B) sum_b E_q[log p(x_b|z)] + beta_t * KL_term
    beta_t  = beta * min(1, t / W)   for warm-up over W epochs (t in epochs, fractional), else beta
    KL_term = (1/B) sum_b KL_b                                     without free bits
            = sum_u max(lambda * size_u, (1/B) sum_b KL_bu)        with free bits lambda (nats per dimension)

The units u are the latent dimensions where q and p(z) factorise over them, else the latent layers, else the
whole z (`vaekit.distributions.kl_units`). With beta = 1, no warm-up and no free bits this is exactly the ELBO.
The bound is a true lower bound on log p(x) only then; evaluation always reports the plain ELBO.

References:
    [1] Higgins et al. 2017, beta-VAE.
    [2] Bowman et al. 2016, Generating Sentences from a Continuous Space; Sønderby et al. 2016, Ladder VAEs
        (KL warm-up).
    [3] Kingma et al. 2016, Improved Variational Inference with Inverse Autoregressive Flow (free bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vaekit.config import MAX_EPOCHS, check, option
from vaekit.data.batch import Batch
from vaekit.distributions import kl_units
from vaekit.estimate.bounds import elbo_with_samples
from vaekit.models.protocol import LatentVariableModel, for_batch
from vaekit.objectives.registry import OBJECTIVES, LatentVariableObjective, Loss


@dataclass
class ELBOConfig:
    """Settings of the ELBO objective; saved in a run's config.json under "objective"."""

    beta: float = option(1.0, "weight of the KL term (beta-VAE; 1 is the ELBO)", minimum=0)
    warmup_epochs: int = option(0, "KL warm-up: beta rises linearly from 0 over the first W epochs", minimum=0,
                                maximum=MAX_EPOCHS)
    free_bits: float = option(0.0, "free bits: nats per latent dimension below which the KL is not pushed down",
                              minimum=0)
    num_samples: int = option(1, "draws of z per datapoint in the training ELBO", minimum=1)
    # The analytic KL has lower variance; the Monte-Carlo form serves priors without a closed form.
    analytic_kl: bool = option(True, "closed-form KL(q || p) where one exists (else Monte-Carlo)")

    def __post_init__(self) -> None:
        check(self)


@OBJECTIVES.register("elbo")
class ELBO(LatentVariableObjective):
    """Maximise the ELBO (optionally weighted, warmed up, or with free bits); see the module docstring."""

    Config = ELBOConfig
    figure_label = "ELBO"
    # The plain ELBO's terms, which validation also reports for every latent-variable model, whatever the objective.
    term_labels: ClassVar[dict[str, str]] = {"reconstruction": "Reconstruction term", "kl": "KL(q(z|x) || p(z))"}

    def beta(self, progress: float) -> float:
        """beta_t at `progress` epochs."""
        c = self.config
        return c.beta * min(1.0, progress / c.warmup_epochs) if c.warmup_epochs else c.beta

    def scalars(self, progress: float) -> dict[str, float]:
        return {"beta": self.beta(progress)} if self.config.warmup_epochs or self.config.beta != 1 else {}

    def __call__(self, model: LatentVariableModel, batch: Batch, progress: float) -> Loss:
        c = self.config
        model = for_batch(model, batch)
        qz_x, pz = model.encode(batch.x), model.prior()
        terms, z = elbo_with_samples(model, batch.x, c.num_samples, c.analytic_kl, qz_x=qz_x, pz=pz)
        named = {"elbo": terms.elbo, "reconstruction": terms.reconstruction, "kl": terms.kl}
        if c.free_bits:
            units = kl_units(qz_x, pz, z, analytic=c.analytic_kl)
            floor = units.values.new_tensor(units.sizes) * c.free_bits
            kl_term = units.values.mean(0).maximum(floor).sum()
        else:
            kl_term = terms.kl.mean()
        beta = self.beta(progress)
        if beta == 1 and not c.free_bits:
            return Loss(-terms.elbo.mean(), named)
        return Loss(-terms.reconstruction.mean() + beta * kl_term, named)

    def describe(self) -> str:
        c = self.config
        extras = [f"beta {c.beta:g}"] if c.beta != 1 else []
        extras += [f"KL warm-up over {c.warmup_epochs} epochs"] if c.warmup_epochs else []
        extras += [f"free bits {c.free_bits:g} nats per dimension"] if c.free_bits else []
        extras += [f"{c.num_samples} draws of z"] if c.num_samples != 1 else []
        return "the ELBO" + (f" ({', '.join(extras)})" if extras else "")

    def is_plain_elbo(self) -> bool:
        c = self.config
        return c.beta == 1 and not c.warmup_epochs and not c.free_bits and c.num_samples == 1 and c.analytic_kl
