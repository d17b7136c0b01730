"""Training objectives as objects: given a model and a batch they return a loss and named per-datapoint terms.

    objective = build_objective("iwae", {"iw_samples": 50})
    loss = objective(model, batch, progress=0.0)      # Loss(loss, terms={"iwae_bound": ..., "elbo": ...})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vaekit.config import Source, validate
from vaekit.objectives.elbo import ELBO, ELBOConfig
from vaekit.objectives.iwae import IWAE, IWAEConfig
from vaekit.objectives.likelihood import Likelihood, LikelihoodConfig
from vaekit.objectives.m2 import M2Objective, M2ObjectiveConfig
from vaekit.objectives.registry import OBJECTIVES, LatentVariableObjective, Loss, Objective, label


def build_objective(name: str = "elbo", config: Any = None, source: Source | None = None) -> Objective:
    """A registered objective from its settings (a config dataclass, a mapping validated against it, or None for
    the defaults)."""
    cls = OBJECTIVES[name]
    if config is None:
        config = cls.Config()
    elif isinstance(config, Mapping):
        config = validate(cls.Config, config, source or Source.python(cls.Config))
    return cls(config)


__all__ = ["ELBO", "IWAE", "OBJECTIVES", "ELBOConfig", "IWAEConfig", "LatentVariableObjective", "Likelihood",
           "LikelihoodConfig", "Loss", "M2Objective", "M2ObjectiveConfig", "Objective", "build_objective", "label"]
