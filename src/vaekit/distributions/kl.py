"""KL(q(z|x) || p(z)): analytic where `torch.distributions` has a registered closed form, Monte-Carlo otherwise,
chosen automatically, so that no prior or posterior raises NotImplementedError. `kl` is the one place that rule
lives: the ELBO (`vaekit.estimate.elbo`), the ELBO beside log p(x) (`vaekit.estimate.log_likelihood`), free bits
and the diagnostics (`kl_units`) all ask it.

`kl_units` breaks the KL into units: one per latent dimension where q and p factorise over dimensions, one per
layer for distributions with `log_prob_parts` (a `Chain`), else one unit for the whole KL. Free bits and the
per-dimension / per-layer diagnostics use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, kl_divergence


def analytic_kl(qz_x: Distribution, pz: Distribution) -> Tensor | None:
    """The closed-form KL(q || p) [B] where one is registered for these types, else None."""
    try:
        return kl_divergence(qz_x, pz)
    except NotImplementedError:
        return None


def kl(qz_x: Distribution, pz: Distribution, z: Tensor | None = None, *, analytic: bool = True,
       log_qz: Tensor | None = None, estimate: Tensor | None = None) -> Tensor:
    """KL(q(z|x) || p(z)) per datapoint [B], nats: the closed form where `analytic` is set and one is registered
    for these types (lower variance), else the Monte-Carlo estimate E_q[log q(z) - log p(z)].

    Args:
        qz_x: q with batch [B].
        pz: p(z), batch [] or [B].
        z: samples [K, B, d] from q, for the Monte-Carlo form (mean over K).
        analytic: use the closed form where one is registered; False forces Monte-Carlo.
        log_qz: log q(z) [K, B] where the caller has it already.
        estimate: the Monte-Carlo estimate [B] where the caller has it from its own draws (the mean over them of
            log p(x|z) - log w, as an importance sampler has it); then z is not needed.
    """
    if analytic:
        exact = analytic_kl(qz_x, pz)
        if exact is not None:
            return exact
    if estimate is not None:
        return estimate
    if z is None:
        raise ValueError("the Monte-Carlo KL needs samples z from q")
    log_qz = qz_x.log_prob(z) if log_qz is None else log_qz
    return (log_qz - pz.log_prob(z)).mean(0)


@dataclass(frozen=True)
class KLUnits:
    """The KL split into units: `values` [B, U] nats, `sizes` the latent dimensions in each unit, `names`."""

    values: Tensor
    sizes: list[int]
    names: list[str]
    per_dimension: bool  # one unit per latent dimension


class _Grouped(Protocol):
    """A distribution over a concatenation of named groups of dimensions (`vaekit.distributions.hierarchy`)."""

    def group_sizes(self) -> dict[str, int]: ...

    def log_prob_parts(self, z: Tensor) -> dict[str, Tensor]: ...


def kl_units(qz_x: Distribution, pz: Distribution, z: Tensor, *, analytic: bool = True) -> KLUnits:
    """KL(q || p) per unit, for free bits and diagnostics; `values.sum(-1)` is the KL itself.

    Args:
        z: samples [K, B, d] from q (used by the Monte-Carlo forms).
    """
    d = z.shape[-1]
    if isinstance(qz_x, Independent) and isinstance(pz, Independent) and qz_x.reinterpreted_batch_ndims == 1 \
            and pz.reinterpreted_batch_ndims == 1:
        per_dim = kl(qz_x.base_dist, pz.base_dist, z, analytic=analytic)  # [B, d]: each dimension's KL
        return KLUnits(per_dim, [1] * d, [f"z{j}" for j in range(d)], True)
    if all(hasattr(dist, "log_prob_parts") and hasattr(dist, "group_sizes") for dist in (qz_x, pz)):
        q_grouped, p_grouped = cast(_Grouped, qz_x), cast(_Grouped, pz)
        groups = q_grouped.group_sizes()
        if groups == p_grouped.group_sizes():
            lq, lp = q_grouped.log_prob_parts(z), p_grouped.log_prob_parts(z)
            values = torch.stack([(lq[name] - lp[name]).mean(0) for name in groups], dim=-1)
            return KLUnits(values, list(groups.values()), list(groups), False)
    return KLUnits(kl(qz_x, pz, z, analytic=analytic).unsqueeze(-1), [d], ["z"], False)
