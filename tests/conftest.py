"""Shared test setup: fixed seeds, distribution validation on, warnings as errors (pyproject)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Distribution


@pytest.fixture(autouse=True)
def _seeded_and_validated():
    torch.manual_seed(0)
    np.random.seed(0)
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(True)
    yield
    Distribution.set_default_validate_args(previous)
