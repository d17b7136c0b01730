"""Continuous baselines for real data, or discrete data dequantised onto [0, 1): factorised Gaussian,
full-covariance Gaussian (ridge chosen on validation), Gaussian mixture (scikit-learn), Gaussian kernel density.

With L levels every split is dequantised, y = (x + u) / L, and the figure is log p(y) - D log L, whose
expectation over u is a lower bound on the discrete log-probability log P(x) [2] (references in
`vaekit.baselines`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Independent, MultivariateNormal, Normal

from vaekit.baselines.common import (
    ArrayLike,
    BaselineResult,
    FittedBaseline,
    _as_matrix,
    _as_splits,
    _block_rows,
    _check_levels,
    _fit_kde,
    _join,
    _limit_grid,
    _score,
    _select,
    _subsample,
)
from vaekit.data import dequantize
from vaekit.errors import DataError

# Bandwidths relative to the root-mean-square per-dimension standard deviation of the train split.
# Each bandwidth costs one exp pass over N_train x N_valid, so the grid is coarse: steps of a factor 1.6.
KDE_RELATIVE_BANDWIDTHS = tuple(float(v) for v in np.geomspace(1e-2, 2.0, 12))
RIDGES = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
GMM_COMPONENTS = (1, 2, 5, 10, 20)


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
    splits: tuple[Tensor, ...] = _as_splits(x_train, x_valid, x_test)
    offset = 0.0
    if levels is not None:
        splits = tuple(dequantise(s, levels, seed=seed + 10 + i) for i, s in enumerate(splits))
        offset = splits[0].shape[1] * math.log(levels)
    y_train, y_valid, y_test = splits
    models = fit_continuous_baselines(y_train, y_valid, seed=seed, max_kde_test=max_kde_test, **options)
    return [_score(m, y_test, offset, seed + 2) for m in models]
