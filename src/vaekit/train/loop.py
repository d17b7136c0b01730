"""The training loop: minibatch stochastic gradient ascent on an objective (the ELBO by default), with
validation, best-weight keeping, exact resume, run directories and data-parallel training across processes.

`fit` reads top to bottom: set up (`_set_up`: device, preprocessing, data, optimiser, the gradient step, the run
directory), then per epoch (`_epoch`): train, validate, record, check for divergence, keep the best, checkpoint;
then finish (`_finish`). The pieces live beside it: the data on the device (`batches`), the gradient steps
(`step`), validation (`validation`), the run directory and its lock (`rundir`), the checkpoint (`state`),
divergence (`divergence`). Batches are slices of one resident tensor (no per-item Python), the optimiser step is
fused, and the loop never synchronises with the host inside an epoch except to refresh the progress bar.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import torch
from torch import nn
from torch.distributions.constraints import Constraint
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from vaekit.config import to_dict
from vaekit.data.config import DataConfig
from vaekit.data.pipeline import Pipeline
from vaekit.data.splits import Splits
from vaekit.distributions import unchecked
from vaekit.errors import DataError
from vaekit.limits import using_threads
from vaekit.models import amortised, x_distribution
from vaekit.objectives import ELBO, Objective
from vaekit.serialized import read_json
from vaekit.train import distributed
from vaekit.train import state as run_state
from vaekit.train.batches import TrainingData, labelled_only, prepare_data
from vaekit.train.config import TrainConfig, learning_rate, resolve_device
from vaekit.train.denormals import flush_denormals
from vaekit.train.divergence import check_divergence, unscaled
from vaekit.train.loggers import Logger
from vaekit.train.progress import ProgressBar, progress_bar
from vaekit.train.rundir import holding_locks, open_run_directory, run_config
from vaekit.train.step import Step, choose_step, make_optimizer, train_epoch
from vaekit.train.threads import StarvationWatch
from vaekit.train.validation import PER_DATAPOINT_VALIDATION_ROWS, validate


@dataclass
class FitResult:
    """What `fit` returns. The model is left holding the weights of `best_epoch`."""

    history: list[dict]          # one row per epoch, as in metrics.jsonl
    best_epoch: int
    best_valid: float            # the best validation figure, nats per datapoint
    best_by: str                 # its key in the history rows, e.g. "valid_elbo_nats"
    pipeline: Pipeline
    run_dir: Path | None
    best_weights: str = "raw"    # "ema": the best weights are the moving average of the trained ones (--ema-decay)


def pipeline_for(model: nn.Module, splits: Splits, config: TrainConfig) -> Pipeline:
    """The preprocessing `fit` uses for this model, data and config (also used to evaluate a saved run).

    Whether the model's distribution over x needs binary data, or is a density over real values, is read from its
    support (`vaekit.models.x_distribution`); a model that does not model x (a classifier) sees the data scaled to
    [0, 1], neither binarized nor dequantized unless asked.
    """
    px = x_distribution(model)
    data_shape = tuple(px.event_shape) if px is not None else tuple(getattr(model, "data_shape", splits.data_shape))
    if tuple(splits.data_shape) != data_shape:
        raise DataError(f"{splits.name}: data shape {tuple(splits.data_shape)} does not match the model's {data_shape}")
    config_of = getattr(model, "config", None)
    likelihood = getattr(config_of, "likelihood", type(px).__name__)
    discrete = px is not None and bool(cast(Constraint, px.support).is_discrete)  # x's distribution declares one
    return Pipeline.resolve(
        splits.name, likelihood, splits.levels, binary_likelihood=discrete,
        continuous_likelihood=px is not None and not discrete, binarize=config.binarize, dequantize=config.dequantize,
        seed=config.seed, standardize=config.standardize, x_train=splits.x_train,
    )


# ------------------------------------------------------------------------------------------------ set-up


class _Initialized(Protocol):
    """A model with a data-dependent initialisation from training rows (the VampPrior's pseudo-inputs)."""

    def initialize(self, x: torch.Tensor) -> None: ...


@dataclass
class _Training:
    """Everything the epochs need, made once by `_set_up`."""

    model: nn.Module
    objective: Objective
    config: TrainConfig
    group: distributed.Group
    device: torch.device
    data: TrainingData
    generator: torch.Generator    # the data's draws: shuffling, dynamic binarization, dequantization noise
    optimizer: torch.optim.Optimizer
    step: Step
    ema: AveragedModel | None     # the moving average of the weights, where asked for
    best_by: str                  # the history key that picks the best epoch, e.g. "valid_elbo_nats"
    run_path: Path | None
    writes: bool                  # this process writes the run directory (rank 0 of a run with one)
    progress: run_state.Progress  # the history so far and the best epoch (a resumed run's, or empty)
    num_dims: int                 # D, the data's dimensions (divergence is judged per dimension)
    hint: str | None              # the likely cause of a divergence, where the data suggests one
    loggers: list[Logger]
    watch: StarvationWatch        # warns once when other work starves the threads

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def candidates(self) -> dict[str, nn.Module]:
        """The weights validated after each epoch, the better kept as the best: the trained weights ("raw") and,
        with --ema-decay, their moving average ("ema")."""
        return {"raw": self.model} if self.ema is None else {"raw": self.model, "ema": self.ema.module}


def _device_for(config: TrainConfig, group: distributed.Group) -> torch.device:
    device = resolve_device(config.device)
    if device.type == "cuda":
        if group.world > 1 and device.index is None:
            device = torch.device("cuda", group.local_rank)  # one GPU per process
        if (device.index or 0) >= torch.cuda.device_count():
            raise DataError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s); start at most "
                            "that many processes per machine, or use --device cpu")
        torch.cuda.set_device(device)
    return device


