"""The registry of model kinds (`--model`, and `kind` in a run's config.json)."""

from __future__ import annotations

from torch import nn

from vaekit.registry import Registry

#: kind -> model class; each class has a `Config` dataclass (its architecture) and is built as `cls(config)`.
MODELS: Registry[type[nn.Module]] = Registry("model")


def kind_of(model: nn.Module) -> str | None:
    """The registered kind of a model, or None for a model vaekit did not build (a user's own)."""
    return MODELS.name_of(model)
