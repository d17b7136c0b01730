"""Run directories: config.json, model.safetensors, resumable training state and metrics, written atomically.

A run directory holds:
    config.json          the model, data and training configs, the vaekit and torch versions, the command line
    model.safetensors    the weights with the best validation ELBO
    state.safetensors    current weights, optimiser tensors and RNG states (tensors only: never a pickle)
    state.json           epoch, best epoch and figure, optimiser hyperparameters, the metrics history
    metrics.jsonl        one JSON object per epoch (key names carry the units)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from vaekit.errors import RunError
from vaekit.files import atomic_write

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
STATE = "state.safetensors"
STATE_JSON = "state.json"
METRICS = "metrics.jsonl"


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, turning a missing or malformed file into a `RunError` that names it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: not found; is this a vaekit run directory (made by `vaekit train`)?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e}); restore the file or train the run again") from None


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save named tensors as safetensors, atomically."""
    atomic_write(path, save_safetensors_bytes({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file (no code is ever executed), naming the file in any error."""
    path = Path(path)
    try:
        return load_safetensors_bytes(path.read_bytes())
    except FileNotFoundError:
        raise RunError(f"{path}: not found; the run is incomplete (was training interrupted before epoch 1 ended?)") from None
    except (OSError, SafetensorError, ValueError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({e}); train the run again") from None


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