def _set_up(model: nn.Module, splits: Splits, config: TrainConfig, objective: Objective, run_dir: str | Path | None,
            resume: bool, data_config: DataConfig, command: list[str] | None, loggers: Sequence[Logger],
            threads: int) -> _Training:
    """Device, preprocessing, seeds, the data on the device, the optimiser and the gradient step, then the run
    directory (new, or the state of the run to continue: locked until `fit` returns) and the loggers."""
    objective.check(model)
    best_by = f"valid_{objective.validation_figure}_nats"
    group = distributed.current()
    device = _device_for(config, group)
    pipeline = pipeline_for(model, splits, config)
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    model.to(device)
    data = prepare_data(model, labelled_only(splits, objective.needs_labels(model)), pipeline, device)
    if not amortised(model):  # q(z|lambda) fitted to each validation row: validate on the first ones
        data = data.first_validation_rows(PER_DATAPOINT_VALIDATION_ROWS)
    objective.prepare(data.y_train)
    run_path = Path(run_dir) if run_dir is not None else None
    if resume and run_path is not None and run_state.completed_epochs(run_path) == 0:
        resume = False  # nothing was completed: start afresh (the caller seeded the model's initialisation)
    if not resume and hasattr(model, "initialize"):  # data-dependent initialisation (the VampPrior's pseudo-inputs)
        view = data.train_view if data.train_view is not None else pipeline.fixed(splits.x_train, "train").to(device)
        cast(_Initialized, model).initialize(view)
    distributed.broadcast_parameters(model, group)
    optimizer = make_optimizer(model, config)
    step = choose_step(model, objective, config, optimizer, device)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay)) if config.ema_decay else None
    writes = run_path is not None and group.is_main  # one process writes the run directory
    progress = open_run_directory(
        run_path, resume, writes,
        lambda: run_config(model, objective, splits, config, data_config, pipeline, command, best_by, group.world),
        config, model, optimizer, generator, ema, group, device)
    if group.rank > 0:  # every other process draws its own z (rank 0 keeps the single-process stream)
        torch.manual_seed(config.seed + 7919 * group.rank + progress.epoch)
    training = _Training(model, objective, config, group, device, data, generator, optimizer, step, ema, best_by,
                         run_path, writes, progress, math.prod(splits.data_shape), unscaled(splits, pipeline),
                         list(loggers) if group.is_main else [],  # rank 0 logs for every process
                         StarvationWatch(threads, enabled=group.is_main and device.type == "cpu"))
    for logger in training.loggers:
        logger.on_start(read_json(run_path / run_state.CONFIG) if run_path is not None else
                        {"train": to_dict(config), "objective": {"name": objective.name, **to_dict(objective.config)}})
    return training


# ------------------------------------------------------------------------------------------------ epochs


