"""How a dataset's stored values become the float tensors a model sees: scaling, binarization, dequantization.

Stored splits are uint8 when the data has discrete levels (`Splits.levels`), else float32. The pipeline maps
them to float32 in one of three ways, recorded in the run's config:
    binarize = static | dynamic   x -> Bernoulli(x / (levels - 1)): once with a fixed seed, or afresh every epoch
                                  (training only; validation and test are binarized once with a recorded seed)
    dequantize                    x -> (x + u) / levels, u ~ U[0, 1): a density on [0, 1]^D whose log-density,
                                  minus D log(levels), bounds the discrete log-probability (Theis et al. 2016)
    neither                       x -> x / (levels - 1), or the real values unchanged
and, for real-valued data, optionally
    standardize                   x -> (x - mean_j) / std_j per feature j, mean and std from the training split
                                  (recorded); log p(x) = log p(x') - sum_j log std_j (the change of variables),
                                  so every figure stays in the data's own units
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from vaekit.config import check, option
from vaekit.data.transforms import binarize as _binarize
from vaekit.data.transforms import dequantize as _dequantize
from vaekit.data.transforms import to_unit
from vaekit.errors import DataError

BINARIZE = ("none", "static", "dynamic")
_SPLIT_OFFSET = {"train": 0, "valid": 1, "test": 2}


@dataclass(frozen=True)
class Pipeline:
    """A resolved preprocessing choice (see the module docstring); saved in a run's config.json under "pipeline"."""

    binarize: str = option(help="none, static or dynamic", choices=BINARIZE)
    dequantize: bool = option(help="uniform dequantization")
    levels: int | None = option(help="values per dimension of the stored data; null for real values", minimum=2)
    seed: int = option(help="seed of the fixed views of each split", minimum=0)
    standardize: bool = option(False, "per-feature standardization of real-valued data")
    mean: tuple[float, ...] | None = option(None, "per-feature means of the training split (standardize)")
    std: tuple[float, ...] | None = option(None, "per-feature standard deviations of the training split (standardize)",
                                           minimum=1e-300)

    def __post_init__(self) -> None:
        check(self)
        if self.binarize != "none" and self.levels is None:
            raise ValueError("binarize needs discrete-level data (levels)")
        if self.dequantize and (self.levels is None or self.binarize != "none"):
            raise ValueError("dequantize needs discrete-level data that is not binarized")
        if self.standardize and (self.levels is not None or self.mean is None or self.std is None
                                 or len(self.mean) != len(self.std)):
            raise ValueError("standardize needs real-valued data and one mean and one std per feature")

    @classmethod
    def resolve(
        cls, name: str, likelihood: str, levels: int | None, *, binary_likelihood: bool, continuous_likelihood: bool,
        binarize: str | None, dequantize: bool | None, seed: int, standardize: bool = False,
        x_train: Tensor | None = None,
    ) -> Pipeline:
        """Fill in defaults and refuse combinations that would not define a proper likelihood.

        Args:
            name: the dataset's name, for messages.
            likelihood: the observation model's name, for messages.
            levels: discrete levels per dimension of the stored data (2: binary), None for real values.
            binary_likelihood: the observation model is defined on {0, 1} only (Bernoulli).
            continuous_likelihood: the observation model is a density over real values.
            standardize: standardize real-valued data by the mean and std of `x_train` (the training split).

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
        if not standardize:
            return cls(binarize=binarize, dequantize=dequantize, levels=levels, seed=seed)
        if levels is not None:
            raise DataError(f"{name}: --standardize applies to real-valued data, and this data has {levels} levels "
                            "per dimension (it is scaled to [0, 1] already)")
        if x_train is None or x_train.shape[0] == 0:
            raise DataError(f"{name}: --standardize needs the training split")
        flat = x_train.reshape(x_train.shape[0], -1).double()
        mean, std = flat.mean(0), flat.std(0, correction=0)
        std = torch.where(std > 0, std, torch.ones_like(std))  # a constant feature is left unscaled
        return cls(binarize=binarize, dequantize=dequantize, levels=levels, seed=seed, standardize=True,
                   mean=tuple(mean.tolist()), std=tuple(std.tolist()))

    @property
    def stochastic(self) -> bool:
        """Whether training draws fresh noise every epoch (dynamic binarization or dequantization)."""
        return self.binarize == "dynamic" or self.dequantize

    @property
    def binary(self) -> bool:
        return self.levels == 2 or self.binarize != "none"

    def log_prob_offset(self, num_dims: int) -> float:
        """Nats to add to a log-density of the model's inputs to get a discrete log-probability bound.

        -D log(levels) under dequantization (Theis et al. 2016); -sum_j log std_j under standardization (the
        log-Jacobian of x -> (x - mean) / std, so that the figure is a density of the data in its own units); else 0.
        """
        if self.standardize and self.std is not None:
            return -math.fsum(math.log(s) for s in self.std)
        return -num_dims * math.log(self.levels) if self.dequantize and self.levels else 0.0

    def restore(self, x: Tensor) -> Tensor:
        """Model-side values back in the data's own units (undoes standardization; other views are unchanged)."""
        if not self.standardize or self.mean is None or self.std is None:
            return x
        mean, std = (torch.tensor(v, dtype=torch.float64) for v in (self.mean, self.std))
        return (x.reshape(x.shape[0], -1).double() * std + mean).reshape(x.shape).to(x.dtype)

    def fresh(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """A training view of stored rows x, with new noise where the pipeline is stochastic. float32."""
        if self.dequantize:
            assert self.levels is not None  # __post_init__: dequantize needs levels
            return _dequantize(x, self.levels, generator)
        if self.standardize and self.mean is not None and self.std is not None:
            mean, std = (torch.tensor(v, dtype=torch.float64, device=x.device) for v in (self.mean, self.std))
            return ((x.reshape(x.shape[0], -1).double() - mean) / std).reshape(x.shape).to(torch.float32)
        unit = to_unit(x, self.levels)
        return _binarize(unit, generator) if self.binarize != "none" and self.levels != 2 else unit

    def fixed(self, x: Tensor, split: str) -> Tensor:
        """The one fixed view of a split: static binarization / dequantization with a seed recorded per split."""
        generator = torch.Generator(device=x.device).manual_seed(self.seed * 7919 + _SPLIT_OFFSET[split])
        return self.fresh(x, generator)
