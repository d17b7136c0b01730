"""log-mean-exp, the one home of the formula every importance-sampled figure ends with:

    log (1/K) sum_k exp(v_k) = logsumexp_k(v_k) - log K

computed stably for values of any magnitude (log-weights of thousands of nats). `log_mean_exp` takes all K values
at once (the IWAE bound, [2] of `vaekit.estimate.bounds`); `running_log_sum_exp` accumulates the log-sum-exp over
chunks of K that arrive one after another (log p(x) with a large K: memory does not grow with K), so that the mean
is `total - log K` at the end.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def log_mean_exp(values: Tensor, dim: int = 0) -> Tensor:
    """log (1/K) sum_k exp(values_k) along `dim` (K = its size); the other dimensions are kept.

    Example:
        >>> log_w = log_weights(model, x, 50)          # (50, B)
        >>> iwae = log_mean_exp(log_w)                 # [B], the IWAE bound L_50
    """
    return torch.logsumexp(values, dim) - math.log(values.shape[dim])


def running_log_sum_exp(total: Tensor, values: Tensor, *, out: Tensor | None = None) -> Tensor:
    """`total` (log sum_k exp(v_k) over the chunks so far, [B]; -inf before the first) combined with one more chunk
    of values (k, B): log(exp(total) + sum_k exp(values_k)), [B], in `total`'s dtype; written into `out` where
    given (`out=total` updates the running total in place, allocating nothing that outlives the call)."""
    return torch.logaddexp(total, torch.logsumexp(values, 0), out=out)


__all__ = ["log_mean_exp", "running_log_sum_exp"]
