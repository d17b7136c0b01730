"""Gradient steps: the strategies that set every parameter's gradient for a batch (autograd on the objective, or
the hand-derived gradients of `vaekit.train.fast` where they apply), the optimiser they feed, and one epoch of
steps.

Each strategy returns the batch's sums of the objective's named per-datapoint terms (nats), so that the epoch's
means are one division at its end and the loop never synchronises with the host inside an epoch except to
refresh the progress bar.
"""

from __future__ import annotations

import math
import time
from typing import Protocol, cast

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from vaekit.data.batch import Batch
from vaekit.errors import VaekitError
from vaekit.models.hierarchical import HVAE
from vaekit.models.vae import VAE
from vaekit.objectives import Objective
from vaekit.train import distributed
from vaekit.train.batches import TrainingData
from vaekit.train.config import TrainConfig, learning_rate
from vaekit.train.fast import applies, step_gradients, terms
from vaekit.train.progress import ProgressBar


class Step:
    """One training step's gradients: sets every parameter's `.grad` for a batch and returns the batch's sums of
    the objective's named per-datapoint terms, [len(names)], detached."""

    names: tuple[str, ...]
    model: nn.Module

    def __call__(self, batch: Batch, progress: float) -> Tensor:
        raise NotImplementedError


class AutogradStep(Step):
    """The objective's loss, differentiated by autograd (under bf16 autocast where asked for)."""

    def __init__(self, model: nn.Module, objective: Objective, optimizer: torch.optim.Optimizer,
                 autocast: torch.autocast) -> None:
        self.model, self.objective, self.optimizer, self.autocast = model, objective, optimizer, autocast
        self.names = ()

    def __call__(self, batch: Batch, progress: float) -> Tensor:
        with self.autocast:
            loss = self.objective(self.model, batch, progress)
            sums = torch.stack([t.detach().sum() for t in loss.terms.values()]).float()
        self.names = tuple(loss.terms)
        self.optimizer.zero_grad(set_to_none=True)
        loss.loss.backward()
        return sums


class DerivedStep(Step):
    """The hand-derived gradients of the plain ELBO or the IWAE bound (`vaekit.train.fast`), for the exact models
    they were derived for."""

    model: VAE | HVAE

    def __init__(self, model: VAE | HVAE, objective: Objective) -> None:
        self.model, self.objective, self.names = model, objective, terms(objective)

    def __call__(self, batch: Batch, progress: float) -> Tensor:
        return step_gradients(self.model, batch.x, self.objective)


class _Grouped(Protocol):
    """A model with its own optimiser parameter groups (see `parameter_groups`)."""

    def parameter_groups(self) -> list[dict]: ...


def parameter_groups(model: nn.Module, lr: float) -> list[dict]:
    """The optimiser's parameter groups: the model's own (`parameter_groups()`, each with an optional `lr_scale`
    multiplying the learning rate), else one group of all its parameters."""
    groups: list[dict] = (cast(_Grouped, model).parameter_groups() if hasattr(model, "parameter_groups") else
                          [{"params": list(model.parameters())}])
    return [{**group, "lr": lr * group.get("lr_scale", 1.0)} for group in groups]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the model's parameter groups, fused: the whole update is one kernel per parameter group (CPU and
    CUDA since torch 2.4)."""
    return torch.optim.Adam(parameter_groups(model, config.lr), lr=config.lr, weight_decay=config.weight_decay,
                            fused=True)


def choose_step(model: nn.Module, objective: Objective, config: TrainConfig, optimizer: torch.optim.Optimizer,
                device: torch.device) -> Step:
    """The derived step where it applies and `config.gradients` allows it, else autograd's; `VaekitError` where
    the derived step is demanded (`--gradients derived`) and does not apply."""
    why_not = applies(model, objective, config.precision)
    if config.gradients == "derived" and why_not is not None:
        raise VaekitError(f"--gradients derived does not apply here: {why_not}; use --gradients auto")
    if config.gradients != "autograd" and why_not is None:
        return DerivedStep(cast(VAE | HVAE, model), objective)  # `applies` checked that it is one
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    return AutogradStep(model, objective, optimizer, autocast)


def train_epoch(step: Step, data: TrainingData, optimizer: torch.optim.Optimizer, params: list[nn.Parameter],
                generator: torch.Generator, config: TrainConfig, ema: AveragedModel | None,
                group: distributed.Group, epoch: int, bar: ProgressBar | None) -> dict[str, float]:
    """One pass over the training split; returns the means of the objective's terms over its rows (nats)."""
    n, device = data.n, data.x_train.device
    steps = math.ceil(n / config.batch_size)
    totals: Tensor | None = None  # this process's sums of the named terms
    seen = 0  # rows of those sums
    t0 = time.perf_counter()
    epoch_batches = data.epoch_batches(generator, config.batch_size, config.labelled_batch)
    rows_in_epoch = sum(len(index) for index in epoch_batches)  # all processes together
    for i, index in enumerate(epoch_batches):
        # Every process draws the whole global batch's noise, so that the data generator stays in step.
        batch = distributed.share_batch(data.batch(index, generator), group)
        if len(batch) == 0:  # a last global batch with fewer rows than processes: average_gradients sends zeros
            optimizer.zero_grad(set_to_none=True)
            sums = torch.zeros(len(step.names), device=device) if step.names else None
        else:
            sums = step(batch, epoch - 1 + i / steps)
        distributed.average_gradients(params, len(batch), len(index), group)
        if config.lr_schedule != "constant":
            for group_ in optimizer.param_groups:
                group_["lr"] = learning_rate(config, epoch - 1 + i / steps) * group_.get("lr_scale", 1.0)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(step.model)
        if sums is not None:
            totals = sums if totals is None else totals + sums
        seen += len(batch)
        if bar is not None and (i % 20 == 0 or i == steps - 1) and totals is not None:
            rows = min(n, (i + 1) * config.batch_size)
            bar.step(epoch, i + 1, dict(zip(step.names, (totals / seen).tolist())), rows / (time.perf_counter() - t0))
    if totals is None:  # this process saw no rows at all (more processes than rows)
        totals = torch.zeros(len(step.names), device=device)
    return dict(zip(step.names, (distributed.all_sum(totals, group).double() / rows_in_epoch).tolist()))


__all__ = ["AutogradStep", "DerivedStep", "Step", "choose_step", "make_optimizer", "parameter_groups", "train_epoch"]
