"""Estimators on any model that honours the model protocol: bounds, log p(x), diagnostics, per-datapoint
inference and the gap split. One importance-weight core (`weights`) serves them all."""

from vaekit.estimate.bounds import ElboTerms, Weights, draw, elbo, elbo_with_samples, iwae_bound, log_weights, weights
from vaekit.estimate.diagnostics import ACTIVE_THRESHOLD, Summary, posterior_moments, summarize
from vaekit.estimate.likelihood import LogLikelihood, batches, bits_per_dim, log_likelihood
from vaekit.estimate.local import GapSplit, gap_split, optimal_posterior
from vaekit.estimate.support import check_support

__all__ = ["ACTIVE_THRESHOLD", "ElboTerms", "GapSplit", "LogLikelihood", "Summary", "Weights", "batches",
           "bits_per_dim", "check_support", "draw", "elbo", "elbo_with_samples", "gap_split", "iwae_bound",
           "log_likelihood", "log_weights", "optimal_posterior", "posterior_moments", "summarize", "weights"]
