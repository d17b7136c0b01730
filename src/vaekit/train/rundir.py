"""The run directory `fit` writes: its config.json, opening it (new or resumed) under its lock, and the lock held
until `fit` returns however it returns. The files themselves, and the checkpoint, are `vaekit.train.state`'s.

One process writes a run directory (rank 0 under torchrun); it holds RUN/.lock (flock, released with the process
if it dies), checks that the folder can take a checkpoint, and removes the temp files of killed writes. A new run
may reuse a folder whose run never completed an epoch; one with a completed epoch is continued only on resume.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from vaekit.config import to_dict
from vaekit.data.config import DataConfig
from vaekit.data.pipeline import Pipeline
from vaekit.data.splits import Splits
from vaekit.errors import RunError, VaekitError
from vaekit.files import check_writable, lock_folder, make_dir
from vaekit.models import kind_of
from vaekit.objectives import Objective
from vaekit.serialized import read_json, write_json
from vaekit.train import distributed
from vaekit.train import state as run_state
from vaekit.train.config import TrainConfig
from vaekit.version import __version__

#: The config.json format this version writes (`vaekit.runs` reads every earlier one).
FORMAT = 2

#: The locks `fit` holds (the run directory's) until it returns, however it returns.
_LOCKS: contextvars.ContextVar[contextlib.ExitStack] = contextvars.ContextVar("vaekit_fit_locks")

F = TypeVar("F", bound=Callable[..., Any])


def holding_locks(function: F) -> F:
    """Decorate `fit`: the run directory's lock, taken by `open_run_directory`, is released when it returns."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with contextlib.ExitStack() as stack:
            token = _LOCKS.set(stack)
            try:
                return function(*args, **kwargs)
            finally:
                _LOCKS.reset(token)

    return cast(F, wrapper)


def run_config(model: nn.Module, objective: Objective, splits: Splits, config: TrainConfig, data_config: DataConfig,
               pipeline: Pipeline, command: list[str] | None, best_by: str, processes: int) -> dict:
    """config.json of a new run: everything needed to rebuild the model, the objective and the data pipeline."""
    kind = kind_of(model)
    if kind is None:
        raise RunError(f"a run directory records the model's kind, and {type(model).__name__} is not a registered "
                       "model (vaekit.models.MODELS); train it with run_dir=None, or register it")
    return {
        "format": FORMAT,
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


def checkpoint_bytes(model: nn.Module, ema: AveragedModel | None) -> int:
    """Free space a checkpoint needs while it is written: the new file beside the old one, and the export."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    checkpoint = weights * (4 + (ema is not None))  # model, Adam's two moments, best (and the moving average)
    return 2 * checkpoint + 2 * weights + (1 << 20)


def open_run_directory(run_path: Path | None, resume: bool, writes: bool, new_config: Callable[[], dict],
                       config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                       generator: torch.Generator, ema: AveragedModel | None, group: distributed.Group,
                       device: torch.device) -> run_state.Progress:
    """Continue the run in `run_path` (resume) or start it; every process learns whether rank 0 succeeded.

    The writing process (`writes`) holds the run's lock from here until `fit` returns (`holding_locks`), checks
    that the folder can take a checkpoint, and removes temp files of killed writes. `new_config` makes config.json
    of a new run; a resumed run's records a changed "train" section (--epochs, --device)."""
    failure: VaekitError | None = None
    progress = run_state.Progress()
    written = run_path if writes else None  # the run directory this process writes (writes implies a run_path)
    try:
        if written is not None:
            _claim(written, resume, checkpoint_bytes(model, ema))
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


def _claim(folder: Path, resume: bool, needed: int) -> None:
    """Create and lock `folder` for this process until `fit` returns; for a new run, refuse a folder holding a run
    with a completed epoch or other files; check that `needed` bytes can be written there."""
    if not resume and folder.is_dir():
        run_state.claim_new_run(folder, clean=False)  # a folder of other files gets no lock file either
    make_dir(folder)
    _LOCKS.get().enter_context(lock_folder(folder, "this run"))
    if not resume:
        run_state.claim_new_run(folder)  # before anything in the folder is touched
    check_writable(folder, needed)


__all__ = ["FORMAT", "checkpoint_bytes", "holding_locks", "open_run_directory", "run_config"]
