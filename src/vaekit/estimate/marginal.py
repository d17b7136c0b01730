"""log p(x) of models that are not latent-variable models themselves: summed over the classes of a conditional
model with a label prior, and exact for a density model.

A conditional model with p(y) (`label_prior`) and p(x, z | y) (`given`) models x through
    log p(x) = logsumexp_y [log p(y) + log p(x|y)],
each log p(x|y) importance-sampled by `log_likelihood` on `given(y)` (the one importance-weight core). Its bounds
come from the same draws: L(x, y) = log p(y) + ELBO(x|y) bounds log p(x, y), and with a classifier q(y|x)
U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)) bounds log p(x) (Kingma et al. 2014). The estimate of log p(x) is a sum of
per-class estimates, each biased low for finite K, so it is biased low too (and consistent as K grows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vaekit.estimate.likelihood import DEFAULT_MEMORY_BUDGET, log_likelihood, standard_error
from vaekit.models.protocol import chunks


@dataclass(frozen=True)
class MarginalLogLikelihood:
    """log p(x) of a conditional model summed over its classes, and the per-class figures it came from.

    Attributes:
        class_log_likelihood: log p(x|y) per class y and datapoint, [C, N] float64, nats (importance-sampled).
        class_bounds: L(x, y) = log p(y) + ELBO(x|y), the ELBO of log p(x, y), [C, N] float64, nats.
        log_prior: log p(y), [C] float64.
        num_samples: K per class.
    """

    class_log_likelihood: Tensor
    class_bounds: Tensor
    log_prior: Tensor
    num_samples: int

    @property
    def values(self) -> Tensor:
        """log p(x) = logsumexp_y [log p(y) + log p(x|y)], [N] float64, nats."""
        return torch.logsumexp(self.class_log_likelihood + self.log_prior[:, None], 0)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def stderr(self) -> float:
        """Standard error across datapoints (std / sqrt(N)); it does not measure the low bias of finite K."""
        return standard_error(self.values)

    def unlabelled_bound(self, q_y: Tensor) -> Tensor:
        """U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)) for class probabilities q_y [N, C]: [N] float64, nats."""
        q = q_y.double()
        entropy = -(q * q.clamp_min(torch.finfo(q.dtype).tiny).log()).sum(-1)
        return (q * self.class_bounds.T).sum(-1) + entropy

    def given_labels(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """(log p(x|y), L(x, y)) at labels y [N]: each [N] float64, nats."""
        index = y.to(self.class_bounds.device)[None]
        return self.class_log_likelihood.gather(0, index)[0], self.class_bounds.gather(0, index)[0]


def marginal_log_likelihood(model: Any, x: Tensor, num_samples: int = 1000, batch_size: int | None = None,
                            on_batch: Callable[[int, int], None] | None = None,
                            memory_budget: int = DEFAULT_MEMORY_BUDGET) -> MarginalLogLikelihood:
    """log p(x) of a conditional model with a label prior, by importance sampling per class (see the module).

    Args:
        model: anything with `given(y)` (a latent-variable model of x for labels y), `label_prior()` and
            `num_classes`.
        x: data [N, *data_shape], as the model sees it.
        num_samples: K for each class.
        on_batch: progress callback: (datapoint-classes done, datapoints x classes).
        memory_budget: bytes of tensors one chunk of importance samples may make (`log_likelihood`).
    """
    classes, n = model.num_classes, x.shape[0]
    with torch.no_grad():
        log_prior = torch.log_softmax(model.label_prior().logits.double(), -1).cpu()
    values, bounds = [], []
    for c in range(classes):
        y = torch.full((n,), c, dtype=torch.int64, device=x.device)
        progress = None if on_batch is None else (lambda done, total, c=c: on_batch(c * total + done, classes * total))
        result = log_likelihood(model.given(y), x, num_samples, batch_size, on_batch=progress,
                                memory_budget=memory_budget)
        values.append(result.values)
        bounds.append(result.elbo + log_prior[c])
    return MarginalLogLikelihood(torch.stack(values), torch.stack(bounds), log_prior, num_samples)


@torch.inference_mode()
def exact_log_likelihood(model: Any, x: Tensor, batch_size: int = 1024) -> Tensor:
    """log p(x) of a density model (`log_prob`), exact: [N] float64, nats; x [N, *data_shape] in chunks."""
    return torch.cat([part.log_prob(xb).double() for part, xb in chunks(model, x, batch_size)]).cpu()
