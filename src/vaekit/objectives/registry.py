"""The registry of training objectives (`--objective`, and "objective" in a run's config.json), and the
interface every objective implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from vaekit.data.batch import Batch
from vaekit.errors import VaekitError
from vaekit.models.protocol import ConditionalModel, LatentVariableModel
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
    (nats) whose validation mean picks the best epoch; "elbo" (the plain ELBO, which the loop computes for every
    latent-variable model) unless the objective trains a different figure, in which case it also implements
    `validate`. What an objective needs of the model and the data it says in `check` and `needs_labels`.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    validation_figure: ClassVar[str] = "elbo"
    #: The validation figure as pictures and messages name it ("IWAE bound"); default: its name with spaces.
    figure_label: ClassVar[str] = ""
    #: The other per-datapoint terms it logs, as pictures name them (see `label`).
    term_labels: ClassVar[dict[str, str]] = {}

    def __init__(self, config: Any) -> None:
        self.config = config

    def __call__(self, model: Any, batch: Batch, progress: float) -> Loss:
        """The loss for `batch` at `progress` (epochs completed, fractional: 0.5 is halfway through epoch 1)."""
        raise NotImplementedError

    def check(self, model: Any) -> None:
        """Raise `VaekitError` (one line) if this objective cannot train `model`."""

    def needs_labels(self, model: Any) -> bool:
        """Whether every training row must carry a label for this objective to train `model` (the loop then trains
        on the labelled rows only, and refuses data without labels)."""
        return False

    def prepare(self, y_train: Tensor | None) -> None:
        """Called by the loop once before training with the training split's labels [N] (`UNLABELLED` marks rows
        without one), for objectives whose weights depend on how many rows are labelled."""

    def scalars(self, progress: float) -> dict[str, float]:
        """Settings that change during training (a KL weight under warm-up), logged per epoch by name."""
        return {}

    def validate(self, model: Any, batch: Batch) -> Tensor:
        """The validation figure per datapoint [B], nats (for objectives whose figure the loop does not compute
        itself, i.e. everything but a latent-variable model's "elbo")."""
        raise NotImplementedError

    def describe(self) -> str:
        """A phrase, plain text: what training maximised."""
        return f"the {self.name} objective"

    def is_plain_elbo(self) -> bool:
        """Whether this is exactly the ELBO with one draw and the analytic KL (what the derived gradients fit)."""
        return False


class LatentVariableObjective(Objective):
    """An objective on a latent-variable model (the ELBO, the IWAE bound). A conditional model is trained through
    `given(y)` on labelled rows (`vaekit.models.for_batch`), so that the same bound becomes one of log p(x|y)."""

    def check(self, model: Any) -> None:
        if not isinstance(model, (LatentVariableModel, ConditionalModel)):
            raise VaekitError(f"--objective {self.name} trains models with latent variables, and "
                              f"{type(model).__name__} has none; use --objective likelihood")

    def needs_labels(self, model: Any) -> bool:
        return not isinstance(model, LatentVariableModel)  # only conditional: p(x|y) needs y


#: name -> objective class.
OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def label(name: str) -> str:
    """What pictures and messages call the figure `name` (a metrics.jsonl key without `train_`/`valid_` and
    `_nats`): the label the objective that logs it declares (`figure_label`, `term_labels`), else the name with
    spaces. The one home of these labels: the command line's summary, the report's curves and the comparison page
    all read them here."""
    for cls in OBJECTIVES.values():
        if name == cls.validation_figure and cls.figure_label:
            return cls.figure_label
        if name in cls.term_labels:
            return cls.term_labels[name]
    return name.replace("_", " ")
