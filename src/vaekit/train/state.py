"""The files of a run directory and the resumable training state: one checkpoint, committed atomically.

A run directory holds:
    config.json              the model, objective, data and training configs, versions, the command line
    checkpoint.safetensors   THE checkpoint: current weights (model.*), optimiser tensors (optim.*), the moving
                             average of the weights (ema.*), RNG states (rng.*), the best weights (best.*), and
                             in its header the epoch, best epoch and figure, optimiser hyperparameters and the
                             history (tensors and JSON only: never a pickle)
    model.safetensors        export: the best weights (= best.* of the checkpoint)
    metrics.jsonl            export: one JSON object per epoch (key names carry the units)
    .lock                    held (flock) by the one process that writes the run

A checkpoint is one file renamed into place (`vaekit.files.atomic_write`), so a kill at any instant leaves the
previous checkpoint or the next one, never a mix (as Orbax commits a checkpoint by one rename). The exports are
written after the commit and derived from it: a kill between the two leaves them one epoch behind, and resuming
writes them again (`export`); `best_weights` notices a lagging model.safetensors by its epoch stamp.

Runs written before this format (state.safetensors + state.json, vaekit 0.1 and later) are read when no
checkpoint.safetensors is there, and their state files are removed once the first new checkpoint is committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from vaekit.config import Source, check, option, validate
from vaekit.errors import FileError, RunError
from vaekit.files import LOCK, atomic_write, is_temp_name, open_regular, remove, remove_stale_temps
from vaekit.serialized import (
    check_tensors,
    load_tensors,
    read_json,
    read_tensors,
    save_tensors,
    tensors_metadata,
    tensors_to_bytes,
)

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
LEGACY_STATE = "state.safetensors"   # before checkpoint.safetensors: tensors ...
LEGACY_STATE_JSON = "state.json"     # ... and the JSON half, renamed one after the other
#: What the header of checkpoint.safetensors says it is.
CHECKPOINT_FORMAT = "vaekit-checkpoint-1"
#: Files a run directory with no completed epoch may hold (besides temp files of killed writes).
_UNSTARTED = {CONFIG, LOCK}


@dataclass
class Progress:
    """Where training stands: the history so far and the best epoch by the declared validation figure."""

    history: list[dict] = field(default_factory=list)   # one row per completed epoch, as in metrics.jsonl
    best_epoch: int = 0
    best_valid: float = -float("inf")                   # the best validation figure, nats per datapoint
    best_weights: dict[str, torch.Tensor] | None = None

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.history)


@dataclass
class CheckpointState:
    """The JSON half of a checkpoint (its header; state.json in older runs), validated as untrusted input."""

    epoch: int = option(help="epochs completed", minimum=1)
    best_epoch: int = option(help="the epoch of the best weights", minimum=1)
    best_valid: float = option(help="the best validation figure, nats per datapoint")
    optimizer: Mapping = option(help="optimiser hyperparameters and non-tensor state")
    history: Sequence = option(help="one metrics row per completed epoch")

    def __post_init__(self) -> None:
        check(self)
        if len(self.history) != self.epoch:
            raise ValueError(f"history holds {len(self.history)} epochs but epoch is {self.epoch}")
        for i, row in enumerate(self.history):
            if not isinstance(row, dict) or row.get("epoch") != i + 1:
                raise ValueError(f"history row {i + 1} is not the metrics of epoch {i + 1}")
        if self.best_epoch > self.epoch:
            raise ValueError(f"best_epoch {self.best_epoch} is after the last epoch, {self.epoch}")
        if not isinstance(self.optimizer.get("param_groups"), list) or not isinstance(self.optimizer.get("scalars"),
                                                                                      dict):
            raise ValueError("optimizer needs param_groups (a list) and scalars (an object)")  # noqa: TRY004 - the schema's error


def write_metrics(path: str | Path, history: list[dict]) -> None:
    """Rewrite metrics.jsonl from the whole history (atomically; histories are short)."""
    atomic_write(path, "".join(json.dumps(row) + "\n" for row in history).encode())


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser's state_dict into tensors (for safetensors) and plain JSON (everything else)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: Mapping[str, Any]) -> dict:
    """Rebuild an optimiser state_dict from `optimizer_to_tensors`' two halves."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


# ------------------------------------------------------------------------------------------ the run directory


