"""vaekit: variational autoencoders and deep latent-variable models on PyTorch.

Every figure is per datapoint, in nats, unless its name says otherwise. The names below are imported on first
use, so that `import vaekit.runs` (opening a run) never loads the training loop, and the command line starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vaekit.version import __version__ as __version__

_EXPORTS = {
    "DataError": "vaekit.errors", "RunError": "vaekit.errors", "VaekitError": "vaekit.errors",
    "ConfigError": "vaekit.config",
    "HVAE": "vaekit.models", "HVAEConfig": "vaekit.models", "LatentVariableModel": "vaekit.models",
    "VAE": "vaekit.models", "VAEConfig": "vaekit.models", "build_model": "vaekit.models",
    "generate": "vaekit.models", "CVAE": "vaekit.models", "M2": "vaekit.models", "MADE": "vaekit.models",
    "CategoricalClassifier": "vaekit.models", "Classifier": "vaekit.models", "ConditionalModel": "vaekit.models",
    "DensityModel": "vaekit.models",
    "ElboTerms": "vaekit.estimate", "GapSplit": "vaekit.estimate", "LogLikelihood": "vaekit.estimate",
    "Summary": "vaekit.estimate", "elbo": "vaekit.estimate", "gap_split": "vaekit.estimate",
    "iwae_bound": "vaekit.estimate", "log_likelihood": "vaekit.estimate", "log_weights": "vaekit.estimate",
    "optimal_posterior": "vaekit.estimate", "summarize": "vaekit.estimate", "fit_posteriors": "vaekit.estimate",
    "classify": "vaekit.estimate", "marginal_log_likelihood": "vaekit.estimate",
    "ELBO": "vaekit.objectives", "IWAE": "vaekit.objectives", "build_objective": "vaekit.objectives",
    "DataConfig": "vaekit.data.config", "TrainConfig": "vaekit.train.config",
    "FitResult": "vaekit.train.loop", "fit": "vaekit.train.loop",
    "Run": "vaekit.runs", "open_run": "vaekit.runs",
}

__all__ = [
    "CVAE",
    "ELBO",
    "HVAE",
    "IWAE",
    "M2",
    "MADE",
    "VAE",
    "CategoricalClassifier",
    "Classifier",
    "ConditionalModel",
    "ConfigError",
    "DataConfig",
    "DataError",
    "DensityModel",
    "ElboTerms",
    "FitResult",
    "GapSplit",
    "HVAEConfig",
    "LatentVariableModel",
    "LogLikelihood",
    "Run",
    "RunError",
    "Summary",
    "TrainConfig",
    "VAEConfig",
    "VaekitError",
    "build_model",
    "build_objective",
    "classify",
    "elbo",
    "fit",
    "fit_posteriors",
    "gap_split",
    "generate",
    "iwae_bound",
    "log_likelihood",
    "log_weights",
    "marginal_log_likelihood",
    "open_run",
    "optimal_posterior",
    "summarize",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # the names above, for type checkers and editors
    from vaekit.config import ConfigError
    from vaekit.data.config import DataConfig
    from vaekit.errors import DataError, RunError, VaekitError
    from vaekit.estimate import (
        ElboTerms,
        GapSplit,
        LogLikelihood,
        Summary,
        classify,
        elbo,
        fit_posteriors,
        gap_split,
        iwae_bound,
        log_likelihood,
        log_weights,
        marginal_log_likelihood,
        optimal_posterior,
        summarize,
    )
    from vaekit.models import (
        CVAE,
        HVAE,
        M2,
        MADE,
        VAE,
        CategoricalClassifier,
        Classifier,
        ConditionalModel,
        DensityModel,
        HVAEConfig,
        LatentVariableModel,
        VAEConfig,
        build_model,
        generate,
    )
    from vaekit.objectives import ELBO, IWAE, build_objective
    from vaekit.runs import Run, open_run
    from vaekit.train.config import TrainConfig
    from vaekit.train.loop import FitResult, fit
