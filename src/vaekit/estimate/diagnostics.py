"""Diagnostics over a split: the ELBO's terms, the KL per latent dimension or layer, and active units.

Every figure is per datapoint, in nats, unless its name says otherwise. Means are accumulated in float64.

References:
    [1] Burda, Grosse & Salakhutdinov 2016, Importance Weighted Autoencoders (active units).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaekit.distributions import kl_units
from vaekit.estimate.bounds import elbo_with_samples
from vaekit.models.protocol import LatentVariableModel, chunks, latent_groups

#: Draws per datapoint for a posterior mean that q does not give in closed form (a hierarchy's upper layers).
MOMENT_SAMPLES = 16
#: A latent unit is active when the variance over x of its posterior mean exceeds this [1].
ACTIVE_THRESHOLD = 0.01


def posterior_moments(qz_x: Distribution, num_samples: int = MOMENT_SAMPLES) -> tuple[Tensor, Tensor, bool]:
    """(E_q[z], sd_q[z], estimated) for q with batch [B]: each [B, d]; from q's own `mean` and `stddev` where it
    has them, else estimated from `num_samples` draws (`estimated` is then True)."""
    mean, sd, _, estimated = _moments(qz_x, num_samples)
    return mean, sd, estimated


def _moments(qz_x: Distribution, num_samples: int) -> tuple[Tensor, Tensor, Tensor, bool]:
    """`posterior_moments` and the variance of the E_q[z] estimate [B, d] (zero where it is exact): q's own
    `moments(S)` where it has them (a `Chain`'s, Rao-Blackwellised), else Var_q[z] / S for a mean of S draws."""
    try:
        return qz_x.mean, qz_x.stddev, torch.zeros_like(qz_x.mean), False
    except NotImplementedError:
        pass
    moments = getattr(qz_x, "moments", None)  # a `Chain`, or any q with the same method
    if callable(moments):
        return (*moments(num_samples), True)
    z = qz_x.sample((num_samples,))  # (S, B, d)
    sd = z.std(0)
    return z.mean(0), sd, sd.square() / num_samples, True


@dataclass(frozen=True)
class Summary:
    """Means over a split of the per-datapoint ELBO terms and posterior statistics (nats per datapoint).

    `kl_per_dim` is None where q and p(z) do not factorise over dimensions (a mixture or VampPrior, a
    hierarchy): the KL of one dimension is then undefined. `groups` holds, for each latent layer (one layer
    "z" for a one-layer model), its size, KL and active units.
    """

    elbo: float
    reconstruction: float
    kl: float
    kl_per_dim: list[float] | None  # mean over datapoints of each latent dimension's KL term, nats
    active_units: int               # dimensions j with Cov_x(E_q[z_j]) > 0.01 [1]
    posterior_mean_variance: list[float]  # Cov_x(E_q[z_j]) per dimension
    posterior_mean_estimated: bool = False  # E_q[z] estimated from draws (q has no closed-form mean)
    groups: dict[str, dict] = field(default_factory=dict)  # layer -> {"size", "kl", "active_units"}


@torch.inference_mode()
def summarize(model: LatentVariableModel, x: Tensor, batch_size: int = 1024, analytic_kl: bool = True) -> Summary:
    """ELBO terms (one draw of z per datapoint) and collapse diagnostics over a split x [N, *data_shape]."""
    pz = model.prior()
    groups = latent_groups(model)
    totals = torch.zeros(3, dtype=torch.float64)
    unit_sums: Tensor | None = None
    locs, noise, estimated, per_dimension, unit_names = [], [], False, False, ["z"]
    for part, xb in chunks(model, x, batch_size):
        qz_x = part.encode(xb)
        terms, z = elbo_with_samples(part, xb, 1, analytic_kl, qz_x=qz_x, pz=pz)
        totals += torch.stack([terms.elbo.sum(), terms.reconstruction.sum(), terms.kl.sum()]).double().cpu()
        units = kl_units(qz_x, pz, z, analytic=analytic_kl)
        per_dimension, unit_names = units.per_dimension, units.names
        batch_units = units.values.double().sum(0).cpu()
        unit_sums = batch_units if unit_sums is None else unit_sums + batch_units
        mean, _, mean_noise, was_estimated = _moments(qz_x, MOMENT_SAMPLES)
        estimated = estimated or was_estimated
        locs.append(mean.double().cpu())
        noise.append(mean_noise.double().cpu())  # the sampling variance of an estimated mean
    n = x.shape[0]
    means = torch.cat(locs)
    variance = means.var(0, correction=0) if n > 1 else torch.zeros(means.shape[-1], dtype=torch.float64)
    # Var_x of the estimated means = Var_x of the true means + E_x[the estimate's variance]: remove the noise, or
    # collapsed units (a mean of S = 16 draws with Var_q = 1: 0.06 > the 0.01 threshold) would all count as active.
    variance = (variance - torch.cat(noise).mean(0)).clamp_min(0) if n > 1 else variance
    active = variance > ACTIVE_THRESHOLD
    unit_kl = (unit_sums / n) if unit_sums is not None else torch.zeros(0, dtype=torch.float64)
    group_figures, start = {}, 0
    for name, size in groups.items():
        if per_dimension:
            kl_group = float(unit_kl[start : start + size].sum())
        elif name in unit_names:
            kl_group = float(unit_kl[unit_names.index(name)])
        else:
            kl_group = float(totals[2] / n) if len(groups) == 1 else float("nan")
        group_figures[name] = {"size": size, "kl": kl_group, "active_units": int(active[start : start + size].sum())}
        start += size
    return Summary(
        elbo=float(totals[0] / n),
        reconstruction=float(totals[1] / n),
        kl=float(totals[2] / n),
        kl_per_dim=unit_kl.tolist() if per_dimension else None,
        active_units=int(active.sum()),
        posterior_mean_variance=variance.tolist(),
        posterior_mean_estimated=estimated,
        groups=group_figures,
    )
