"""The model protocols: what every estimator, objective, report and command in vaekit needs of a model. Each is
a set of methods (no vaekit base class, no particular attribute names); a model offers whichever capabilities
it has, and callers detect them by those methods (`isinstance(model, Classifier)` and so on), never by kind name.

Latent-variable model (`LatentVariableModel`), any `nn.Module` with

    prior()          -> p(z):   a Distribution, batch shape [] (or [B]), event shape [d]
    encode(x)        -> q(z|x): a Distribution, batch [B], event [d], with `rsample` (reparameterised)
    decode(z)        -> p(x|z): a Distribution, batch [..., B] for z [..., B, d], event = one datapoint's shape
    log_joint(x, z)  -> log p(x, z) = log p(x|z) + log p(z), shape [..., B], nats

x is [B, *data_shape] and z is [..., B, d] (leading sample dimensions allowed). A hierarchy of stochastic layers
stays inside the protocol: q and p may be distributions over all layers at once (`vaekit.distributions.Chain`).
Optional extras that estimators use where present and do without otherwise: `mean` / `stddev` on q (else they
are estimated from samples), `log_prob_parts` and `group_sizes` on q and p (per-layer KL and active units), and
`rsample_and_log_prob` on q (a draw and its density in one pass), `initialize(x)` on the model (data-dependent
initialisation before training). q(z|x) need not come from a network: a model whose `amortised` is False keeps
q(z|lambda_i) per training row (`at`, below) and leaves q(z|x) of other data to the estimators, which fit it per
datapoint (`vaekit.estimate.with_posteriors`, with the model's `inference_steps` and `inference_lr` where it has
them).

Conditional model (`ConditionalModel`): `given(y)` -> the latent-variable model of x for labels y [B] (int64
classes), p(x, z | y) = p(z) p(x|z, y) with q(z|x, y); and `num_classes`. Every estimator of a latent-variable
model then computes the conditional figure unchanged: `log_likelihood(model.given(y), x)` is log p(x|y). With
`label_prior()` -> p(y) (a `Categorical`) as well, the model is a model of x: log p(x) = logsumexp_y [log p(y) +
log p(x|y)] (`vaekit.estimate.marginal_log_likelihood`).

Classifier (`Classifier`): `classify(x)` -> p(y|x), a `Categorical` with batch [B]; and `num_classes`.

Density model (`DensityModel`): `log_prob(x)` -> exact log p(x), [B] nats, and `sample(n)` -> [n, *data_shape];
an autoregressive one may offer `conditionals(x)`, the distribution whose `log_prob(x)` at that same x is log p(x).

Per-datapoint values: a model bound to values of particular datapoints (a conditional model's `given(y)`) offers
`rows(start, stop)`, the same model for those rows only, so that estimators can process x in chunks
(`chunks`); a model with per-datapoint parameters for its training rows offers `at(index)`, the latent-variable
model whose q(z|x) is that of training rows `index`. `for_batch` applies both for a training batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Protocol, TypeGuard, runtime_checkable

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution

from vaekit.data.batch import UNLABELLED, Batch
from vaekit.errors import VaekitError


@runtime_checkable
class LatentVariableModel(Protocol):
    """p(x, z) = p(z) p(x|z) with an amortised posterior q(z|x); see the module docstring for the shapes."""

    def prior(self) -> Distribution: ...

    def encode(self, x: Tensor) -> Distribution: ...

    def decode(self, z: Tensor) -> Distribution: ...

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor: ...


@runtime_checkable
class ConditionalModel(Protocol):
    """p(x, z | y) = p(z) p(x|z, y) with q(z|x, y): `given(y)` for labels y [B] is that latent-variable model."""

    num_classes: int

    def given(self, y: Tensor) -> LatentVariableModel: ...


@runtime_checkable
class Classifier(Protocol):
    """p(y|x): `classify(x)` for x [B, *data_shape] is a `Categorical` with batch [B] over `num_classes` classes."""

    num_classes: int

    def classify(self, x: Tensor) -> Categorical: ...


@runtime_checkable
class DensityModel(Protocol):
    """A model of x with an exact log p(x): `log_prob(x)` [B] nats, and `sample(n)` [n, *data_shape]."""

    def log_prob(self, x: Tensor) -> Tensor: ...

    def sample(self, n: int) -> Tensor: ...


def rows(model: Any, start: int, stop: int) -> Any:
    """The model for rows start:stop of the datapoints it is bound to (`rows` where it has it, else the model)."""
    return model.rows(start, stop) if hasattr(model, "rows") else model


def chunks(model: Any, x: Tensor, batch_size: int) -> Iterator[tuple[Any, Tensor]]:
    """(the model for these rows, x of these rows) for consecutive chunks of x [N, ...] along its first dimension."""
    for start in range(0, x.shape[0], batch_size):
        stop = min(start + batch_size, x.shape[0])
        yield rows(model, start, stop), x[start:stop]


def labelled(y: Tensor | None) -> TypeGuard[Tensor]:
    """Whether every row of a batch carries a label (y not None, no `UNLABELLED`)."""
    return y is not None and not bool((y == UNLABELLED).any())


def for_batch(model: Any, batch: Batch) -> Any:
    """The model a batch trains or scores: `given(batch.y)` where the model is conditional and every row of the
    batch is labelled, then `at(batch.index)` where the model keeps per-datapoint parameters of training rows.
    Anything else is returned as it is."""
    if isinstance(model, ConditionalModel) and labelled(batch.y):
        model = model.given(batch.y)
    if batch.index is not None and hasattr(model, "at"):
        model = model.at(batch.index)
    return model


def _at_a_label(model: Any) -> Any:
    """A conditional model's latent-variable model for one row of class 0 (`given`), read for its shapes; any other
    model as it is."""
    if isinstance(model, ConditionalModel):
        return model.given(torch.zeros(1, dtype=torch.int64, device=device_of(model)))
    return model


@torch.no_grad()
def x_distribution(model: Any) -> Distribution | None:
    """A distribution over x of the family the model uses, with batch [1] (at z = 0, y = 0 or x = 0), read for its
    event shape and support; None for a model that does not model x (a classifier)."""
    model = _at_a_label(model)
    if isinstance(model, LatentVariableModel):
        z = torch.zeros(1, *model.prior().event_shape, dtype=dtype_of(model), device=device_of(model))
        return model.decode(z)
    if hasattr(model, "conditionals") and hasattr(model, "data_shape"):
        return model.conditionals(torch.zeros(1, *model.data_shape, dtype=dtype_of(model), device=device_of(model)))
    return None


def latent_dim(model: LatentVariableModel) -> int:
    """d, the dimension of z (all layers together), read from the prior's event shape."""
    return int(model.prior().event_shape[-1])


