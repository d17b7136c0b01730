"""Models: the public protocols, the registry of kinds, and the kinds vaekit ships (vae, hvae, classifier, cvae,
m2, made).

    model = build_model("hvae", {"data_shape": (1, 28, 28)})      # defaults for everything else
    kind_of(model)                                                # "hvae"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from torch import nn

from vaekit.config import Source, validate
from vaekit.errors import VaekitError

# The kinds register in import order, which is the order --model lists them: the latent-variable models first.
from vaekit.models.vae import VAE, LatentModelConfig, ObservationConfig, VAEConfig  # isort: skip
from vaekit.models.hierarchical import HVAE, HVAEConfig  # isort: skip
from vaekit.models.classifier import CategoricalClassifier, ClassifierConfig
from vaekit.models.conditional import CVAE, M2, CVAEConfig, M2Config
from vaekit.models.made import MADE, MADEConfig
from vaekit.models.protocol import (
    Classifier,
    ConditionalModel,
    DensityModel,
    LatentVariableModel,
    amortised,
    chunks,
    device_of,
    dtype_of,
    for_batch,
    generate,
    generates,
    labelled,
    latent_dim,
    latent_dim_of,
    latent_groups,
    rows,
    x_distribution,
)
from vaekit.models.registry import MODELS, kind_of


def config_class(kind: str) -> type[Any]:
    """The config dataclass of a registered model kind."""
    return MODELS[kind].Config  # type: ignore[attr-defined]


def default_objective(kind: str) -> str:
    """The objective a model kind trains with unless told otherwise ("elbo" for latent-variable models)."""
    return getattr(MODELS[kind], "default_objective", "elbo")


def data_fields(kind: str, splits: Any) -> dict[str, Any]:
    """The fields of a kind's config that come from the data (`splits`, a `vaekit.data.Splits`), not the user: the
    data's shape, its number of classes (kinds that model classes), its training rows (a table per row)."""
    names = {f.name for f in dataclasses.fields(config_class(kind))}
    values: dict[str, Any] = {"data_shape": tuple(splits.data_shape)}
    if "num_classes" in names:
        if splits.num_classes is None:
            raise VaekitError(f"--model {kind} models class labels, and {splits.name} has none; give labelled data "
                              "(see `vaekit datasets`; --label-column for a CSV file)")
        if splits.num_classes < 2:
            raise VaekitError(f"--model {kind}: {splits.name} has a single class; a classifier needs at least two")
        values["num_classes"] = splits.num_classes
    if "num_rows" in names:
        values["num_rows"] = int(splits.x_train.shape[0])
    return {k: v for k, v in values.items() if k in names}


def build_model(kind: str, config: Any, source: Source | None = None) -> nn.Module:
    """Build a registered model from its config (a dataclass instance, or a mapping validated against it)."""
    if isinstance(config, Mapping):
        config = validate(config_class(kind), config, source or Source.python(config_class(kind)))
    return MODELS[kind](config)


__all__ = ["CVAE", "HVAE", "M2", "MADE", "MODELS", "VAE", "CVAEConfig", "CategoricalClassifier", "Classifier",
           "ClassifierConfig", "ConditionalModel", "DensityModel", "HVAEConfig", "LatentModelConfig",
           "LatentVariableModel", "M2Config", "MADEConfig", "ObservationConfig", "VAEConfig", "amortised", "build_model",
           "chunks", "config_class", "data_fields", "default_objective", "device_of", "dtype_of", "for_batch", "generate",
           "generates",
           "kind_of", "labelled", "latent_dim", "latent_dim_of", "latent_groups", "rows", "x_distribution"]
