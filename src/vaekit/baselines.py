"""Classic density estimators as reference points for a VAE's test log-likelihood.

Each estimator is fitted on the train split, its hyperparameter is chosen by mean log-likelihood on the
validation split, and it is scored on the test split, in nats per datapoint, the units of
`vaekit.evaluate`:

- binary data, values in {0, 1}: factorised Bernoulli, mixture of Bernoullis (EM), binary kernel density
  (Aitchison-Aitken kernel);
- real data: factorised Gaussian, full-covariance Gaussian (ridge chosen on validation), Gaussian mixture
  (scikit-learn), Gaussian kernel density;
- discrete data with L levels (8-bit: L = 256) under the continuous estimators: every split is dequantised,
  y = (x + u) / L with u ~ U[0, 1)^D, and the figure is log p(y) - D log L. Its expectation over u is a lower
  bound on the discrete log-probability log P(x) (Theis et al. 2016), so it is comparable with the binary
  and discrete models.

`fit_binary_baselines` / `fit_continuous_baselines` return the selected models with a per-point `log_prob`;
`binary_baselines` / `continuous_baselines` / `baselines` fit, select and score in one call.

References:
    [1] J. Aitchison, C. G. G. Aitken, "Multivariate binary discrimination by the kernel method",
        Biometrika 1976.
    [2] L. Theis, A. van den Oord, M. Bethge, "A note on the evaluation of generative models", ICLR 2016.
    [3] H. Larochelle, I. Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011
        (mixture-of-Bernoullis baseline on binarised MNIST).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from vaekit.data import dequantize
from vaekit.errors import DataError

__all__ = [
    "BaselineResult",
    "FittedBaseline",
    "baselines",
    "bernoulli_mixture_log_prob",
    "binary_baselines",
    "binary_kde_log_prob",
    "continuous_baselines",
    "dequantise",
    "fit_bernoulli_mixture",
    "fit_binary_baselines",
    "fit_continuous_baselines",
    "gaussian_kde_log_prob",
]

ArrayLike = Tensor | np.ndarray

# One block of train-by-query quantities (distances, Hamming counts) holds at most this many entries:
# 2^23 float64 = 64 MiB, so kernel densities run in bounded memory whatever the split sizes.
_BLOCK_ELEMENTS = 2**23

BERNOULLI_PSEUDOCOUNTS = (0.01, 0.1, 0.5, 1.0, 2.0)
MIXTURE_COMPONENTS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
# Dense near 1, where the optimum sits for images; every value costs almost nothing (see _binary_kde_grid).
KDE_LAMBDAS = tuple(float(v) for v in 1.0 - np.geomspace(0.5, 1e-3, 37))
# Bandwidths relative to the root-mean-square per-dimension standard deviation of the train split.
# Each bandwidth costs one exp pass over N_train x N_valid, so the grid is coarse: steps of a factor 1.6.
KDE_RELATIVE_BANDWIDTHS = tuple(float(v) for v in np.geomspace(1e-2, 2.0, 12))
RIDGES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
GMM_COMPONENTS = (1, 2, 5, 10, 20)


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's test figure.

    Attributes:
        name: the estimator, e.g. "mixture of Bernoullis".
        log_likelihood: mean test log p(x), nats per datapoint; for dequantised discrete data the bound
            log p(y) - D log L on the discrete log-probability.
        stderr: standard deviation over the scored test points / sqrt(n_test), nats.
        n_test: how many test points were scored.
        hyperparameters: what validation chose, e.g. {"components": 20}.
        note: one short line on anything unusual (subsampling, grid edge), or "".
    """

    name: str
    log_likelihood: float
    stderr: float
    n_test: int
    hyperparameters: dict
    note: str


@dataclass(frozen=True)
class FittedBaseline:
    """A fitted, validation-selected estimator.

    Attributes:
        name: the estimator's name, as in `BaselineResult`.
        log_prob: maps points [N, D] (float64, on the space the model was fitted on: y for dequantised
            data) to log p [N] in nats.
        hyperparameters: what validation chose.
        note: one short line on how it was fitted, or "".
        max_test: score at most this many test points (kernel densities cost N_train per point), or None.
    """

    name: str
    log_prob: Callable[[Tensor], Tensor]
    hyperparameters: dict
    note: str = ""
    max_test: int | None = None


