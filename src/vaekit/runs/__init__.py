"""Open a saved run directory: its configs (validated as untrusted input), the model of its recorded kind with
the best weights, and the data pipeline it was trained with.

What a run is (`RunSpec`) and how config.json is read (`read_config`, `upgrade`: runs written by vaekit 0.1, with
no "kind" and the ELBO's settings under "train", open as the "vae" kind trained with the ELBO) are
`vaekit.runs.spec`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vaekit import data as vdata
from vaekit.data.config import DataConfig
from vaekit.data.pipeline import Pipeline
from vaekit.errors import RunError
from vaekit.objectives import Objective
from vaekit.runs.spec import FORMAT, RunSpec, read_config, upgrade
from vaekit.serialized import check_tensors
from vaekit.train.config import TrainConfig
from vaekit.train.footprint import check_model
from vaekit.train.state import CONFIG, WEIGHTS, best_weights


@dataclass
class Run:
    """A trained run, rebuilt from its directory."""

    path: Path
    config: dict               # config.json as read (upgraded to the current format)
    spec: RunSpec              # kind, model config, objective, data and training configs
    pipeline: Pipeline
    model: nn.Module           # best weights (model.safetensors), in eval mode, on the CPU

    @property
    def kind(self) -> str:
        """The registered model kind ("vae", "hvae", ...)."""
        return self.spec.kind

    @property
    def model_config(self) -> Any:
        return self.spec.model_config

    @property
    def data_config(self) -> DataConfig:
        return self.spec.data_config

    @property
    def train_config(self) -> TrainConfig:
        return self.spec.train_config

    @property
    def objective(self) -> Objective:
        """The training objective, rebuilt from its settings."""
        return self.spec.objective

    @property
    def best_by(self) -> str:
        """The validation figure that picked the saved weights (a key of metrics.jsonl)."""
        return self.config.get("best_by", "valid_elbo_nats")

    def load_splits(self) -> vdata.Splits:
        """Load the run's dataset with the split (and the training labels) it was trained on."""
        return self.spec.load_splits(self.path / CONFIG)


def open_run(path: str | Path, *, weights: str = WEIGHTS) -> Run:
    """Rebuild a run from `path`: configs from config.json, weights from model.safetensors (or, where a kill left
    that export behind the checkpoint, the checkpoint's best weights).

    Raises `RunError` (one line, naming the file and the field or tensor) when the directory is not a run, when the
    model its config describes cannot fit in memory, or when the weights do not match it (names, shapes, dtypes,
    NaN or infinite values).
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; train one with `vaekit train --out {path}`")
    config_path = path / CONFIG
    config, spec, pipeline = read_config(config_path)
    check_model(spec.kind, spec.model_config, f"{config_path}: the model", RunError)  # before its weights exist
    tensors, source = best_weights(path, weights)
    model = spec.build_model()
    check_tensors(source, tensors, model.state_dict(),
                  fix=f"it does not match {config_path}: the run was edited or mixed with another; train it again")
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        detail = str(e).strip().splitlines()
        raise RunError(
            f"{source}: does not match {config_path} ({detail[-1].strip() if detail else 'shape mismatch'}); "
            "the run was edited or mixed with another; train it again"
        ) from None
    model.eval()
    return Run(path, config, spec, pipeline, model)


__all__ = ["FORMAT", "Run", "RunSpec", "open_run", "read_config", "upgrade"]
