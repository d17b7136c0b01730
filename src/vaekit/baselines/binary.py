"""Binary baselines for data in {0, 1}: factorised Bernoulli, mixture of Bernoullis (EM), binary kernel density.

The binary kernel density uses the Aitchison-Aitken kernel [1]; the mixture of Bernoullis is the baseline of
Larochelle & Murray on binarised MNIST [3] (references in `vaekit.baselines`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Independent

from vaekit.baselines.common import (
    ArrayLike,
    BaselineResult,
    FittedBaseline,
    _as_matrix,
    _as_splits,
    _block_rows,
    _check_binary,
    _fit_kde,
    _limit_grid,
    _score,
    _select,
)
from vaekit.errors import DataError

BERNOULLI_PSEUDOCOUNTS = (0.01, 0.1, 0.5, 1.0, 2.0)
MIXTURE_COMPONENTS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
# Dense near 1, where the optimum sits for images; every value costs almost nothing (see _binary_kde_grid).
KDE_LAMBDAS = tuple(float(v) for v in 1.0 - np.geomspace(0.5, 1e-3, 37))


def fit_bernoulli_mixture(
    x: ArrayLike,
    components: int,
    *,
    pseudocount: float = 1.0,
    seed: int = 0,
    max_iter: int = 100,
    tol: float = 1e-2,
) -> tuple[Tensor, Tensor]:
    """Fit a mixture of factorised Bernoullis by EM in log space.

    p(x) = sum_c pi_c prod_j theta_cj^{x_j} (1 - theta_cj)^{1 - x_j}. The M-step is the MAP update under a
    Beta(1 + a, 1 + a) prior on each theta_cj and a symmetric Dirichlet(1 + a) prior on pi (a = pseudocount),
    so no theta reaches 0 or 1 and no test point scores -inf. Initial means are k-means++ seeds (Hamming
    distance) shrunk halfway to the smoothed pixel means, so well-separated clusters start apart.

    Args:
        x: binary train data [N, D].
        components: number of components C, 1 <= C <= N.
        pseudocount: a > 0 above.
        seed: seeds the initialisation.
        max_iter: EM iterations at most.
        tol: stop when the mean train log-likelihood rises by less than this (nats per datapoint).

    Returns:
        (mixture_logits [C], probs [C, D]), float64: log pi_c and theta_cj.

    Example:
        >>> logits, probs = fit_bernoulli_mixture(x_train, 20)
        >>> bernoulli_mixture_log_prob(x_test, logits, probs).mean()
    """
    x = _as_matrix(x, "x")
    _check_binary(x, "x")
    n, _ = x.shape
    if not 1 <= components <= n:
        raise ValueError(f"components must be in 1..{n} (the number of points), got {components}")
    if pseudocount <= 0:
        raise ValueError(f"pseudocount must be > 0, got {pseudocount}")
    g = torch.Generator().manual_seed(seed)
    # The EM iterations run in float32: exact for the 0/1 data, ~1e-4 nats off in log p(x|c), far below
    # what moves a responsibility, and half the cost of float64. Parameters are kept, and final scores
    # computed, in float64.
    x32 = x.to(torch.float32)
    mean = (x.sum(0) + 1.0) / (n + 2.0)
    probs = 0.5 * _kmeanspp_binary(x32, components, g).to(torch.float64) + 0.5 * mean
    logits_pi = torch.full((components,), -math.log(components), dtype=torch.float64)
    previous = -math.inf
    for _ in range(max_iter):
        log_joint = _bernoulli_mixture_log_joint(x32, logits_pi, probs)  # [N, C]
        log_px = torch.logsumexp(log_joint, 1)  # [N]
        resp = torch.exp(log_joint - log_px[:, None])  # [N, C]
        counts = resp.sum(0, dtype=torch.float64)  # [C]
        probs = ((resp.T @ x32).to(torch.float64) + pseudocount) / (counts[:, None] + 2 * pseudocount)
        # Normalised exactly here: the float32 responsibilities sum to N only up to rounding.
        logits_pi = torch.log_softmax(torch.log(counts + pseudocount), 0)
        current = log_px.sum(dtype=torch.float64).item() / n
        if current - previous < tol:
            break
        previous = current
    return logits_pi, probs


def _kmeanspp_binary(x: Tensor, k: int, g: torch.Generator, max_points: int = 5000) -> Tensor:
    """k rows of x chosen by k-means++ under the squared Hamming distance (on a subsample for speed)."""
    if x.shape[0] > max_points:
        x = x[torch.randperm(x.shape[0], generator=g)[:max_points]]
    ones = x.sum(1)
    chosen = [int(torch.randint(x.shape[0], (1,), generator=g))]
    nearest = torch.full((x.shape[0],), math.inf, dtype=torch.float64)
    for _ in range(1, k):
        c = x[chosen[-1]]
        hamming = (ones + c.sum() - 2 * (x @ c)).to(torch.float64)
        nearest = torch.minimum(nearest, hamming**2)
        if nearest.sum() <= 0:  # fewer distinct points than components: repeat any
            chosen.append(int(torch.randint(x.shape[0], (1,), generator=g)))
        else:
            chosen.append(int(torch.multinomial(nearest, 1, generator=g)))
    return x[chosen]


def _bernoulli_mixture_log_joint(x: Tensor, mixture_logits: Tensor, probs: Tensor) -> Tensor:
    """log pi_c + log p(x|c) as [N, C] in the dtype of x, with one matrix product.

    log p(x|c) = sum_j x_j log(theta_cj / (1 - theta_cj)) + sum_j log(1 - theta_cj).
    """
    logits = torch.log(probs) - torch.log1p(-probs)  # [C, D]
    bias = torch.log1p(-probs).sum(1) + mixture_logits  # [C]
    return x @ logits.to(x.dtype).T + bias.to(x.dtype)


def bernoulli_mixture_log_prob(x: ArrayLike, mixture_logits: Tensor, probs: Tensor) -> Tensor:
    """Log-probability of binary points under a mixture of factorised Bernoullis.

    log p(x) = logsumexp_c [log pi_c + sum_j x_j log theta_cj + (1 - x_j) log(1 - theta_cj)], computed with
    matrix products in float64. Equal to
    `MixtureSameFamily(Categorical(logits=mixture_logits), Independent(Bernoulli(probs), 1)).log_prob(x)`,
    which would need an [N, C, D] intermediate.

    Args:
        x: binary points [N, D].
        mixture_logits: log pi [C] (normalised).
        probs: theta [C, D], strictly inside (0, 1).

    Returns:
        log p(x) [N], float64, nats.
    """
    x = _as_matrix(x, "x")
    mixture_logits = torch.as_tensor(mixture_logits, dtype=torch.float64)
    probs = torch.as_tensor(probs, dtype=torch.float64)
    return torch.logsumexp(_bernoulli_mixture_log_joint(x, mixture_logits, probs), 1)


def _binary_kde_grid(x: Tensor, centres: Tensor, lambdas: Sequence[float]) -> Tensor:
    """Aitchison-Aitken log-density of each x for every lambda in the grid, [len(lambdas), N] float64.

    log p(x) = D log lambda - log N + logsumexp_i [h(x, x_i) log((1 - lambda) / lambda)]. The Hamming
    distance h is an integer in 0..D, so each query point only needs the count n_k of centres at distance k:
    log p(x) = D log lambda - log N + logsumexp_k [log n_k + k log((1 - lambda) / lambda)].
    One pass over the centres builds the counts, and then every lambda costs O(D) per point.
    """
    if not all(0.5 <= lam < 1.0 for lam in lambdas):
        raise ValueError(f"every lambda must be in [1/2, 1), got {list(lambdas)}")
    n_centres, dim = centres.shape
    c32 = centres.to(torch.float32)
    c_ones = c32.sum(1)
    counts = []
    for xb in x.to(torch.float32).split(_block_rows(n_centres)):
        # h = |x| + |x_i| - 2 x.x_i; float32 holds these integers exactly (D < 2^24).
        dot = xb @ c32.T  # [B, N]
        hamming = dot.mul_(-2).add_(c_ones).add_(xb.sum(1, keepdim=True)).round_().long()  # [B, N]
        block = torch.zeros(xb.shape[0], dim + 1, dtype=torch.float64)
        counts.append(block.scatter_add_(1, hamming, torch.ones(1, dtype=torch.float64).expand_as(hamming)))
    log_counts = torch.log(torch.cat(counts))  # [N, D + 1]
    k = torch.arange(dim + 1, dtype=torch.float64)
    out = []
    for lam in lambdas:
        slope = math.log1p(-lam) - math.log(lam)
        out.append(torch.logsumexp(log_counts + k * slope, 1) + dim * math.log(lam) - math.log(n_centres))
    return torch.stack(out)


def binary_kde_log_prob(x: ArrayLike, centres: ArrayLike, lam: float) -> Tensor:
    """Log-probability under the binary kernel density of Aitchison & Aitken [1].

    p(x) = (1/N) sum_i lambda^{D - h(x, x_i)} (1 - lambda)^{h(x, x_i)}, h the Hamming distance; each kernel
    is a product of D Bernoullis, so p sums to 1 over {0, 1}^D. lambda = 1/2 is the uniform distribution.

    Args:
        x: binary query points [M, D].
        centres: binary kernel centres (the train split) [N, D].
        lam: lambda in [1/2, 1).

    Returns:
        log p(x) [M], float64, nats.
    """
    x, centres = _as_matrix(x, "x"), _as_matrix(centres, "centres")
    _check_binary(x, "x")
    _check_binary(centres, "centres")
    return _binary_kde_grid(x, centres, [lam])[0]


def _fit_factorised_bernoulli(
    x_train: Tensor, x_valid: Tensor, pseudocounts: Sequence[float]
) -> FittedBaseline:
    n = x_train.shape[0]
    ones = x_train.sum(0)

    def model(a: float) -> Independent:
        return Independent(Bernoulli(probs=(ones + a) / (n + 2 * a)), 1)

    scores = {float(a): model(a).log_prob(x_valid).mean().item() for a in pseudocounts}
    best, note = _select(scores, "pseudocount")
    return FittedBaseline("factorised Bernoulli", model(best).log_prob, {"pseudocount": best}, note)


def _fit_mixture(
    x_train: Tensor, x_valid: Tensor, components: Sequence[int], pseudocount: float, seed: int
) -> FittedBaseline:
    fitted = {}
    scores = {}
    for c in _limit_grid(components, x_train.shape[0]):
        fitted[c] = fit_bernoulli_mixture(x_train, c, pseudocount=pseudocount, seed=seed)
        scores[c] = bernoulli_mixture_log_prob(x_valid, *fitted[c]).mean().item()
    best, note = _select(scores, "components")
    logits, probs = fitted[best]
    return FittedBaseline(
        "mixture of Bernoullis",
        lambda x: bernoulli_mixture_log_prob(x, logits, probs),
        {"components": best, "pseudocount": pseudocount},
        note,
    )


def fit_binary_baselines(
    x_train: ArrayLike,
    x_valid: ArrayLike,
    *,
    seed: int = 0,
    pseudocounts: Sequence[float] = BERNOULLI_PSEUDOCOUNTS,
    components: Sequence[int] = MIXTURE_COMPONENTS,
    mixture_pseudocount: float = 1.0,
    lambdas: Sequence[float] = KDE_LAMBDAS,
    max_kde_valid: int | None = 2000,
    max_kde_test: int | None = None,
) -> list[FittedBaseline]:
    """Fit the binary baselines on train and choose each one's hyperparameter on validation.

    Args:
        x_train: binary train data [N, D] (more dims are flattened).
        x_valid: binary validation data [M, D].
        seed: seeds EM initialisation and subsampling.
        pseudocounts: grid for the factorised Bernoulli's Laplace smoothing a, theta = (n_1 + a) / (N + 2a).
        components: grid for the mixture's C; values above N/10 are dropped.
        mixture_pseudocount: the mixture's fixed prior strength (see `fit_bernoulli_mixture`).
        lambdas: grid for the binary KDE's lambda, each in [1/2, 1).
        max_kde_valid: validation points used to choose lambda (a random subset), or None for all.
        max_kde_test: stored on the KDE model: at most this many test points are scored.

    Returns:
        [factorised Bernoulli, mixture of Bernoullis, binary KDE] as `FittedBaseline`s.
    """
    x_train, x_valid = _as_matrix(x_train, "x_train"), _as_matrix(x_valid, "x_valid")
    if x_train.shape[1] != x_valid.shape[1]:
        raise DataError(f"x_train has {x_train.shape[1]} dimensions but x_valid has {x_valid.shape[1]}")
    _check_binary(x_train, "x_train")
    _check_binary(x_valid, "x_valid")
    return [
        _fit_factorised_bernoulli(x_train, x_valid, pseudocounts),
        _fit_mixture(x_train, x_valid, components, mixture_pseudocount, seed),
        _fit_kde("binary KDE", "lambda", _binary_kde_grid, lambdas, x_train, x_valid, max_kde_valid, max_kde_test,
                 seed + 1),
    ]


def binary_baselines(
    x_train: ArrayLike,
    x_valid: ArrayLike,
    x_test: ArrayLike,
    *,
    seed: int = 0,
    max_kde_test: int | None = None,
    **options,
) -> list[BaselineResult]:
    """Test log-likelihoods of the binary baselines (factorised Bernoulli, mixture of Bernoullis, binary KDE).

    Args:
        x_train, x_valid, x_test: binary splits [N, D], values in {0, 1} (more dims are flattened).
        seed: seeds EM initialisation and subsampling.
        max_kde_test: score the KDE on at most this many (random) test points; the note says so.
        **options: grids and limits passed to `fit_binary_baselines`.

    Returns:
        One `BaselineResult` per estimator; log_likelihood is mean log p(x) in nats per datapoint.

    Example:
        >>> for r in binary_baselines(x_train, x_valid, x_test, max_kde_test=2000):
        ...     print(f"{r.name}: {r.log_likelihood:.2f} +- {r.stderr:.2f} nats")
    """
    x_train, x_valid, x_test = _as_splits(x_train, x_valid, x_test)
    _check_binary(x_test, "x_test")
    models = fit_binary_baselines(x_train, x_valid, seed=seed, max_kde_test=max_kde_test, **options)
    return [_score(m, x_test, 0.0, seed + 2) for m in models]