# ---------------------------------------------------------------------------------------------------------
# Input checks


def _as_matrix(x: ArrayLike, split: str) -> Tensor:
    """Any array [N, ...] as a float64 tensor [N, D]; DataError if empty or not finite."""
    t = x.detach().cpu() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() == 0:
        raise DataError(f"{split} is a scalar; expected an array of points [N, D]")
    t = t.to(torch.float64).reshape(t.shape[0], math.prod(t.shape[1:]))  # [N] -> [N, 1]
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise DataError(f"{split} is empty (shape {tuple(t.shape)}); every split needs points")
    if not torch.isfinite(t).all():
        raise DataError(f"{split} contains NaN or infinite values")
    return t


def _as_splits(x_train: ArrayLike, x_valid: ArrayLike, x_test: ArrayLike) -> tuple[Tensor, Tensor, Tensor]:
    splits = (_as_matrix(x_train, "x_train"), _as_matrix(x_valid, "x_valid"), _as_matrix(x_test, "x_test"))
    dims = [s.shape[1] for s in splits]
    if len(set(dims)) != 1:
        raise DataError(f"splits have different dimensions (train, valid, test) = {tuple(dims)}")
    return splits


def _check_binary(x: Tensor, split: str) -> None:
    if not ((x == 0) | (x == 1)).all():
        raise DataError(f"{split} has values other than 0 and 1; binary baselines need binary data")


def _check_levels(x: Tensor, levels: int, split: str) -> None:
    if not ((x == x.round()) & (x >= 0) & (x <= levels - 1)).all():
        raise DataError(f"{split} has values that are not integers in 0..{levels - 1} (levels={levels})")


def _block_rows(n_centres: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, n_centres))


def _limit_grid(grid: Sequence[int], n_train: int) -> list[int]:
    # At least ten training points per component, so that no component is fitted to a handful of points.
    kept = [int(c) for c in grid if 1 <= c <= max(1, n_train // 10)]
    return kept or [1]


def _subsample(x: Tensor, limit: int | None, seed: int) -> Tensor:
    if limit is None or x.shape[0] <= limit:
        return x
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(x.shape[0], generator=g)[:limit]]


def _select(scores: dict, what: str) -> tuple[object, str]:
    """The key with the best validation score, and a note when it sits on the edge of an ordered grid."""
    keys = list(scores)
    best = max(keys, key=lambda k: scores[k])
    edge = len(keys) > 1 and best in (keys[0], keys[-1])
    return best, (f"{what} at the edge of its grid" if edge else "")


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


# ---------------------------------------------------------------------------------------------------------
# Binary estimators


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


def _fit_kde(
    name: str,
    parameter: str,
    grid_log_prob: Callable[[Tensor, Tensor, Sequence[float]], Tensor],
    values: Sequence[float],
    x_train: Tensor,
    x_valid: Tensor,
    max_valid: int | None,
    max_test: int | None,
    seed: int,
) -> FittedBaseline:
    """A kernel density on the train points whose kernel parameter is the grid value best on validation.

    `grid_log_prob(x, centres, values)` gives log p(x) under each value, shape (len(values), N).
    """
    x_sel = _subsample(x_valid, max_valid, seed)
    grid = grid_log_prob(x_sel, x_train, values).mean(1)
    best, edge = _select({float(v): grid[i].item() for i, v in enumerate(values)}, parameter)
    note = "" if x_sel is x_valid else f"{parameter} chosen on {x_sel.shape[0]} of {x_valid.shape[0]} validation points"
    return FittedBaseline(name, lambda x: grid_log_prob(x, x_train, [best])[0], {parameter: best}, _join(note, edge),
                          max_test)


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


def _score(model: FittedBaseline, x_test: Tensor, offset: float, seed: int) -> BaselineResult:
    """Mean and standard error of log p - offset over (a subset of) the test points."""
    x = _subsample(x_test, model.max_test, seed)
    log_p = model.log_prob(x).to(torch.float64) - offset  # [n]
    n = log_p.shape[0]
    stderr = log_p.std().item() / math.sqrt(n) if n > 1 else math.nan
    sub = f"test subsampled to {n} of {x_test.shape[0]} points" if n < x_test.shape[0] else ""
    note = _join(model.note, sub)
    return BaselineResult(model.name, log_p.mean().item(), stderr, n, dict(model.hyperparameters), note)


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


# ---------------------------------------------------------------------------------------------------------
# Continuous estimators


def dequantise(x: ArrayLike, levels: int, *, seed: int) -> Tensor:
    """Uniform dequantisation of integer data: y = (x + u) / L, u ~ U[0, 1)^D.

    For any density p on [0, 1]^D, E_u[log p(y)] - D log L <= log P(x) with P(x) the mass p gives to x's
    cube (Jensen) [2].

    Args:
        x: integer-valued data in 0..L-1 [N, D] (more dims are flattened).
        levels: L, the number of levels (256 for 8-bit).
        seed: seeds u.

    Returns:
        y [N, D], float64, in [0, 1).
    """
    x = _as_matrix(x, "x")
    if int(levels) != levels or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels}")
    _check_levels(x, levels, "x")
    return dequantize(x, levels, torch.Generator().manual_seed(seed), dtype=torch.float64)