@torch.no_grad()
def latent_dim_of(model: Any) -> int | None:
    """d, the dimension of z, of any model: a latent-variable model's, a conditional model's (that of `given(y)`);
    None for a model without latent variables (a classifier, a density model such as MADE)."""
    model = _at_a_label(model)
    return latent_dim(model) if isinstance(model, LatentVariableModel) else None


def latent_groups(model: LatentVariableModel) -> dict[str, int]:
    """The latent layers and their sizes, in the order z holds them (the layer next to x first): {"z": d} for a
    single layer."""
    pz = model.prior()
    return dict(pz.group_sizes()) if hasattr(pz, "group_sizes") else {"z": int(pz.event_shape[-1])}


def amortised(model: Any) -> bool:
    """Whether q(z|x) comes from an encoder (computed per call), as opposed to being fitted to each datapoint by
    gradient ascent (a model whose `amortised` attribute is False: no encoder; `vaekit.estimate.with_posteriors`
    makes the fit)."""
    return bool(getattr(model, "amortised", True))


def generates(model: Any) -> bool:
    """Whether `generate` draws x from the model on its own, without a label: a latent-variable or density model,
    or a conditional model with a label prior p(y)."""
    if isinstance(model, ConditionalModel):
        return hasattr(model, "label_prior")
    return isinstance(model, (LatentVariableModel, DensityModel))


@torch.no_grad()
def generate(model: Any, n: int, *, mean: bool = False, seed: int | None = None, label: int | None = None) -> Tensor:
    """Draw x by ancestral sampling, by what the model offers: z ~ p(z), x ~ p(x|z) for a latent-variable model;
    y ~ p(y) (or y = `label`), z ~ p(z), x ~ p(x|z, y) for a conditional one; the model's own `sample` for a
    density model.

    Args:
        n: number of samples.
        mean: return the mean of p(x|z) instead of a draw from it (what pictures usually show); a density model
            always draws.
        seed: seed the draws (on a forked RNG, leaving the caller's RNG state as it was); None uses the global RNG.
        label: the class to draw from (a conditional model only).

    Returns:
        Tensor [n, *data_shape].

    Raises:
        VaekitError: the model cannot draw x this way (a classifier; a label for an unconditional model; no
            label for a conditional model without p(y)).
    """
    device = device_of(model)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        if isinstance(model, ConditionalModel):
            if label is not None:
                if not 0 <= label < model.num_classes:
                    raise VaekitError(f"--label {label}: the model has classes 0..{model.num_classes - 1}")
                y = torch.full((n,), label, dtype=torch.int64, device=device)
            elif hasattr(model, "label_prior"):
                y = model.label_prior().sample((n,)).to(device)
            else:
                raise VaekitError("this model draws x given a class: give --label (0.."
                                  f"{model.num_classes - 1})")
            model = model.given(y)
        elif label is not None:
            raise VaekitError("--label applies to conditional models (cvae, m2) only")
        if isinstance(model, LatentVariableModel):
            px_z = model.decode(model.prior().sample((n,)))
            return px_z.mean if mean else px_z.sample()
        if isinstance(model, DensityModel):
            return model.sample(n)
        raise VaekitError(f"{type(model).__name__} does not model x (it has no p(x)); there is nothing to sample")


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
