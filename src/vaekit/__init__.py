"""vaekit: variational autoencoders and deep latent-variable models on PyTorch.

Every figure is per datapoint, in nats, unless its name says otherwise.
"""

__version__ = "0.1.0"

from vaekit.bounds import ElboTerms, elbo, iwae_bound, log_weights
from vaekit.errors import DataError, RunError, VaekitError
from vaekit.evaluate import LogLikelihood, log_likelihood, summarize
from vaekit.model import VAE, ModelConfig
from vaekit.runs import Run, open_run
from vaekit.train import DataConfig, FitResult, TrainConfig, fit

__all__ = [
    "VAE",
    "DataConfig",
    "DataError",
    "ElboTerms",
    "FitResult",
    "LogLikelihood",
    "ModelConfig",
    "Run",
    "RunError",
    "TrainConfig",
    "VaekitError",
    "elbo",
    "fit",
    "iwae_bound",
    "log_likelihood",
    "log_weights",
    "open_run",
    "summarize",
]
