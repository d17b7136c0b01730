"""Training: configs, the loop, crash-safe state, data-parallel processes and the hand-derived fast step.

The loop is imported on first use (`vaekit.train.fit`), so that opening a run, which needs the configs and the
state files, never loads it.
"""

from __future__ import annotations

import importlib
from typing import Any

from vaekit.train.config import TrainConfig


def __getattr__(name: str) -> Any:
    if name in ("fit", "FitResult", "pipeline_for", "resolve_device"):
        return getattr(importlib.import_module("vaekit.train.loop"), name)
    raise AttributeError(f"module 'vaekit.train' has no attribute {name!r}")


__all__ = ["FitResult", "TrainConfig", "fit", "pipeline_for", "resolve_device"]
