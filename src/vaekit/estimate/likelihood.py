"""The importance-sampled estimate of log p(x), chunked so that memory does not grow with K or the data.

References:
    [1] Burda, Grosse & Salakhutdinov 2016, Importance Weighted Autoencoders (log p(x) with K = 5000).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from vaekit.distributions import kl, unchecked
from vaekit.estimate.bounds import weights
from vaekit.estimate.logmeanexp import running_log_sum_exp
from vaekit.estimate.support import check_support
from vaekit.limits import tensor_bytes
from vaekit.models.protocol import LatentVariableModel, rows

#: What one chunk of importance samples may allocate by default (`log_likelihood`'s `memory_budget`), bytes.
DEFAULT_MEMORY_BUDGET = 1 << 30
#: The most (importance sample, datapoint) rows decoded at once, whatever the budget: chunks this small keep
#: their temporaries in cache, which measured 2.2x faster than 32k-row chunks (BENCHMARKS.md).
FAST_ROWS = 2048
#: Draws of the probe that measures a chunk's bytes per row (`plan_chunks`).
_PROBE_SAMPLES = 16


@dataclass(frozen=True)
class ChunkPlan:
    """How `log_likelihood` walks N datapoints x K samples: batches of `batch_size` datapoints, each in `chunks`
    chunks of `chunk` samples (the last of a batch may be smaller by less than `chunks`); `bytes_per_row` is the
    measured upper bound on what one more (sample, datapoint) row allocates."""

    batch_size: int
    chunk: int
    chunks: int
    bytes_per_row: int

    @property
    def rows(self) -> int:
        """(sample, datapoint) rows in a full chunk."""
        return self.batch_size * self.chunk


def plan_chunks(model: LatentVariableModel, x: Tensor, num_samples: int, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                pz: Distribution | None = None, batch_size: int | None = None) -> ChunkPlan:
    """Size the chunks of `log_likelihood` for this model: at most `memory_budget` bytes of tensors made per chunk,
    and at most `FAST_ROWS` rows. The bytes are measured on two probes of the model itself (one datapoint with 16
    and with 64 draws; every tensor their operators make, none subtracted when freed): their difference is the
    cost of a row, the rest what a chunk makes once. K is cut into equal chunks, so that every chunk makes
    tensors of the same sizes and the allocator reuses the same blocks.

    Args:
        model, x: as `log_likelihood` takes them (x [N, *data_shape], N >= 1).
        num_samples: K.
        memory_budget: bytes; at least one row is always decoded, however small the budget.
        batch_size: datapoints per batch, where the caller fixes it (K's chunks are then sized to the budget).
    """
    def made(k: int) -> int:  # bytes of the tensors that one datapoint's chunk of k draws makes
        return tensor_bytes(lambda: weights(rows(model, 0, 1), x[:1], k, pz=pz, reparameterized=False))

    cuda = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the probes' draws leave the estimate's own stream as it was
        small, large = min(num_samples, _PROBE_SAMPLES), min(num_samples, 4 * _PROBE_SAMPLES)
        made_small = made(small)
        # The cost of one more row, apart from what a chunk makes once (the prior's parameters, the encoding)
        per_row = made_small / small if large == small else (made(large) - made_small) / (large - small)
    fixed = max(0, made_small - int(per_row * small))
    bytes_per_row = max(1, math.ceil(per_row))
    memory_budget = max(0, memory_budget - fixed)
    limit = max(1, min(FAST_ROWS, memory_budget // bytes_per_row))
    batch_size = batch_size or max(1, min(x.shape[0], limit // min(num_samples, limit)))
    chunks = -(-num_samples // max(1, min(num_samples, limit // batch_size)))
    return ChunkPlan(batch_size, -(-num_samples // chunks), chunks, bytes_per_row)


def standard_error(values: Tensor) -> float:
    """The standard error of the mean of `values` [N] across datapoints, std / sqrt(N) (NaN for N < 2)."""
    n = values.numel()
    return float(values.std() / math.sqrt(n)) if n > 1 else float("nan")


@dataclass(frozen=True)
class LogLikelihood:
    """Importance-sampled log p(x) over a set of datapoints, with the ELBO from the same samples.

    Attributes:
        values: per-datapoint estimates logsumexp_k(log w_k) - log K, [N] float64, nats.
        ess: per-datapoint effective sample size (sum w)^2 / sum w^2 of the weights, [N], between 1 and K.
        elbo: per-datapoint ELBO of the proposal over the same K draws, [N] float64, nats: mean_k log p(x|z_k)
            - KL(q || p(z)) where the KL has a closed form, else mean_k log w_k. `values - elbo` estimates
            KL(q(z|x) || p(z|x)).
        num_samples: K.
    """

    values: Tensor
    ess: Tensor
    elbo: Tensor
    num_samples: int

    @property
    def mean(self) -> float:
        """Mean over datapoints, nats."""
        return float(self.values.mean())

    @property
    def stderr(self) -> float:
        """Standard error of the mean across datapoints (std / sqrt(N)); it does not measure the low bias of finite K."""
        return standard_error(self.values)

    @property
    def gap(self) -> Tensor:
        """Per-datapoint log p(x) - ELBO, [N], nats: an estimate of KL(q(z|x) || p(z|x))."""
        return self.values - self.elbo


def batches(x: Tensor, batch_size: int) -> Iterator[Tensor]:
    """Consecutive slices of x along its first dimension."""
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size]


@torch.inference_mode()
def log_likelihood(
    model: LatentVariableModel,
    x: Tensor,
    num_samples: int = 1000,
    batch_size: int | None = None,
    proposal: tuple[Tensor, Tensor] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> LogLikelihood:
    """Importance-sampled estimate of log p(x) with q(z|x) as the proposal [1].

    log p(x) ~= log (1/K) sum_k exp(log p(x, z_k) - log q(z_k|x)), z_k ~ q(z|x). The estimate is biased low for
    finite K (its expectation is the IWAE bound L_K) and consistent as K grows.

    Memory is bounded whatever K and len(x): the draws are taken in chunks sized by `plan_chunks` (at most
    `memory_budget` bytes of tensors each, all of the same sizes), their log-sum-exps combined with `logaddexp` in
    float64 into accumulators allocated once, and the results written into [N] tensors allocated once, so no
    object is kept per datapoint or per chunk.

    Args:
        model: any model with the protocol's `encode`, `decode` and `prior` (evaluated as is: call
            `model.eval()` first if it has dropout or batch norm).
        x: data [N, *data_shape], already preprocessed as the model saw it in training.
        num_samples: K.
        batch_size: datapoints per chunk; by default as `plan_chunks` chooses.
        proposal: (loc, scale), each [N, d], of a diagonal-Gaussian proposal to use instead of the encoder's
            q(z|x) (e.g. the per-datapoint optimum q*).
        on_batch: called with (datapoints finished, datapoints in all) after each batch, for progress displays.
        memory_budget: bytes of tensors one chunk may make (default 1 GiB; see `plan_chunks`).

    Returns:
        `LogLikelihood` with per-datapoint values, effective sample sizes and ELBOs.

    Example:
        >>> result = log_likelihood(model, x_test, num_samples=5000)
        >>> print(f"{result.mean:.2f} +- {result.stderr:.2f} nats")
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    n, device = x.shape[0], x.device
    pz = model.prior()
    check_support(model, x, "log_likelihood's x")
    values, ess, elbos = (torch.empty(n, dtype=torch.float64, device=device) for _ in range(3))
    with unchecked():
        plan = plan_chunks(model, x, num_samples, memory_budget, pz, batch_size) if n else ChunkPlan(1, 1, 1, 1)
        # sum_k w_k, sum_k w_k^2 (as log-sum-exps), sum_k log p(x|z_k) and sum_k log w_k of one batch
        accumulators = torch.empty(4, plan.batch_size, dtype=torch.float64, device=device)
        for start in range(0, n, plan.batch_size):
            xb, part = x[start : start + plan.batch_size], rows(model, start, start + plan.batch_size)
            b = xb.shape[0]
            if proposal is None:
                qz_x = part.encode(xb)
            else:
                loc, scale = (p[start : start + b] for p in proposal)
                qz_x = Independent(Normal(loc, scale), 1)
            lse, lse2, reconstruction, log_w_sum = accumulators[:, :b]
            lse.fill_(-math.inf), lse2.fill_(-math.inf), reconstruction.zero_(), log_w_sum.zero_()
            for k_start in range(0, num_samples, plan.chunk):
                w = weights(part, xb, min(plan.chunk, num_samples - k_start), qz_x=qz_x, pz=pz,
                            reparameterized=False)
                log_w = w.log_w.double()  # (k, b)
                running_log_sum_exp(lse, log_w, out=lse)
                running_log_sum_exp(lse2, 2 * log_w, out=lse2)
                reconstruction += w.log_px_z.double().sum(0)
                log_w_sum += log_w.sum(0)
                del w, log_w  # before the next chunk allocates its own
            values[start : start + b] = lse - math.log(num_samples)
            ess[start : start + b] = torch.exp(2 * lse - lse2)
            divergence = kl(qz_x, pz, estimate=(reconstruction - log_w_sum) / num_samples)  # closed form if any
            elbos[start : start + b] = reconstruction / num_samples - divergence
            if on_batch is not None:
                on_batch(start + b, n)
    return LogLikelihood(values=values.cpu(), ess=ess.cpu(), elbo=elbos.cpu(), num_samples=num_samples)


def bits_per_dim(log_prob: float, num_dims: int) -> float:
    """-log P(x) / (D log 2): a discrete log-probability (nats per datapoint) in bits per dimension."""
    return -log_prob / (num_dims * math.log(2))
