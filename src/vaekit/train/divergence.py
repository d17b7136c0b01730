"""Training that goes wrong, read from the trajectory after every epoch: a non-finite figure, a training figure of
absurd magnitude, or one that fell by orders of magnitude below its best. The error names the likely cause: data
far from unit scale (`--standardize`), else the learning rate (a tenth of it). RELIABILITY.md, promise 6.
"""

from __future__ import annotations

import math
from pathlib import Path

from vaekit.data.pipeline import Pipeline
from vaekit.data.splits import Splits
from vaekit.errors import RunError
from vaekit.train.config import TrainConfig

#: A training figure that falls this many times its best's magnitude below its best has diverged ...
DIVERGED_FACTOR = 100.0
#: ... and so has one beyond this many nats per data dimension in magnitude (no density of sane data gets there).
DIVERGED_PER_DIMENSION = 1e8
#: Real-valued data with values beyond this magnitude is likely the cause of a divergence: standardize it.
UNSCALED = 100.0


def diverged(history: list[dict], figure: str, num_dims: int) -> str | None:
    """Why the last epoch of `history` has diverged, or None: a non-finite figure, a training figure of absurd
    magnitude, or one that fell by orders of magnitude below its best (the trajectory, not only NaN).

    Args:
        history: metrics rows, one per epoch (`train_<name>_nats`, `valid_<name>_nats`, ...).
        figure: the objective's validation figure ("elbo", "iwae_bound", ...); its training row is watched, else
            the training ELBO.
        num_dims: D, the data dimensions (the absurd magnitude is per dimension).
    """
    row = history[-1]
    for key, value in row.items():
        if key.endswith("_nats") and key.startswith(("train_", "valid_")) and not math.isfinite(value):
            return f"{key} is {value}"
    key = f"train_{figure}_nats" if f"train_{figure}_nats" in row else "train_elbo_nats"
    if key not in row:
        return None
    value = row[key]
    if abs(value) > DIVERGED_PER_DIMENSION * num_dims:
        return f"{key} reached {value:.3g} nats per datapoint"
    previous = [r[key] for r in history[:-1] if key in r]
    if previous and value < max(previous) - DIVERGED_FACTOR * max(abs(max(previous)), 1.0):
        return f"{key} fell from {max(previous):.4g} to {value:.4g} nats per datapoint"
    return None


def unscaled(splits: Splits, pipeline: Pipeline) -> str | None:
    """Why the data may make training diverge (real values far from unit scale, not standardized), or None."""
    if pipeline.levels is not None or pipeline.standardize or splits.x_train.numel() == 0:
        return None
    biggest = float(splits.x_train.abs().max())
    if not biggest > UNSCALED:
        return None
    return (f"the data is not scaled (values up to {biggest:.3g}), which a likelihood over real values cannot fit: "
            "train with --standardize")


def check_divergence(history: list[dict], figure: str, num_dims: int, config: TrainConfig, hint: str | None,
                     run_path: Path | None) -> None:
    """Raise `RunError` if the last epoch diverged: why, the likely cause (`hint`, from `unscaled`, else the
    learning rate) and what the run directory keeps."""
    reason = diverged(history, figure, num_dims)
    if reason is None:
        return
    epoch = len(history)
    cause = hint or f"the learning rate is likely too large: train again with a lower --lr (e.g. {config.lr / 10:g})"
    kept = ""
    if run_path is not None:
        kept = (f"; {run_path} keeps epoch {epoch - 1}" if epoch > 1 else
                f"; {run_path} has no completed epoch, so the same --out can start again")
    raise RunError(f"training diverged at epoch {epoch} ({reason}); {cause}{kept}")


__all__ = ["DIVERGED_FACTOR", "DIVERGED_PER_DIMENSION", "UNSCALED", "check_divergence", "diverged", "unscaled"]
