"""vaekit: variational autoencoders and deep latent-variable models on PyTorch.

Every figure is per datapoint, in nats, unless its name says otherwise.
"""

__version__ = "0.1.0"

from vaekit.bounds import ElboTerms, elbo, iwae_bound, log_weights  # noqa: E402
from vaekit.errors import DataError, RunError, VaekitError  # noqa: E402
from vaekit.evaluate import LogLikelihood, log_likelihood, summarize  # noqa: E402
from vaekit.model import VAE, ModelConfig  # noqa: E402
from vaekit.runs import Run, open_run  # noqa: E402
from vaekit.train import DataConfig, FitResult, TrainConfig, fit  # noqa: E402

__all__ = [
    "VAE", "ModelConfig", "TrainConfig", "DataConfig", "FitResult", "fit",
    "elbo", "ElboTerms", "iwae_bound", "log_weights", "log_likelihood", "LogLikelihood", "summarize",
    "open_run", "Run", "VaekitError", "DataError", "RunError",
]
