"""What every baseline shares: result types, input checks, grid selection, kernel-density fitting, scoring.

`BaselineResult` is one test figure; `FittedBaseline` is a fitted, validation-selected estimator. The private
helpers check and reshape the splits, choose a hyperparameter on a validation grid (`_select`), fit a kernel
density whose kernel parameter is chosen on validation (`_fit_kde`) and score a fitted model on the test
split (`_score`); `vaekit.baselines.binary` and `vaekit.baselines.continuous` build on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from vaekit.errors import DataError

ArrayLike = Tensor | np.ndarray

# One block of train-by-query quantities (distances, Hamming counts) holds at most this many entries:
# 2^23 float64 = 64 MiB, so kernel densities run in bounded memory whatever the split sizes.
_BLOCK_ELEMENTS = 2**23


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


K = TypeVar("K", bound=Hashable)


def _select(scores: Mapping[K, float], what: str) -> tuple[K, str]:
    """The key with the best validation score, and a note when it sits on the edge of an ordered grid."""
    keys = list(scores)
    best = max(keys, key=lambda k: scores[k])
    edge = len(keys) > 1 and best in (keys[0], keys[-1])
    return best, (f"{what} at the edge of its grid" if edge else "")


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


# ---------------------------------------------------------------------------------------------------------
# Fitting and scoring, shared by the binary and the continuous estimators


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


def _score(model: FittedBaseline, x_test: Tensor, offset: float, seed: int) -> BaselineResult:
    """Mean and standard error of log p - offset over (a subset of) the test points."""
    x = _subsample(x_test, model.max_test, seed)
    log_p = model.log_prob(x).to(torch.float64) - offset  # [n]
    n = log_p.shape[0]
    stderr = log_p.std().item() / math.sqrt(n) if n > 1 else math.nan
    sub = f"test subsampled to {n} of {x_test.shape[0]} points" if n < x_test.shape[0] else ""
    note = _join(model.note, sub)
    return BaselineResult(model.name, log_p.mean().item(), stderr, n, dict(model.hyperparameters), note)