def _epoch(t: _Training, epoch: int, bar: ProgressBar | None) -> dict:
    """Train, validate, record, check for divergence, keep the best, checkpoint, tell the loggers; the row."""
    t.model.train()
    t0 = time.perf_counter()
    t.watch.start()
    train = train_epoch(t.step, t.data, t.optimizer, t.params, t.generator, t.config, t.ema, t.group, epoch, bar)
    train_seconds = time.perf_counter() - t0
    t.watch.check(epoch)
    kept, figures = _validate(t)
    row = _record(epoch, train, figures[kept], t.objective.scalars(epoch), train_seconds, time.perf_counter() - t0,
                  t.data.n)
    row["lr"] = learning_rate(t.config, epoch - 1)
    if len(figures) > 1:  # both weights validated: both figures, and which were the better (and compete for best)
        name = t.objective.validation_figure
        row.update({f"{weights}_valid_{name}_nats": values[name] for weights, values in figures.items()})
        row["valid_weights"] = kept
    t.progress.history.append(row)
    check_divergence(t.progress.history, t.objective.validation_figure, t.num_dims, t.config, t.hint, t.run_path)
    best_changed = _keep_best(t.progress, row, t.best_by, t.candidates()[kept])
    if t.writes and t.run_path is not None:  # (writes implies a run_path)
        run_state.save_checkpoint(t.run_path, t.model, t.optimizer, t.generator, t.progress,
                                  best_changed=best_changed, ema=t.ema)
    for logger in t.loggers:
        logger.on_epoch(row, t.candidates()[kept])
    if bar is not None:
        bar.epoch_done(epoch, t.best_by, row)
    return row


def _validate(t: _Training) -> tuple[str, dict[str, dict[str, float]]]:
    """Validate each of `t.candidates()`: (the better by the objective's validation figure, the figures of each).
    The moving average is kept where it is as good, or the trained weights' figure is not a number. It is validated
    with the draws the trained weights were validated with, and leaves the random state as they left it: the two
    are compared on the same noise, and training goes on as it would without the average."""
    cuda = [t.device] if t.device.type == "cuda" else []
    drawn = torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in cuda]
    figures = {}
    for weights, module in t.candidates().items():
        module.eval()
        with torch.random.fork_rng(devices=cuda, enabled=weights != "raw"):
            if weights != "raw":
                torch.set_rng_state(drawn[0])
                for d, state in zip(cuda, drawn[1]):
                    torch.cuda.set_rng_state(state, d)
            figures[weights] = validate(module, t.objective, t.data, t.group, t.device)
    if "ema" not in figures:
        return "raw", figures
    name = t.objective.validation_figure
    raw, ema = figures["raw"][name], figures["ema"][name]
    return ("raw" if raw > ema or (math.isnan(ema) and not math.isnan(raw)) else "ema"), figures


def _record(epoch: int, train: dict[str, float], valid: dict[str, float], scalars: dict[str, float],
            train_seconds: float, epoch_seconds: float, n: int) -> dict:
    """One row of metrics.jsonl: key names carry the units; the validation figures are those of the weights kept."""
    row: dict = {"epoch": epoch}
    row.update({f"train_{name}_nats": value for name, value in train.items()})
    row.update({f"valid_{name}_nats": value for name, value in valid.items() if name != "active_units"})
    if "active_units" in valid:
        row["valid_active_units"] = int(valid["active_units"])
    row.update(scalars)
    row.update({"train_seconds": train_seconds, "epoch_seconds": epoch_seconds, "images_per_second": n / epoch_seconds})
    return row


def _keep_best(progress: run_state.Progress, row: dict, best_by: str, model: nn.Module) -> bool:
    """Remember this epoch's weights if its validation figure is the best so far; whether it was."""
    if not row[best_by] > progress.best_valid:
        return False
    progress.best_epoch, progress.best_valid = row["epoch"], row[best_by]
    progress.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return True


def _stop(t: _Training, epoch: int) -> bool:
    """Whether training stops after `epoch`: no better validation figure for `patience` epochs (early stopping),
    or the wall-clock budget spent, by rank 0's clock (so that every process stops together)."""
    if t.config.patience is not None and epoch - t.progress.best_epoch >= t.config.patience:
        return True
    if t.config.max_minutes is None:
        return False
    spent = sum(row["epoch_seconds"] for row in t.progress.history)
    flag = torch.tensor([float(spent >= 60 * t.config.max_minutes)], dtype=torch.float64, device=t.device)
    return bool(distributed.from_main(flag, t.group).item())


def _finish(t: _Training) -> FitResult:
    """Load the best weights into the model, tell the loggers, and say what training achieved."""
    if t.progress.best_weights is not None:
        t.model.load_state_dict(t.progress.best_weights)
    for logger in t.loggers:
        logger.on_end(t.run_path)
    best_row = next((row for row in t.progress.history if row.get("epoch") == t.progress.best_epoch), {})
    # Runs made before both weights were validated recorded no `valid_weights`: they validated the moving average.
    kept = best_row.get("valid_weights", "ema" if t.ema is not None else "raw")
    return FitResult(history=t.progress.history, best_epoch=t.progress.best_epoch, best_valid=t.progress.best_valid,
                     best_by=t.best_by, pipeline=t.data.pipeline, run_dir=t.run_path, best_weights=kept)


