"""The files of a run directory and the resumable training state: weights, optimiser, RNGs and history.

A run directory holds:
    config.json          the model, objective, data and training configs, versions, the command line
    model.safetensors    the weights with the best validation figure
    state.safetensors    current weights, optimiser tensors and RNG states (tensors only: never a pickle)
    state.json           epoch, best epoch and figure, optimiser hyperparameters, the metrics history
    metrics.jsonl        one JSON object per epoch (key names carry the units)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from vaekit.errors import RunError
from vaekit.files import atomic_write, load_tensors, read_json, save_tensors, write_json

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
STATE = "state.safetensors"
STATE_JSON = "state.json"
METRICS = "metrics.jsonl"


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


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
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


def new_run_dir(path: str | Path) -> Path:
    """Create a run directory, refusing to reuse one that already holds files."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RunError(
            f"{path}: already exists and is not empty; pass --resume to continue that run, or choose another --out"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{path}: cannot create the run directory ({e.strerror}); choose another --out") from None
    return path


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    progress: Progress, *, best_changed: bool, ema: nn.Module | None = None) -> None:
    """Write the state after an epoch: the best weights (when they changed), the resumable state, the metrics.

    `ema` is the moving average of the weights (`torch.optim.swa_utils.AveragedModel`), where training keeps one.
    """
    if best_changed and progress.best_weights is not None:
        save_tensors(run_dir / WEIGHTS, progress.best_weights)
    optim_tensors, optim_meta = optimizer_to_tensors(optimizer)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(optim_tensors)
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.data"] = generator.get_state()
    if generator.device.type == "cuda":  # z ~ q(z|x) is drawn on the GPU there
        tensors["rng.cuda"] = torch.cuda.get_rng_state(generator.device)
    save_tensors(run_dir / STATE, tensors)
    write_json(run_dir / STATE_JSON, {
        "epoch": progress.epoch, "best_epoch": progress.best_epoch, "best_valid": progress.best_valid,
        "optimizer": optim_meta, "history": progress.history,
    })
    write_metrics(run_dir / METRICS, progress.history)


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, ema: nn.Module | None = None) -> Progress:
    """Load the state of an interrupted run into model, optimizer, RNGs (and the moving average of the weights,
    where training keeps one); return where training stands."""
    meta = read_json(run_dir / STATE_JSON)
    tensors = load_tensors(run_dir / STATE)
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer.load_state_dict(optimizer_from_tensors(tensors, meta["optimizer"]))
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.data"])
        if "rng.cuda" in tensors and generator.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], generator.device)
        best_valid = meta["best_valid"] if "best_valid" in meta else meta["best_valid_elbo"]  # runs of vaekit 0.1
        progress = Progress(meta["history"], meta["best_epoch"], best_valid)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"{run_dir / STATE}: does not match {run_dir / CONFIG} ({first}); train the run again") from None
    progress.best_weights = load_tensors(run_dir / WEIGHTS)
    return progress