def _gaussian_kde_grid(x: Tensor, centres: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """Gaussian kernel log-density for every bandwidth, [len(bandwidths), N] float64.

    log p(x) = logsumexp_i [-|x - x_i|^2 / (2 h^2)] - log N - (D / 2) log(2 pi h^2). The squared distances
    come from |x|^2 - 2 x.x_i + |x_i|^2 in float64 after centring on the centres' mean (less cancellation),
    in blocks; each block is reused for all bandwidths.
    """
    n_centres, dim = centres.shape
    shift = centres.mean(0)
    c = centres - shift
    c_sq = (c * c).sum(1)
    h = torch.as_tensor(list(bandwidths), dtype=torch.float64)
    if not (h > 0).all():
        raise ValueError(f"bandwidths must be > 0, got {list(bandwidths)}")
    out = []
    for xb in (x - shift).split(_block_rows(n_centres)):
        sq = ((xb * xb).sum(1, keepdim=True) - 2 * (xb @ c.T) + c_sq).clamp_min_(0)  # [B, N]
        out.append(torch.stack([torch.logsumexp(sq / (-2 * float(b) ** 2), 1) for b in h]))
    return torch.cat(out, 1) - math.log(n_centres) - 0.5 * dim * torch.log(2 * math.pi * h**2)[:, None]


def gaussian_kde_log_prob(x: ArrayLike, centres: ArrayLike, bandwidth: float) -> Tensor:
    """Log-density under the Gaussian kernel density p(x) = (1/N) sum_i N(x; x_i, h^2 I).

    Args:
        x: query points [M, D].
        centres: kernel centres (the train split) [N, D].
        bandwidth: h > 0, in the units of x.

    Returns:
        log p(x) [M], float64, nats (a density: it can be positive).
    """
    return _gaussian_kde_grid(_as_matrix(x, "x"), _as_matrix(centres, "centres"), [bandwidth])[0]


def _scale(y: Tensor) -> float:
    """Root-mean-square per-dimension standard deviation; sets the units of ridges, floors and bandwidths."""
    return max(math.sqrt(y.var(0, unbiased=False).mean().item()), 1e-6)


def _fit_factorised_gaussian(y_train: Tensor, y_valid: Tensor, ridges: Sequence[float]) -> FittedBaseline:
    var = y_train.var(0, unbiased=False)
    unit = _scale(y_train) ** 2
    models, scores = {}, {}
    for r in ridges:
        # A dimension constant in train has zero variance: only a positive ridge makes it a density. On
        # dequantised images, pixels (almost) always 0 in train get a variance of ~1/(12 L^2), and a test
        # image that lights one of them loses thousands of nats: validation sets the ridge that balances this.
        scale = (var + r * unit).sqrt()
        if not (scale > 0).all():
            continue
        models[float(r)] = Independent(Normal(y_train.mean(0), scale), 1)
        scores[float(r)] = models[float(r)].log_prob(y_valid).mean().item()
    if not scores:
        raise DataError("y_train has a constant dimension and no ridge in the grid is positive")
    best, note = _select(scores, "ridge")
    return FittedBaseline(
        "factorised Gaussian", models[best].log_prob, {"ridge": best * unit, "relative_ridge": best}, note
    )


def _fit_full_gaussian(y_train: Tensor, y_valid: Tensor, ridges: Sequence[float]) -> FittedBaseline:
    loc = y_train.mean(0)
    centred = y_train - loc
    cov = centred.T @ centred / y_train.shape[0]  # maximum likelihood, [D, D]
    unit = _scale(y_train) ** 2
    eye = torch.eye(cov.shape[0], dtype=torch.float64)
    models, scores = {}, {}
    for r in ridges:
        tril, info = torch.linalg.cholesky_ex(cov + r * unit * eye)
        if info.item() != 0:  # not positive definite at this ridge (constant dimensions, or N <= D)
            continue
        models[float(r)] = MultivariateNormal(loc, scale_tril=tril)
        scores[float(r)] = models[float(r)].log_prob(y_valid).mean().item()
    if not scores:
        raise DataError("covariance is not positive definite at any ridge; the train split is degenerate")
    best, note = _select(scores, "ridge")
    return FittedBaseline(
        "full-covariance Gaussian", models[best].log_prob, {"ridge": best * unit, "relative_ridge": best}, note
    )


def _fit_gaussian_mixture(
    y_train: Tensor,
    y_valid: Tensor,
    components: Sequence[int],
    covariance: str,
    relative_ridge: float,
    max_train: int,
    seed: int,
) -> FittedBaseline:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    y_fit = _subsample(y_train, max_train, seed)
    fit_np, valid_np = y_fit.numpy(), y_valid.numpy()
    # scikit-learn adds reg_covar to every variance: the factorised Gaussian's validated ridge, in the same
    # units, and at least 1e-6 s^2 so that every component is a proper density.
    reg_covar = max(relative_ridge, 1e-6) * _scale(y_fit) ** 2
    models, scores, unconverged = {}, {}, []
    for k in _limit_grid(components, y_fit.shape[0]):
        gm = GaussianMixture(
            n_components=k,
            covariance_type=covariance,
            reg_covar=reg_covar,
            max_iter=100,
            random_state=seed,
        )
        # Non-convergence is reported in the note instead of as a warning (warnings are errors in tests).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(fit_np)
        if not gm.converged_:
            unconverged.append(k)
        models[k] = gm
        scores[k] = float(gm.score(valid_np))
    best, edge = _select(scores, "components")
    gm = models[best]
    sub = f"fitted on {y_fit.shape[0]} of {y_train.shape[0]} train points" if y_fit is not y_train else ""
    conv = f"EM did not converge for components {unconverged}" if unconverged else ""
    return FittedBaseline(
        "Gaussian mixture",
        lambda y: torch.from_numpy(gm.score_samples(y.numpy())),
        {"components": best, "covariance": covariance, "reg_covar": reg_covar},
        _join(sub, conv, edge),
    )


def fit_continuous_baselines(
    y_train: ArrayLike,
    y_valid: ArrayLike,
    *,
    seed: int = 0,
    ridges: Sequence[float] = RIDGES,
    gmm_components: Sequence[int] = GMM_COMPONENTS,
    gmm_covariance: str = "diag",
    gmm_max_train: int = 10_000,
    bandwidths: Sequence[float] = KDE_RELATIVE_BANDWIDTHS,
    max_kde_valid: int | None = 1000,
    max_kde_test: int | None = None,
) -> list[FittedBaseline]:
    """Fit the continuous baselines on train and choose each one's hyperparameter on validation.

    Args:
        y_train: real train data [N, D] (already dequantised if it was discrete).
        y_valid: real validation data [M, D].
        seed: seeds the mixture fit and subsampling.
        ridges: grid for both Gaussians: Sigma = S + r s^2 I, S the ML covariance (diagonal for the
            factorised one) and s the root-mean-square per-dimension standard deviation; ridges where Sigma
            is not positive definite are skipped.
        gmm_components: grid for the Gaussian mixture's components; values above n/10 are dropped. Its
            reg_covar is the factorised Gaussian's chosen ridge (at least 1e-6 s^2).
        gmm_covariance: "diag" or "full" (scikit-learn's covariance_type).
        gmm_max_train: fit the mixture on at most this many (random) train points; the note says so.
        bandwidths: KDE bandwidth grid, relative to s.
        max_kde_valid: validation points used to choose the bandwidth, or None for all.
        max_kde_test: stored on the KDE model: at most this many test points are scored.

    Returns:
        [factorised Gaussian, full-covariance Gaussian, Gaussian mixture, Gaussian KDE] as `FittedBaseline`s;
        their log_prob is a log-density on y, nats.
    """
    y_train, y_valid = _as_matrix(y_train, "y_train"), _as_matrix(y_valid, "y_valid")
    if y_train.shape[1] != y_valid.shape[1]:
        raise DataError(f"y_train has {y_train.shape[1]} dimensions but y_valid has {y_valid.shape[1]}")
    if y_train.shape[0] < 2:
        raise DataError("y_train needs at least 2 points to estimate a variance")
    factorised = _fit_factorised_gaussian(y_train, y_valid, ridges)
    ridge = factorised.hyperparameters["relative_ridge"]
    return [
        factorised,
        _fit_full_gaussian(y_train, y_valid, ridges),
        _fit_gaussian_mixture(y_train, y_valid, gmm_components, gmm_covariance, ridge, gmm_max_train, seed),
        _fit_kde("Gaussian KDE", "bandwidth", _gaussian_kde_grid, [r * _scale(y_train) for r in bandwidths],
                 y_train, y_valid, max_kde_valid, max_kde_test, seed + 1),
    ]


def continuous_baselines(
    x_train: ArrayLike,
    x_valid: ArrayLike,
    x_test: ArrayLike,
    *,
    levels: int | None = None,
    seed: int = 0,
    max_kde_test: int | None = None,
    **options,
) -> list[BaselineResult]:
    """Test log-likelihoods of the continuous baselines, on real data or dequantised discrete data.

    With levels=L, the splits hold integers 0..L-1; train, valid and test are dequantised with
    `dequantise(x, L, seed=seed + 10)`, `seed + 11`, `seed + 12`; the estimators are fitted and selected on y,
    and the figure is log p(y) - D log L, whose expectation over u is a lower bound on the discrete
    log-probability log P(x) [2]. With levels=None the figure is the log-density of x.

    Args:
        x_train, x_valid, x_test: splits [N, D] (more dims are flattened).
        levels: number of discrete levels L, or None for real-valued data.
        seed: seeds dequantisation, the mixture fit and subsampling.
        max_kde_test: score the KDE on at most this many (random) test points; the note says so.
        **options: grids and limits passed to `fit_continuous_baselines`.

    Returns:
        One `BaselineResult` per estimator, nats per datapoint.

    Example:
        >>> results = continuous_baselines(x_train, x_valid, x_test, levels=256, max_kde_test=2000)
    """
    splits = _as_splits(x_train, x_valid, x_test)
    offset = 0.0
    if levels is not None:
        splits = tuple(dequantise(s, levels, seed=seed + 10 + i) for i, s in enumerate(splits))
        offset = splits[0].shape[1] * math.log(levels)
    y_train, y_valid, y_test = splits
    models = fit_continuous_baselines(y_train, y_valid, seed=seed, max_kde_test=max_kde_test, **options)
    return [_score(m, y_test, offset, seed + 2) for m in models]


def baselines(
    x_train: ArrayLike,
    x_valid: ArrayLike,
    x_test: ArrayLike,
    *,
    levels: int | None,
    seed: int = 0,
    max_kde_test: int | None = None,
    **options,
) -> list[BaselineResult]:
    """Test log-likelihoods of the baselines that suit the data: binary if levels == 2, else continuous.

    Args:
        x_train, x_valid, x_test: splits [N, D].
        levels: 2 for binary data, L for integer data with L levels (dequantised), None for real data.
        seed: seeds every random choice.
        max_kde_test: score kernel densities on at most this many test points.
        **options: passed to `binary_baselines` or `continuous_baselines`.

    Returns:
        One `BaselineResult` per estimator, nats per datapoint.
    """
    if levels == 2:
        return binary_baselines(x_train, x_valid, x_test, seed=seed, max_kde_test=max_kde_test, **options)
    return continuous_baselines(
        x_train, x_valid, x_test, levels=levels, seed=seed, max_kde_test=max_kde_test, **options
    )
