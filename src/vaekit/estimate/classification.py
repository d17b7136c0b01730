"""Figures of a classifier p(y|x) on labelled data: the log-likelihood of the labels, accuracy, and calibration.

    log-likelihood  (1/N) sum_i log p(y_i | x_i), nats per datapoint (with its standard error over datapoints)
    accuracy        fraction of points whose most probable class is the label
    ECE             expected calibration error (Guo, Pleiss, Sun & Weinberger 2017): the confidences
                    c_i = max_y p(y|x_i) are put in M equal-width bins of [0, 1] (bin m holds c in ((m-1)/M, m/M],
                    the first bin also 0), and ECE = sum_m (n_m / N) |accuracy_m - mean confidence_m|, a fraction
                    in [0, 1]. The reliability diagram plots accuracy_m against mean confidence_m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vaekit.estimate.likelihood import standard_error
from vaekit.models.protocol import chunks

#: Confidence bins of the expected calibration error (Guo et al. 2017 use 15).
CALIBRATION_BINS = 15


@dataclass(frozen=True)
class Classification:
    """Per-datapoint results of a classifier on N labelled points."""

    log_likelihood: Tensor  # log p(y_i|x_i) [N] float64, nats
    correct: Tensor         # argmax_y p(y|x_i) == y_i [N] bool
    confidence: Tensor      # max_y p(y|x_i) [N] float64

    @property
    def mean_log_likelihood(self) -> float:
        return float(self.log_likelihood.mean())

    @property
    def stderr(self) -> float:
        """Standard error of the mean log-likelihood across datapoints (std / sqrt(N))."""
        return standard_error(self.log_likelihood)

    @property
    def accuracy(self) -> float:
        return float(self.correct.double().mean())

    def reliability(self, bins: int = CALIBRATION_BINS) -> dict[str, list]:
        """Per confidence bin: its edges, how many points, their mean confidence and accuracy (None when empty)."""
        index = (self.confidence * bins).ceil().long().clamp(1, bins) - 1  # bin m holds c in ((m-1)/M, m/M]
        count = torch.bincount(index, minlength=bins)
        confidence = torch.bincount(index, self.confidence, minlength=bins)
        correct = torch.bincount(index, self.correct.double(), minlength=bins)
        mean = lambda total: [float(t / n) if n else None for t, n in zip(total, count)]
        return {"edges": [i / bins for i in range(bins + 1)], "count": count.tolist(),
                "confidence": mean(confidence), "accuracy": mean(correct)}

    def calibration_error(self, bins: int = CALIBRATION_BINS) -> float:
        """The expected calibration error with `bins` equal-width confidence bins (see the module docstring)."""
        table = self.reliability(bins)
        n = self.confidence.numel()
        return sum(k / n * abs(a - c) for k, a, c in zip(table["count"], table["accuracy"], table["confidence"]) if k)


@torch.inference_mode()
def classify(model: Any, x: Tensor, y: Tensor, batch_size: int = 4096) -> Classification:
    """Score a classifier (`classify(x)` -> p(y|x)) on x [N, *data_shape] with labels y [N] (int64 classes)."""
    log_p, correct, confidence = [], [], []
    for start, (part, xb) in zip(range(0, x.shape[0], batch_size), chunks(model, x, batch_size)):
        yb = y[start : start + xb.shape[0]]
        p_y = part.classify(xb)
        log_p.append(p_y.log_prob(yb).double())
        probs = p_y.probs.double()
        confidence.append(probs.max(-1).values)
        correct.append(probs.argmax(-1) == yb)
    return Classification(torch.cat(log_p).cpu(), torch.cat(correct).cpu(), torch.cat(confidence).cpu())
