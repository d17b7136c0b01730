"""Estimators on any model that honours the model protocols: bounds, log p(x) (of a conditional model: log p(x|y)
through `given(y)`, or summed over classes), diagnostics, per-datapoint inference and the gap split, and a
classifier's figures. One importance-weight core (`weights`) serves every bound and estimate of log p(x)."""

from vaekit.estimate.bounds import ElboTerms, Weights, draw, elbo, elbo_with_samples, iwae_bound, log_weights, weights
from vaekit.estimate.classification import CALIBRATION_BINS, Classification, classify
from vaekit.estimate.diagnostics import ACTIVE_THRESHOLD, Summary, posterior_moments, summarize
from vaekit.estimate.likelihood import (
           DEFAULT_MEMORY_BUDGET,
           ChunkPlan,
           LogLikelihood,
           batches,
           bits_per_dim,
           log_likelihood,
           plan_chunks,
           standard_error,
)
from vaekit.estimate.local import (
           FixedPosteriors,
           GapSplit,
           fit_posteriors,
           gap_split,
           optimal_posterior,
           with_posteriors,
)
from vaekit.estimate.logmeanexp import log_mean_exp, running_log_sum_exp
from vaekit.estimate.marginal import MarginalLogLikelihood, exact_log_likelihood, marginal_log_likelihood
from vaekit.estimate.support import check_support

__all__ = ["ACTIVE_THRESHOLD", "CALIBRATION_BINS", "DEFAULT_MEMORY_BUDGET", "ChunkPlan", "Classification", "ElboTerms", "FixedPosteriors", "GapSplit",
           "LogLikelihood",
           "MarginalLogLikelihood", "Summary", "Weights", "batches", "bits_per_dim", "check_support", "classify", "draw",
           "elbo", "elbo_with_samples", "exact_log_likelihood", "fit_posteriors", "gap_split", "iwae_bound",
           "log_likelihood", "log_mean_exp", "log_weights", "marginal_log_likelihood", "optimal_posterior", "plan_chunks",
           "posterior_moments", "running_log_sum_exp", "standard_error", "summarize", "weights", "with_posteriors"]
