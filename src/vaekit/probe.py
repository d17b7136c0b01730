"""Downstream use of the latents: a linear classifier on posterior means against the same on raw inputs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor

from vaekit.estimate import posterior_moments, with_posteriors
from vaekit.models.protocol import LatentVariableModel


@dataclass(frozen=True)
class ProbeResult:
    """Test accuracy (fraction correct) of logistic regression fitted on the train split."""

    latent_accuracy: float   # features: posterior means E_q[z|x], [latent_dim]
    raw_accuracy: float      # features: the inputs as the model sees them, [D]
    n_train: int
    n_test: int
    converged: bool          # False when lbfgs stopped at max_iter for either classifier
    note: str


@torch.inference_mode()
def posterior_means(model: LatentVariableModel, x: Tensor, batch_size: int = 4096) -> np.ndarray:
    """E_q[z|x] for every row of x [N, *data_shape], as a float64 array [N, d] (estimated from draws where q has
    no closed-form mean)."""
    # A model without an encoder gets q(z|x) fitted per datapoint, chunk by chunk (`with_posteriors`).
    means = [posterior_moments(with_posteriors(model, xb).encode(xb))[0] for xb in x.split(batch_size)]
    return torch.cat(means).double().cpu().numpy()


def _accuracy(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> tuple[float, bool]:
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(train, y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return float(classifier.score(test, y_test)), converged


def probe(
    model: LatentVariableModel, x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, *, max_train: int = 10_000, seed: int = 0
) -> ProbeResult:
    """Fit logistic regression (standardised features) on train, score on test; latents vs raw inputs.

    Args:
        x_train, x_test: data as the model sees it, [N, *data_shape]; y_*: integer labels [N].
        max_train: fit on a seeded subsample of at most this many training points (raw-pixel fits are slow).
    """
    note = ""
    if len(x_train) > max_train:
        keep = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:max_train].to(x_train.device)
        x_train, y_train = x_train[keep], y_train[keep]
        note = f"classifiers fitted on a seeded subsample of {max_train} training points"
    yt, ys = y_train.cpu().numpy(), y_test.cpu().numpy()
    latent, ok_latent = _accuracy(posterior_means(model, x_train), yt, posterior_means(model, x_test), ys)
    raw, ok_raw = _accuracy(x_train.flatten(1).double().cpu().numpy(), yt, x_test.flatten(1).double().cpu().numpy(), ys)
    return ProbeResult(latent, raw, len(x_train), len(x_test), ok_latent and ok_raw, note)
