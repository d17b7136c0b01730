"""The registry of training objectives (`--objective`, and "objective" in a run's config.json), and the
interface every objective implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from vaekit.data.batch import Batch
from vaekit.models.protocol import LatentVariableModel
from vaekit.registry import Registry


@dataclass(frozen=True)
class Loss:
    """What an objective returns for a batch: the scalar to minimise, and named per-datapoint terms [B] (nats)
    that the training loop averages over the epoch and logs as `train_<name>_nats`."""

    loss: Tensor
    terms: dict[str, Tensor]


class Objective:
    """A training objective: a loss and named terms for a batch, given the training progress.

    Subclasses set `Config` (a dataclass of their settings), and `validation_figure`: the per-datapoint figure
    (nats) whose validation mean picks the best epoch; "elbo" (the plain ELBO, which the loop always computes)
    unless the objective trains a different bound, in which case it also implements `validate`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    validation_figure: ClassVar[str] = "elbo"

    def __init__(self, config: Any) -> None:
        self.config = config

    def __call__(self, model: LatentVariableModel, batch: Batch, progress: float) -> Loss:
        """The loss for `batch` at `progress` (epochs completed, fractional: 0.5 is halfway through epoch 1)."""
        raise NotImplementedError

    def scalars(self, progress: float) -> dict[str, float]:
        """Settings that change during training (a KL weight under warm-up), logged per epoch by name."""
        return {}

    def validate(self, model: LatentVariableModel, x: Tensor) -> Tensor:
        """The validation figure per datapoint [B], nats (only for objectives whose figure is not "elbo")."""
        raise NotImplementedError

    def describe(self) -> str:
        """A phrase, plain text: what training maximised."""
        return f"the {self.name} objective"

    def is_plain_elbo(self) -> bool:
        """Whether this is exactly the ELBO with one draw and the analytic KL (what the derived gradients fit)."""
        return False


#: name -> objective class.
OBJECTIVES: Registry[type[Objective]] = Registry("objective")