def completed_epochs(run_dir: str | Path) -> int:
    """Epochs the run in `run_dir` has checkpointed (0 when it has none: it can be started afresh)."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT).exists():
        return int(_checkpoint_header(run_dir / CHECKPOINT).get("epoch", 0))
    if (run_dir / LEGACY_STATE).exists() or (run_dir / LEGACY_STATE_JSON).exists():
        meta = read_json(run_dir / LEGACY_STATE_JSON)
        return int(meta.get("epoch", 0)) if isinstance(meta, dict) else 0
    return 0


def claim_new_run(path: Path, *, clean: bool = True) -> None:
    """Make `path` (created, and locked by the caller) ready for a new run: refuse a run with a completed epoch or
    a folder holding other files (touching nothing); remove the temp files of killed writes that a run which never
    completed an epoch left, so that the same command starts it again (its config.json is then replaced)."""
    names = sorted(p.name for p in path.iterdir() if not is_temp_name(p.name))
    if CHECKPOINT in names or LEGACY_STATE in names or LEGACY_STATE_JSON in names:
        epochs = completed_epochs(path)
        raise RunError(f"{path}: already holds a run with {epochs} completed epoch{'s' * (epochs != 1)}; pass "
                       "--resume to continue it, or choose another --out")
    foreign = [n for n in names if n not in _UNSTARTED]
    if foreign or (CONFIG in names and not _is_run_config(path / CONFIG)):
        shown = ", ".join(foreign[:3] or [CONFIG]) + (", ..." if len(foreign) > 3 else "")
        raise RunError(f"{path}: already exists and holds other files ({shown}); choose another --out (an existing "
                       "run directory is never overwritten)")
    if clean:
        remove_stale_temps(path)


def _is_run_config(path: Path) -> bool:
    try:
        config = read_json(path)
    except RunError:
        return False
    return isinstance(config, dict) and "vaekit_version" in config and "kind" in config


# -------------------------------------------------------------------------------------------- checkpoints


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    progress: Progress, *, best_changed: bool, ema: nn.Module | None = None) -> None:
    """Commit the state after an epoch as one file, then write the exports derived from it.

    `ema` is the moving average of the weights (`torch.optim.swa_utils.AveragedModel`), where training keeps one.
    A `FileError` says which epoch the run keeps.
    """
    optim_tensors, optim_meta = optimizer_to_tensors(optimizer)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(optim_tensors)
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    if progress.best_weights is not None:
        tensors.update({f"best.{k}": v for k, v in progress.best_weights.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.data"] = generator.get_state()
    if generator.device.type == "cuda":  # z ~ q(z|x) is drawn on the GPU there
        tensors["rng.cuda"] = torch.cuda.get_rng_state(generator.device)
    state = {"epoch": progress.epoch, "best_epoch": progress.best_epoch, "best_valid": progress.best_valid,
             "optimizer": optim_meta, "history": progress.history}
    metadata = {"format": CHECKPOINT_FORMAT, "epoch": str(progress.epoch), "best_epoch": str(progress.best_epoch),
                "state": json.dumps(state)}
    try:
        atomic_write(run_dir / CHECKPOINT, tensors_to_bytes(tensors, metadata))  # the commit
    except FileError as e:
        raise _kept(e, run_dir, progress.epoch - 1) from None
    try:
        export(run_dir, progress, weights=best_changed)
        for legacy in (LEGACY_STATE, LEGACY_STATE_JSON):  # superseded by the checkpoint just committed
            if (run_dir / legacy).exists():
                remove(run_dir / legacy)
    except FileError as e:
        raise _kept(e, run_dir, progress.epoch) from None


def _kept(e: FileError, run_dir: Path, epoch: int) -> FileError:
    if epoch < 1:
        return FileError(f"{e}; {run_dir} has no completed epoch: the same command starts it again")
    return FileError(f"{e}; {run_dir} keeps epoch {epoch}: `vaekit train --out {run_dir} --resume` continues it")


def export(run_dir: Path, progress: Progress, *, weights: bool = True) -> None:
    """Write the files derived from the checkpoint: model.safetensors (the best weights, stamped with their epoch)
    and metrics.jsonl."""
    if weights and progress.best_weights is not None:
        save_tensors(run_dir / WEIGHTS, progress.best_weights, {"best_epoch": str(progress.best_epoch)})
    write_metrics(run_dir / METRICS, progress.history)


def _checkpoint_header(path: Path) -> dict[str, str]:
    """The metadata of checkpoint.safetensors, reading its header only."""
    with open_regular(path, RunError) as (f, size):
        head = f.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else size
        if length > size - 8 or length > 1 << 30:
            raise RunError(f"{path}: not a readable safetensors file (its header claims {length} bytes); train the "
                           "run again")
        return tensors_metadata(head + f.read(length), path)


def best_weights(run_dir: Path, weights: str = WEIGHTS) -> tuple[dict[str, torch.Tensor], Path]:
    """The best weights and the file they came from: model.safetensors, or the checkpoint's best.* when the export
    lags behind the checkpoint (a kill between the commit and the export) or cannot be read (truncated, damaged):
    the export is derived from the checkpoint, which a resume writes it from again."""
    exported = run_dir / weights
    checkpoint = run_dir / CHECKPOINT
    if weights == WEIGHTS and checkpoint.exists():
        best_epoch = _checkpoint_header(checkpoint).get("best_epoch")
        try:
            if exported.exists() and _checkpoint_header(exported).get("best_epoch") == best_epoch:
                return load_tensors(exported), exported
        except RunError:
            pass  # a damaged export: the checkpoint holds the same weights
        tensors = load_tensors(checkpoint)
        return {k.removeprefix("best."): v for k, v in tensors.items() if k.startswith("best.")}, checkpoint
    return load_tensors(exported), exported


def _read_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], Any, Path, Path]:
    """(tensors, the JSON half, where each came from) of the checkpoint, or of an older run's state files."""
    path = run_dir / CHECKPOINT
    if path.exists():
        tensors, metadata = read_tensors(path)
        if metadata.get("format") != CHECKPOINT_FORMAT or "state" not in metadata:
            raise RunError(f"{path}: not a vaekit checkpoint (its header has no {CHECKPOINT_FORMAT} state); train "
                           "the run again")
        try:
            meta = json.loads(metadata["state"])
        except json.JSONDecodeError as e:
            raise RunError(f"{path}: the state in its header is not valid JSON ({e}); train the run again") from None
        return tensors, meta, path, path
    meta = read_json(run_dir / LEGACY_STATE_JSON)
    if isinstance(meta, dict) and "best_valid" not in meta and "best_valid_elbo" in meta:  # runs of vaekit 0.1
        meta = dict(meta)
        meta["best_valid"] = meta.pop("best_valid_elbo")
    tensors = load_tensors(run_dir / LEGACY_STATE)
    best, _ = best_weights(run_dir)
    tensors.update({f"best.{k}": v for k, v in best.items()})
    return tensors, meta, run_dir / LEGACY_STATE, run_dir / LEGACY_STATE_JSON


