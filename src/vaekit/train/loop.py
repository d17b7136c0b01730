"""The training loop: minibatch stochastic gradient ascent on an objective (the ELBO by default), with
validation, best-weight keeping, exact resume, run directories and data-parallel training across processes.

`fit` reads top to bottom in named steps: set up (device, preprocessing, data, the step), open the run
directory (new or resumed), then per epoch: train, validate, record, keep the best, checkpoint. Batches are
slices of one resident tensor (no per-item Python), the optimiser step is fused, and the loop never
synchronises with the host inside an epoch except to refresh the progress bar.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import torch
from torch import Tensor, nn
from torch.distributions.constraints import Constraint
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from vaekit import __version__
from vaekit.config import to_dict
from vaekit.data import Splits
from vaekit.data.batch import Batch
from vaekit.data.config import DataConfig
from vaekit.data.pipeline import Pipeline
from vaekit.data.splits import UNLABELLED
from vaekit.distributions import unchecked
from vaekit.errors import DataError, RunError, VaekitError
from vaekit.estimate import check_support, summarize
from vaekit.files import check_writable, lock_folder, make_dir, read_json, write_json
from vaekit.models import LatentVariableModel, amortised, for_batch, kind_of, x_distribution
from vaekit.models.vae import VAE
from vaekit.objectives import ELBO, Objective
from vaekit.train import distributed
from vaekit.train import state as run_state
from vaekit.train.config import TrainConfig, learning_rate, resolve_device
from vaekit.train.denormals import flush_denormals
from vaekit.train.fast import applies, step_gradients
from vaekit.train.loggers import Logger
from vaekit.train.progress import ProgressBar, progress_bar


@dataclass
class FitResult:
    """What `fit` returns. The model is left holding the weights of `best_epoch`."""

    history: list[dict]          # one row per epoch, as in metrics.jsonl
    best_epoch: int
    best_valid: float            # the best validation figure, nats per datapoint
    best_by: str                 # its key in the history rows, e.g. "valid_elbo_nats"
    pipeline: Pipeline
    run_dir: Path | None


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


@dataclass
class _Data:
    """The splits on the training device, as the model sees them."""

    x_train: Tensor              # stored rows (uint8 or float32)
    y_train: Tensor | None       # labels [N] where the data has them (UNLABELLED where --labelled dropped one)
    train_view: Tensor | None    # the fixed training view, or None when the pipeline draws fresh noise
    x_valid: Tensor
    y_valid: Tensor | None
    pipeline: Pipeline
    labelled_rows: Tensor | None = None  # rows with a label, where only some have one (semi-supervised)

    @property
    def n(self) -> int:
        return self.x_train.shape[0]

    def batch(self, index: Tensor, generator: torch.Generator) -> Batch:
        """Rows `index` of the training split, with new noise where the pipeline is stochastic."""
        x = self.train_view[index] if self.train_view is not None else self.pipeline.fresh(self.x_train[index], generator)
        return Batch(x, None if self.y_train is None else self.y_train[index], index)

    def epoch_batches(self, generator: torch.Generator, batch_size: int, labelled_batch: int) -> list[Tensor]:
        """The row indices of each batch of an epoch: a fresh permutation of the rows in slices of `batch_size`, and,
        where only some rows are labelled, `labelled_batch` more rows of each batch drawn in turn from a fresh
        permutation of the labelled ones (so that a few labels are seen in every batch)."""
        order = torch.randperm(self.n, generator=generator, device=self.x_train.device)
        slices = list(order.split(batch_size))
        if not labelled_batch or self.labelled_rows is None:
            return slices
        wanted = len(slices) * labelled_batch
        repeats = -(-wanted // len(self.labelled_rows))
        extra = torch.cat([self.labelled_rows[torch.randperm(len(self.labelled_rows), generator=generator,
                                                             device=self.x_train.device)] for _ in range(repeats)])
        return [torch.cat([rows, extra[i * labelled_batch : (i + 1) * labelled_batch]]) for i, rows in enumerate(slices)]


def _labelled_only(splits: Splits, needed: bool) -> Splits:
    """The splits an objective trains on: the labelled training rows only, where it needs a label for every row."""
    if not needed:
        return splits
    if splits.y_train is None or splits.y_valid is None:
        raise DataError(f"{splits.name} has no labels, and this model and objective need a label for every row; give "
                        "labelled data (see `vaekit datasets`; --label-column for a CSV file)")
    keep = splits.y_train != UNLABELLED
    return dataclasses.replace(splits, x_train=splits.x_train[keep], y_train=splits.y_train[keep])


def _prepare_data(model: nn.Module, splits: Splits, pipeline: Pipeline, device: torch.device) -> _Data:
    # Deterministic pipelines are applied once, on the CPU so that every device sees the same draws; stochastic
    # ones draw fresh noise for every batch.
    known = None if splits.y_train is None else splits.y_train != UNLABELLED
    partly = known is not None and not bool(known.all())
    data = _Data(
        x_train=splits.x_train.to(device),
        y_train=None if splits.y_train is None else splits.y_train.to(device),
        train_view=None if pipeline.stochastic else pipeline.fixed(splits.x_train, "train").to(device),
        x_valid=pipeline.fixed(splits.x_valid, "valid").to(device),
        y_valid=None if splits.y_valid is None else splits.y_valid.to(device),
        pipeline=pipeline,
        labelled_rows=torch.nonzero(known).flatten().to(device) if partly and known is not None else None,
    )
    # Check the data against the likelihood's support once, so that the loop can run unchecked.
    sample = data.train_view if data.train_view is not None else pipeline.fresh(
        data.x_train[:256], torch.Generator(device=device).manual_seed(0))
    for name, view in (("train", sample), ("validation", data.x_valid)):
        check_support(model, view, f"{splits.name} ({name} split)")
    return data


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


class _Grouped(Protocol):
    """A model with its own optimiser parameter groups (see `_parameter_groups`)."""

    def parameter_groups(self) -> list[dict]: ...


class _Initialized(Protocol):
    """A model with a data-dependent initialisation from training rows (the VampPrior's pseudo-inputs)."""

    def initialize(self, x: Tensor) -> None: ...


class _Step:
    """One training step's gradients: sets every parameter's `.grad` for a batch and returns the batch's sums of
    the objective's named per-datapoint terms, [len(names)], detached."""

    names: tuple[str, ...]
    model: nn.Module

    def __call__(self, batch: Batch, progress: float) -> Tensor:
        raise NotImplementedError


class _AutogradStep(_Step):
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


class _DerivedStep(_Step):
    names = ("elbo", "reconstruction", "kl")
    model: VAE

    def __init__(self, model: VAE) -> None:
        self.model = model

    def __call__(self, batch: Batch, progress: float) -> Tensor:
        return step_gradients(self.model, batch.x)


def _parameter_groups(model: nn.Module, lr: float) -> list[dict]:
    """The optimiser's parameter groups: the model's own (`parameter_groups()`, each with an optional `lr_scale`
    multiplying the learning rate), else one group of all its parameters."""
    groups: list[dict] = (cast(_Grouped, model).parameter_groups() if hasattr(model, "parameter_groups") else
                          [{"params": list(model.parameters())}])
    return [{**group, "lr": lr * group.get("lr_scale", 1.0)} for group in groups]


def _choose_step(model: nn.Module, objective: Objective, config: TrainConfig, optimizer: torch.optim.Optimizer,
                 device: torch.device) -> _Step:
    why_not = applies(model, objective, config.precision)
    if config.gradients == "derived" and why_not is not None:
        raise VaekitError(f"--gradients derived does not apply here: {why_not}; use --gradients auto")
    if config.gradients != "autograd" and why_not is None:
        return _DerivedStep(cast(VAE, model))  # `applies` checked that it is one
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    return _AutogradStep(model, objective, optimizer, autocast)


# ------------------------------------------------------------------------------------------ run directory


def _run_config(model: nn.Module, objective: Objective, splits: Splits, config: TrainConfig, data_config: DataConfig,
                pipeline: Pipeline, command: list[str] | None, best_by: str, processes: int) -> dict:
    """config.json of a new run: everything needed to rebuild the model, the objective and the data pipeline."""
    kind = kind_of(model)
    if kind is None:
        raise RunError(f"a run directory records the model's kind, and {type(model).__name__} is not a registered "
                       "model (vaekit.models.MODELS); train it with run_dir=None, or register it")
    return {
        "format": 2,
        "vaekit_version": __version__,
        "torch_version": torch.__version__,
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kind": kind,
        "model": to_dict(model.config),
        "objective": {"name": objective.name, **to_dict(objective.config)},
        "best_by": best_by,
        "data": to_dict(data_config),
        "train": to_dict(config),
        "pipeline": to_dict(pipeline),
        "dataset": {"name": splits.name, "source": splits.source, "levels": splits.levels,
                    "data_shape": list(splits.data_shape), "splits": splits.sizes(), "classes": splits.num_classes,
                    "labelled": splits.labelled},
        "processes": processes,
    }


def _checkpoint_bytes(model: nn.Module, ema: AveragedModel | None) -> int:
    """Free space a checkpoint needs while it is written: the new file beside the old one, and the export."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    checkpoint = weights * (4 + (ema is not None))  # model, Adam's two moments, best (and the moving average)
    return 2 * checkpoint + 2 * weights + (1 << 20)


def _open_run_directory(run_path: Path | None, resume: bool, writes: bool, new_config: Callable[[], dict],
                        config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                        generator: torch.Generator, ema: AveragedModel | None, group: distributed.Group,
                        device: torch.device) -> run_state.Progress:
    """Continue the run in `run_path` (resume) or start it; every process learns whether rank 0 succeeded.

    The writing process holds the run's lock from here until `fit` returns, checks that the
    folder can take a checkpoint, and removes temp files of killed writes. A new run may reuse a folder whose
    run never completed an epoch."""
    failure: VaekitError | None = None
    progress = run_state.Progress()
    written = run_path if writes else None  # the run directory this process writes (writes implies a run_path)
    try:
        if written is not None:
            if not resume and written.is_dir():
                run_state.claim_new_run(written, clean=False)  # a folder of other files gets no lock file either
            make_dir(written)
            _LOCKS.get().enter_context(lock_folder(written, "this run"))
            if not resume:
                run_state.claim_new_run(written)  # before anything in the folder is touched
            check_writable(written, _checkpoint_bytes(model, ema))
        if run_path is not None and resume:
            progress = run_state.load_checkpoint(run_path, model, optimizer, generator, ema)
            if config.epochs < progress.epoch:  # config.json must keep recording the epochs the run has
                raise RunError(f"--epochs {config.epochs}: {run_path} has completed {progress.epoch} epochs already; "
                               f"give --epochs {progress.epoch} or more to continue it (it is unchanged)")
        if written is not None and resume:
            run_state.export(written, progress)  # the exports may lag the checkpoint after a kill
            saved = read_json(written / run_state.CONFIG)
            if saved.get("train") != to_dict(config):  # --epochs or --device changed: record it
                write_json(written / run_state.CONFIG, {**saved, "train": to_dict(config)})
        elif written is not None:
            write_json(written / run_state.CONFIG, new_config())
    except VaekitError as e:  # the other processes must hear of it, or they would wait for rank 0
        failure = e
    if not distributed.all_ok(failure is None, group, device):
        raise failure or RunError(f"{run_path}: the main process (rank 0) could not open this run; see its message")
    return progress


# ------------------------------------------------------------------------------------------------ epochs


def _train_epoch(step: _Step, data: _Data, optimizer: torch.optim.Optimizer, params: list[nn.Parameter],
                 generator: torch.Generator, config: TrainConfig, ema: AveragedModel | None,
                 group: distributed.Group, epoch: int, bar: ProgressBar | None) -> dict[str, float]:
    """One pass over the training split; returns the means of the objective's terms over its rows."""
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


_SUMMARY = ("elbo", "reconstruction", "kl", "active_units")


#: A model without an encoder (`amortised` False: q(z|lambda_i) per row) fits q to each validation row by gradient ascent
#: every epoch; it is validated on this many rows of the validation split (the first ones), not all.
PER_DATAPOINT_VALIDATION_ROWS = 1000


def _latent_view(model: nn.Module, data: _Data, rows: slice = slice(None)) -> object:
    """The model validation scores on rows of the validation split: conditioned on their labels where the model is
    conditional (`vaekit.models.for_batch`), else the model itself."""
    return for_batch(model, Batch(data.x_valid[rows], None if data.y_valid is None else data.y_valid[rows]))


def _validation_names(model: nn.Module, objective: Objective, data: _Data) -> list[str]:
    """The validation figures: the plain ELBO's terms and active units where the model (as validated) is a
    latent-variable model, and the objective's own figure where the loop does not compute it itself."""
    names = list(_SUMMARY) if isinstance(_latent_view(model, data, slice(0, 1)), LatentVariableModel) else []
    return names + ([objective.validation_figure] if objective.validation_figure not in names else [])


def _validate(model: nn.Module, objective: Objective, data: _Data, group: distributed.Group,
              device: torch.device) -> dict[str, float]:
    """Validation figures, means per datapoint (`_validation_names`). Rank 0 computes them; the others take its
    figures, so that every process keeps the same best epoch."""
    names = _validation_names(model, objective, data)
    values = torch.zeros(len(names), dtype=torch.float64, device=device)
    if group.is_main:
        figures = []
        if names[: len(_SUMMARY)] == list(_SUMMARY):  # `_validation_names` found a latent-variable model
            summary = summarize(cast(LatentVariableModel, _latent_view(model, data)), data.x_valid)
            figures = [summary.elbo, summary.reconstruction, summary.kl, summary.active_units]
        if len(names) > len(figures):
            n, total = data.x_valid.shape[0], 0.0
            with torch.no_grad():
                for start in range(0, n, 1024):
                    y = None if data.y_valid is None else data.y_valid[start : start + 1024]
                    batch = Batch(data.x_valid[start : start + 1024], y)
                    total += float(objective.validate(model, batch).double().sum())
            figures.append(total / n)
        values = torch.tensor(figures, dtype=torch.float64, device=device)
    return dict(zip(names, distributed.from_main(values, group).tolist()))


def _record(epoch: int, train: dict[str, float], valid: dict[str, float], scalars: dict[str, float],
            train_seconds: float, epoch_seconds: float, n: int) -> dict:
    """One row of metrics.jsonl: key names carry the units."""
    row: dict = {"epoch": epoch}
    row.update({f"train_{name}_nats": value for name, value in train.items()})
    row.update({f"valid_{name}_nats": value for name, value in valid.items() if name != "active_units"})
    if "active_units" in valid:
        row["valid_active_units"] = int(valid["active_units"])
    row.update(scalars)
    row.update({"train_seconds": train_seconds, "epoch_seconds": epoch_seconds, "images_per_second": n / epoch_seconds})
    return row


#: A training figure that falls this many times its best's magnitude below its best has diverged ...
DIVERGED_FACTOR = 100.0
#: ... and so has one beyond this many nats per data dimension in magnitude (no density of sane data gets there).
DIVERGED_PER_DIMENSION = 1e8
#: Real-valued data with values beyond this magnitude is likely the cause of a divergence: standardize it.
UNSCALED = 100.0


def _diverged(history: list[dict], figure: str, num_dims: int) -> str | None:
    """Why the last epoch of `history` has diverged, or None: a non-finite figure, a training figure of absurd
    magnitude, or one that fell by orders of magnitude below its best (the trajectory, not only NaN)."""
    row = history[-1]
    for key, value in row.items():
        if key.endswith("_nats") and key.startswith(("train_", "valid_")) and not math.isfinite(value):
            return f"{key} is {value}"
    key = f"train_{figure}_nats" if f"train_{figure}_nats" in row else "train_elbo_nats"
    if key not in row:
        return None
    value = row[key]
    if abs(value) > DIVERGED_PER_DIMENSION * num_dims:
        return f"{key} reached {value:.3g} nats per datapoint"
    previous = [r[key] for r in history[:-1] if key in r]
    if previous and value < max(previous) - DIVERGED_FACTOR * max(abs(max(previous)), 1.0):
        return f"{key} fell from {max(previous):.4g} to {value:.4g} nats per datapoint"
    return None


def _unscaled(splits: Splits, pipeline: Pipeline) -> str | None:
    """Why the data may make training diverge (real values far from unit scale, not standardized), or None."""
    if pipeline.levels is not None or pipeline.standardize or splits.x_train.numel() == 0:
        return None
    biggest = float(splits.x_train.abs().max())
    if not biggest > UNSCALED:
        return None
    return (f"the data is not scaled (values up to {biggest:.3g}), which a likelihood over real values cannot fit: "
            "train with --standardize")


def _check_divergence(history: list[dict], figure: str, num_dims: int, config: TrainConfig, hint: str | None,
                      run_path: Path | None) -> None:
    reason = _diverged(history, figure, num_dims)
    if reason is None:
        return
    epoch = len(history)
    cause = hint or f"the learning rate is likely too large: train again with a lower --lr (e.g. {config.lr / 10:g})"
    kept = ""
    if run_path is not None:
        kept = (f"; {run_path} keeps epoch {epoch - 1}" if epoch > 1 else
                f"; {run_path} has no completed epoch, so the same --out can start again")
    raise RunError(f"training diverged at epoch {epoch} ({reason}); {cause}{kept}")


def _keep_best(progress: run_state.Progress, row: dict, best_by: str, model: nn.Module) -> bool:
    """Remember this epoch's weights if its validation figure is the best so far; whether it was."""
    if not row[best_by] > progress.best_valid:
        return False
    progress.best_epoch, progress.best_valid = row["epoch"], row[best_by]
    progress.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return True


def _out_of_time(progress: run_state.Progress, minutes: float, group: distributed.Group, device: torch.device) -> bool:
    """Whether the epochs so far took `minutes` or more, by rank 0's clock (so that every process stops together)."""
    spent = sum(row["epoch_seconds"] for row in progress.history)
    flag = torch.tensor([float(spent >= 60 * minutes)], dtype=torch.float64, device=device)
    return bool(distributed.from_main(flag, group).item())


# ---------------------------------------------------------------------------------------------------- fit

#: The locks `fit` holds (the run directory's) until it returns, however it returns.
_LOCKS: contextvars.ContextVar[contextlib.ExitStack] = contextvars.ContextVar("vaekit_fit_locks")


def _holding_locks(function: Callable) -> Callable:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with contextlib.ExitStack() as stack:
            token = _LOCKS.set(stack)
            try:
                return function(*args, **kwargs)
            finally:
                _LOCKS.reset(token)
    return wrapper


@_holding_locks
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

    `fit` flushes denormal floats to zero in the calling thread and torch's worker threads, for the rest of the
    process (`vaekit.train.denormals`: denormals slow CPU arithmetic).

    In an initialised `torch.distributed` group (`torchrun`, see `vaekit.train.distributed`) every process trains
    on its share of each global batch of `config.batch_size` rows and the gradients are averaged, so a step is the
    single-process step; rank 0 validates, writes the run directory and shows the progress bar.

    Returns:
        `FitResult`; `history` rows hold the objective's terms as `train_<name>_nats`, the validation figures as
        `valid_<name>_nats` (nats per datapoint: the plain ELBO's terms and active units where the model, given the
        validation labels where it is conditional, has latent variables; the objective's own figure), seconds and
        images per second (a model without an encoder is validated on the first `PER_DATAPOINT_VALIDATION_ROWS`
        validation rows: each needs its own fit of q). With `config.ema_decay` the
        validated and returned weights are the moving average of the trained ones.

    Example:
        >>> splits = vaekit.data.load("digits")
        >>> model = VAE(VAEConfig(data_shape=splits.data_shape))
        >>> result = fit(model, splits, TrainConfig(epochs=50), build_objective("iwae", {"iw_samples": 5}))
    """
    # Set up: device, preprocessing, seeds, the data on the device, the optimiser and the gradient step.
    objective = objective if objective is not None else ELBO(ELBO.Config())
    objective.check(model)
    best_by = f"valid_{objective.validation_figure}_nats"
    group = distributed.current()
    device = _device_for(config, group)
    pipeline = pipeline_for(model, splits, config)
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    model.to(device)
    data = _prepare_data(model, _labelled_only(splits, objective.needs_labels(model)), pipeline, device)
    if not amortised(model):  # q(z|lambda) fitted to each validation row: validate on the first ones
        data = dataclasses.replace(data, x_valid=data.x_valid[:PER_DATAPOINT_VALIDATION_ROWS],
                                   y_valid=None if data.y_valid is None else data.y_valid[:PER_DATAPOINT_VALIDATION_ROWS])
    objective.prepare(data.y_train)
    run_path = Path(run_dir) if run_dir is not None else None
    if resume and run_path is not None and run_state.completed_epochs(run_path) == 0:
        resume = False  # nothing was completed: start afresh (the caller seeded the model's initialisation)
    if not resume and hasattr(model, "initialize"):  # data-dependent initialisation (the VampPrior's pseudo-inputs)
        view = data.train_view if data.train_view is not None else pipeline.fixed(splits.x_train, "train").to(device)
        cast(_Initialized, model).initialize(view)
    distributed.broadcast_parameters(model, group)
    # Fused Adam runs the whole update as one kernel per parameter group (CPU and CUDA since torch 2.4).
    optimizer = torch.optim.Adam(_parameter_groups(model, config.lr), lr=config.lr,
                                 weight_decay=config.weight_decay, fused=True)
    step = _choose_step(model, objective, config, optimizer, device)
    params = [p for p in model.parameters() if p.requires_grad]
    # The moving average of the weights, where asked for: it is what validation sees and what is saved.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay)) if config.ema_decay else None
    evaluated = ema.module if ema is not None else model

    # The run directory: a new one, or the state of the run to continue; locked until `fit` returns.
    writes = run_path is not None and group.is_main  # one process writes the run directory
    progress_state = _open_run_directory(
        run_path, resume, writes,
        lambda: _run_config(model, objective, splits, config, data_config or DataConfig(data=splits.name), pipeline,
                            command, best_by, group.world),
        config, model, optimizer, generator, ema, group, device)
    hint = _unscaled(splits, pipeline)
    if group.rank > 0:  # every other process draws its own z (rank 0 keeps the single-process stream)
        torch.manual_seed(config.seed + 7919 * group.rank + progress_state.epoch)
    loggers = list(loggers) if group.is_main else []  # rank 0 logs for every process
    for logger in loggers:
        logger.on_start(run_state.read_json(run_path / run_state.CONFIG) if run_path is not None else
                        {"train": to_dict(config), "objective": {"name": objective.name, **to_dict(objective.config)}})

    # Epochs: train, validate, record, keep the best, checkpoint.
    start = progress_state.epoch + 1
    steps = math.ceil(data.n / config.batch_size)
    flush_denormals()  # in every worker thread: denormal floats in late training slow CPU arithmetic several-fold
    with unchecked(), progress_bar(progress and group.is_main and start <= config.epochs, config.epochs, steps) as bar:
        for epoch in range(start, config.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            train = _train_epoch(step, data, optimizer, params, generator, config, ema, group, epoch, bar)
            train_seconds = time.perf_counter() - t0
            evaluated.eval()
            valid = _validate(evaluated, objective, data, group, device)
            row = _record(epoch, train, valid, objective.scalars(epoch), train_seconds, time.perf_counter() - t0,
                          data.n)
            progress_state.history.append(row)
            _check_divergence(progress_state.history, objective.validation_figure, math.prod(splits.data_shape),
                              config, hint, run_path)
            best_changed = _keep_best(progress_state, row, best_by, evaluated)
            if writes and run_path is not None:  # (writes implies a run_path)
                run_state.save_checkpoint(run_path, model, optimizer, generator, progress_state,
                                          best_changed=best_changed, ema=ema)
            for logger in loggers:
                logger.on_epoch(row, evaluated)
            if bar is not None:
                bar.epoch_done(epoch, best_by, row)
            if config.patience is not None and epoch - progress_state.best_epoch >= config.patience:
                break  # early stopping: no better validation figure for `patience` epochs
            if config.max_minutes is not None and _out_of_time(progress_state, config.max_minutes, group, device):
                break  # the wall-clock budget is spent
    if progress_state.best_weights is not None:
        model.load_state_dict(progress_state.best_weights)
    for logger in loggers:
        logger.on_end(run_path)
    return FitResult(history=progress_state.history, best_epoch=progress_state.best_epoch,
                     best_valid=progress_state.best_valid, best_by=best_by, pipeline=pipeline, run_dir=run_path)
