"""How a dataset's stored values become the float tensors a model sees: scaling, binarization, dequantization.

Stored splits are uint8 when the data has discrete levels (`Splits.levels`), else float32. The pipeline maps
them to float32 in one of three ways, recorded in the run's config:
    binarize = static | dynamic   x -> Bernoulli(x / (levels - 1)): once with a fixed seed, or afresh every epoch
                                  (training only; validation and test are binarized once with a recorded seed)
    dequantize                    x -> (x + u) / levels, u ~ U[0, 1): a density on [0, 1]^D whose log-density,
                                  minus D log(levels), bounds the discrete log-probability (Theis et al. 2016)
    neither                       x -> x / (levels - 1), or the real values unchanged
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.data.transforms import binarize as _binarize
from vaekit.data.transforms import dequantize as _dequantize
from vaekit.data.transforms import to_unit
from vaekit.errors import DataError

BINARIZE = ("none", "static", "dynamic")
_SPLIT_OFFSET = {"train": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class Pipeline:
    """A resolved preprocessing choice (see the module docstring)."""

    binarize: str
    dequantize: bool
    levels: int | None
    seed: int

    @classmethod
    def resolve(
        cls, name: str, likelihood: str, levels: int | None, *, binary_likelihood: bool, continuous_likelihood: bool,
        binarize: str | None, dequantize: bool | None, seed: int
    ) -> Pipeline:
        """Fill in defaults and refuse combinations that would not define a proper likelihood.

        Args:
            name: the dataset's name, for messages.
            likelihood: the observation model's name, for messages.
            levels: discrete levels per dimension of the stored data (2: binary), None for real values.
            binary_likelihood: the observation model is defined on {0, 1} only (Bernoulli).
            continuous_likelihood: the observation model is a density over real values.

        Defaults: Bernoulli on non-binary data in [0, 1] binarizes dynamically (the literature's choice);
        continuous likelihoods on discrete-level data dequantize, so their figures are comparable with
        discrete models.
        """
        if binarize is None:
            binarize = "dynamic" if binary_likelihood and levels not in (None, 2) else "none"
        if binarize not in BINARIZE:
            raise DataError(f"--binarize {binarize!r} is not one of {', '.join(BINARIZE)}")
        if binarize != "none" and levels is None:
            raise DataError(
                f"{name}: real-valued data cannot be binarized; use --binarize none with --likelihood gaussian"
            )
        binary = levels == 2 or binarize != "none"
        if binary_likelihood and not binary:
            what = "real-valued" if levels is None else f"{levels}-level"
            raise DataError(
                f"{name}: the {likelihood} likelihood needs binary data but this data is {what}; "
                "use --binarize dynamic (or static), or --likelihood gaussian / continuous-bernoulli"
            )
        if dequantize is None:
            dequantize = continuous_likelihood and levels is not None and binarize == "none"
        if dequantize and (levels is None or binarize != "none"):
            raise DataError(f"{name}: --dequantize needs discrete-level data that is not binarized")
        return cls(binarize=binarize, dequantize=dequantize, levels=levels, seed=seed)

    @property
    def stochastic(self) -> bool:
        """Whether training draws fresh noise every epoch (dynamic binarization or dequantization)."""
        return self.binarize == "dynamic" or self.dequantize

    @property
    def binary(self) -> bool:
        return self.levels == 2 or self.binarize != "none"

    def log_prob_offset(self, num_dims: int) -> float:
        """Nats to add to a log-density of the model's inputs to get a discrete log-probability bound.

        -D log(levels) under dequantization (Theis et al. 2016), else 0.
        """
        return -num_dims * math.log(self.levels) if self.dequantize and self.levels else 0.0

    def fresh(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """A training view of stored rows x, with new noise where the pipeline is stochastic. float32."""
        if self.dequantize:
            return _dequantize(x, self.levels, generator)
        unit = to_unit(x, self.levels)
        return _binarize(unit, generator) if self.binarize != "none" and self.levels != 2 else unit

    def fixed(self, x: Tensor, split: str) -> Tensor:
        """The one fixed view of a split: static binarization / dequantization with a seed recorded per split."""
        generator = torch.Generator(device=x.device).manual_seed(self.seed * 7919 + _SPLIT_OFFSET[split])
        return self.fresh(x, generator)