# ---------------------------------------------------------------------------------------------------- fit


@holding_locks
def fit(
    model: nn.Module,
    splits: Splits,
    config: TrainConfig,
    objective: Objective | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    data_config: DataConfig | None = None,
    command: list[str] | None = None,
    progress: bool = False,
    loggers: Sequence[Logger] = (),
) -> FitResult:
    """Train `model` on `splits.x_train` by minimising `objective`'s loss with Adam; validate every epoch.

    Args:
        model: the model to train (moved to `config.device`): any model of the protocol whose objective's needs
            it meets; a run directory needs a registered kind (`vaekit.models.MODELS`).
        splits: the data, as loaded by `vaekit.data.load`.
        config: optimiser, epochs, seed, preprocessing.
        objective: what to maximise (default: the plain ELBO); the best epoch is the one with the best
            validation `objective.validation_figure`. It says what it needs (`check`): where it needs a label for
            every row (`needs_labels`: a classifier, a conditional VAE), training uses the labelled rows of the
            training split only; otherwise every row, and with `config.labelled_batch` some labelled rows are
            added to every batch of a partly labelled split.
        run_dir: where to write config.json and, after every epoch, the checkpoint (one file, committed atomically)
            and its exports model.safetensors (best weights) and metrics.jsonl (`vaekit.train.state`); None trains in
            memory only. A directory holding a run with a completed epoch is refused unless `resume` is set; one
            whose run never completed an epoch is started afresh. The directory is locked while `fit` runs.
        resume: continue the run in `run_dir` from its last completed epoch up to `config.epochs` (from the start
            when it has none); on CPU with the same seed this ends with the same weights as an uninterrupted run.
        data_config: recorded in config.json so that the run's data can be loaded again.
        command: the command line, recorded in config.json.
        progress: show a progress bar on stderr.
        loggers: experiment trackers told of the start, every saved epoch and the end (`vaekit.train.loggers`).

    `fit` computes with `config.threads` CPU threads (torch.set_num_threads; "auto": `vaekit.limits.auto_threads`)
    and sets the number back when it returns; it says once (stderr) when other work starves those threads
    (`vaekit.train.threads`). It flushes denormal floats to zero in the calling thread and torch's worker threads,
    for the rest of the process (`vaekit.train.denormals`: denormals slow CPU arithmetic).

    In an initialised `torch.distributed` group (`torchrun`, see `vaekit.train.distributed`) every process trains
    on its share of each global batch of `config.batch_size` rows and the gradients are averaged, so a step is the
    single-process step; rank 0 validates, writes the run directory and shows the progress bar.

    Returns:
        `FitResult`; `history` rows hold the objective's terms as `train_<name>_nats`, the validation figures as
        `valid_<name>_nats` (nats per datapoint: the plain ELBO's terms and active units where the model, given the
        validation labels where it is conditional, has latent variables; the objective's own figure), seconds and
        images per second, and `lr`, the learning rate at the epoch's start (a model without an encoder is validated
        on the first `PER_DATAPOINT_VALIDATION_ROWS` validation rows: each needs its own fit of q). With
        `config.ema_decay` both the trained weights and their moving average are validated after every epoch
        (`raw_valid_<figure>_nats`, `ema_valid_<figure>_nats`); the better are the epoch's (`valid_weights`: "raw"
        or "ema", and its `valid_*` figures) and compete for the best weights, which `best_weights` names.

    Example:
        >>> splits = vaekit.data.load("digits")
        >>> model = VAE(VAEConfig(data_shape=splits.data_shape))
        >>> result = fit(model, splits, TrainConfig(epochs=50), build_objective("iwae", {"iw_samples": 5}))
    """
    with using_threads(config.threads) as threads:  # before any work; as before once fit returns
        training = _set_up(model, splits, config, objective if objective is not None else ELBO(ELBO.Config()),
                           run_dir, resume, data_config or DataConfig(data=splits.name), command, loggers, threads)
        start = training.progress.epoch + 1
        flush_denormals()  # in every worker thread: denormal floats in late training slow CPU arithmetic several-fold
        wanted = progress and training.group.is_main and start <= config.epochs
        with unchecked(), progress_bar(wanted, config.epochs, math.ceil(training.data.n / config.batch_size)) as bar:
            for epoch in range(start, config.epochs + 1):
                _epoch(training, epoch, bar)
                if _stop(training, epoch):
                    break
        return _finish(training)
