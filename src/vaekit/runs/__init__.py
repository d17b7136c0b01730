"""Open a saved run directory: its configs (validated as untrusted input), the model of its recorded kind with
the best weights, and the data pipeline it was trained with.

Run directories written by vaekit 0.1 (no "kind", the ELBO's settings under "train") still open: `_upgrade`
reads them as the "vae" kind trained with the ELBO.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vaekit import data as vdata
from vaekit.config import Source, validate
from vaekit.data.config import DataConfig
from vaekit.data.pipeline import Pipeline
from vaekit.errors import RunError
from vaekit.models import MODELS, config_class
from vaekit.objectives import OBJECTIVES, Objective, build_objective
from vaekit.serialized import check_tensors, read_json
from vaekit.train.config import TrainConfig
from vaekit.train.footprint import check_model
from vaekit.train.state import CONFIG, WEIGHTS, best_weights

#: The config.json format this version writes.
FORMAT = 2


@dataclass
class Run:
    """A trained run, rebuilt from its directory."""

    path: Path
    config: dict               # config.json as read (upgraded to the current format)
    kind: str                  # the registered model kind ("vae", "hvae", ...)
    model_config: Any          # that kind's config dataclass
    data_config: DataConfig
    train_config: TrainConfig
    objective: Objective       # the training objective, rebuilt from its settings
    pipeline: Pipeline
    model: nn.Module           # best weights (model.safetensors), in eval mode, on the CPU

    @property
    def best_by(self) -> str:
        """The validation figure that picked the saved weights (a key of metrics.jsonl)."""
        return self.config.get("best_by", "valid_elbo_nats")

    def load_splits(self) -> vdata.Splits:
        """Load the run's dataset with the split (and the training labels) it was trained on."""
        splits = vdata.load_data(self.data_config)
        if tuple(splits.data_shape) != tuple(self.model_config.data_shape):
            raise RunError(
                f"{self.path / CONFIG}: the run was trained on data of shape {self.model_config.data_shape}, "
                f"but {self.data_config.data} now has shape {tuple(splits.data_shape)}; pass the original data"
            )
        return splits


def _upgrade(config: dict) -> dict:
    """config.json of an earlier format, in the current one (the file itself is left as it is)."""
    if config.get("format", 1) >= FORMAT:
        return config
    if not isinstance(config.get("train"), dict):
        return {**config, "format": FORMAT, "kind": "vae", "objective": {"name": "elbo"}}  # _section refuses it
    train = dict(config["train"])
    objective = {"name": "elbo"}
    for key in ("num_samples", "analytic_kl"):  # vaekit 0.1 kept the ELBO's settings with the training ones
        if key in train:
            objective[key] = train.pop(key)
    return {**config, "format": FORMAT, "kind": "vae", "train": train, "objective": objective,
            "best_by": "valid_elbo_nats"}


def _section(config: dict, name: str, path: Path) -> Any:
    values = config.get(name)
    if not isinstance(values, dict):
        raise RunError(f"{path}: section {name!r} is missing or not an object; restore the file or train again")
    return values


def read_config(path: Path) -> tuple[dict, str, Any, DataConfig, TrainConfig, Objective, Pipeline]:
    """Read and validate config.json: (config, kind, model config, data config, train config, objective,
    pipeline); every problem is a one-line error naming the file and the field."""
    config = read_json(path)
    if not isinstance(config, dict):
        raise RunError(f"{path}: not a vaekit run config (expected a JSON object)")
    version = config.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise RunError(f"{path}: format {version!r} is not a config format of this vaekit (1 to {FORMAT}); the file was "
                       "edited or made by a newer version")
    config = _upgrade(config)
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in MODELS:
        raise RunError(f"{path}: kind {kind!r} is not a model kind of this vaekit ({', '.join(MODELS.names())}); "
                       "the file was edited or made by another version")
    model_config = validate(config_class(kind), _section(config, "model", path), Source.file(path, "model"))
    data_config = validate(DataConfig, _section(config, "data", path), Source.file(path, "data"))
    train_config = validate(TrainConfig, _section(config, "train", path), Source.file(path, "train"))
    pipeline = validate(Pipeline, _section(config, "pipeline", path), Source.file(path, "pipeline"))
    settings = dict(_section(config, "objective", path))
    name = settings.pop("name", None)
    if not isinstance(name, str) or name not in OBJECTIVES:
        raise RunError(f"{path}: objective.name {name!r} is not one of {', '.join(OBJECTIVES.names())}; restore "
                       "the file or train again")
    objective = build_objective(name, settings, Source.file(path, "objective"))
    return config, kind, model_config, data_config, train_config, objective, pipeline


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
    config, kind, model_config, data_config, train_config, objective, pipeline = read_config(config_path)
    check_model(kind, model_config, f"{config_path}: the model", RunError)  # before its weights are allocated
    tensors, source = best_weights(path, weights)
    model = MODELS[kind](model_config)
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
    return Run(path, config, kind, model_config, data_config, train_config, objective, pipeline, model)


__all__ = ["FORMAT", "Run", "open_run", "read_config"]
