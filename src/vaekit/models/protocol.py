"""The model protocol: what every estimator, objective and report in vaekit needs of a latent-variable model.

A latent-variable model is any `nn.Module` with these four methods (no vaekit base class, no particular
attribute names):

    prior()          -> p(z):   a Distribution, batch shape [] (or [B]), event shape [d]
    encode(x)        -> q(z|x): a Distribution, batch [B], event [d], with `rsample` (reparameterised)
    decode(z)        -> p(x|z): a Distribution, batch [..., B] for z [..., B, d], event = one datapoint's shape
    log_joint(x, z)  -> log p(x, z) = log p(x|z) + log p(z), shape [..., B], nats

x is [B, *data_shape] and z is [..., B, d] (leading sample dimensions allowed). A hierarchy of stochastic layers
stays inside the protocol: q and p may be distributions over all layers at once (`vaekit.distributions.Chain`).
Optional extras that estimators use where present and do without otherwise: `mean` / `stddev` on q (else they
are estimated from samples), `log_prob_parts` and `group_sizes` on q and p (per-layer KL and active units), and
`rsample_and_log_prob` on q (a draw and its density in one pass), `initialize(x)` on the model (data-dependent
initialisation before training).
"""

from __future__ import annotations

import itertools
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.distributions import Distribution


@runtime_checkable
class LatentVariableModel(Protocol):
    """p(x, z) = p(z) p(x|z) with an amortised posterior q(z|x); see the module docstring for the shapes."""

    def prior(self) -> Distribution: ...

    def encode(self, x: Tensor) -> Distribution: ...

    def decode(self, z: Tensor) -> Distribution: ...

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor: ...


def latent_dim(model: LatentVariableModel) -> int:
    """d, the dimension of z (all layers together), read from the prior's event shape."""
    return int(model.prior().event_shape[-1])


def latent_groups(model: LatentVariableModel) -> dict[str, int]:
    """The latent layers and their sizes, in the order z holds them (the layer next to x first): {"z": d} for a
    single layer."""
    pz = model.prior()
    return dict(pz.group_sizes()) if hasattr(pz, "group_sizes") else {"z": int(pz.event_shape[-1])}


@torch.no_grad()
def generate(model: LatentVariableModel, n: int, *, mean: bool = False, seed: int | None = None) -> Tensor:
    """Draw x ~ p(x) by ancestral sampling with the prior's own `sample`: z ~ p(z), x ~ p(x|z).

    Args:
        n: number of samples.
        mean: return the mean of p(x|z) instead of a draw from it (what pictures usually show).
        seed: seed the draws (on a forked RNG, leaving the caller's RNG state as it was); None uses the global RNG.

    Returns:
        Tensor [n, *data_shape].
    """
    device = device_of(model)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        px_z = model.decode(model.prior().sample((n,)))
        return px_z.mean if mean else px_z.sample()


def device_of(model: object) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a model without either)."""
    return _first_tensor(model, torch.zeros(())).device


def dtype_of(model: object) -> torch.dtype:
    """The dtype of a module's first floating-point parameter or buffer (else torch's default dtype)."""
    return _first_tensor(model, torch.zeros(()), floating=True).dtype


def _first_tensor(model: object, default: Tensor, floating: bool = False) -> Tensor:
    if isinstance(model, torch.nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            if tensor.is_floating_point() or not floating:
                return tensor
    return default
