"""Latent-variable models: the public protocol, the registry of kinds, and the kinds vaekit ships.

    model = build_model("hvae", {"data_shape": (1, 28, 28)})      # defaults for everything else
    kind_of(model)                                                # "hvae"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from vaekit.config import Source, validate
from vaekit.models.hierarchical import HVAE, HVAEConfig
from vaekit.models.protocol import LatentVariableModel, device_of, dtype_of, generate, latent_dim, latent_groups
from vaekit.models.registry import MODELS, kind_of
from vaekit.models.vae import VAE, LatentModelConfig, VAEConfig


def config_class(kind: str) -> type:
    """The config dataclass of a registered model kind."""
    return MODELS[kind].Config  # type: ignore[attr-defined]


def build_model(kind: str, config: Any, source: Source | None = None) -> nn.Module:
    """Build a registered model from its config (a dataclass instance, or a mapping validated against it)."""
    if isinstance(config, Mapping):
        config = validate(config_class(kind), config, source or Source.python(config_class(kind)))
    return MODELS[kind](config)


__all__ = ["HVAE", "MODELS", "VAE", "HVAEConfig", "LatentModelConfig", "LatentVariableModel", "VAEConfig",
           "build_model", "config_class", "device_of", "dtype_of", "generate", "kind_of", "latent_dim", "latent_groups"]