def _reference(model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
               ema: nn.Module | None, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint of this model and optimiser must hold (names, shapes, dtypes)."""
    weights = model.state_dict()
    reference = {f"model.{k}": v for k, v in weights.items()} | {f"best.{k}": v for k, v in weights.items()}
    if ema is not None:
        reference |= {f"ema.{k}": v for k, v in ema.state_dict().items()}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, p in enumerate(params):
        if p.requires_grad:
            scalar = torch.zeros((), dtype=torch.float32)
            reference |= {f"optim.{i}.exp_avg": p, f"optim.{i}.exp_avg_sq": p, f"optim.{i}.step": scalar}
    reference |= {"rng.torch": torch.get_rng_state(), "rng.data": generator.get_state()}
    if "rng.cuda" in tensors and generator.device.type == "cuda":
        reference["rng.cuda"] = torch.cuda.get_rng_state(generator.device)
    return reference


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, ema: nn.Module | None = None) -> Progress:
    """Load the state of an interrupted run into model, optimizer, RNGs (and the moving average of the weights,
    where training keeps one); return where training stands. Every tensor and field is checked first: one line
    naming the file and the field or tensor otherwise."""
    tensors, meta, tensor_path, meta_path = _read_state(run_dir)
    if isinstance(meta, dict) and "epoch" in meta and meta.get("epoch") == 0:
        raise RunError(f"{meta_path}: records no completed epoch; train the run again")
    state = validate(CheckpointState, meta, Source.file(meta_path, None))
    if generator.device.type != "cuda":
        tensors.pop("rng.cuda", None)  # resumed on the CPU (--device may change): the GPU's stream is not used
    check_tensors(tensor_path, tensors, _reference(model, optimizer, generator, ema, tensors),
                  fix=f"it does not match {run_dir / CONFIG}; train the run again")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer.load_state_dict(optimizer_from_tensors(tensors, state.optimizer))
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.data"])
        if "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], generator.device)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{tensor_path}: does not match {run_dir / CONFIG} ({first}); train the run again") from None
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    history = cast("list[dict]", state.history)  # a JSON array, each row checked to be an object
    return Progress(history, state.best_epoch, state.best_valid, best)
