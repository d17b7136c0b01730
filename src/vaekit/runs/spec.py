"""What a run is, in one object (`RunSpec`: the model's kind and config, the objective, the data and how to
train), and config.json, the file that holds it: read through the schema as untrusted input (`read_config`), runs
written by earlier versions upgraded on the way (`upgrade`).

`vaekit train` resolves one `RunSpec` from the command line, an experiment file or a saved run, and trains it;
`open_run` rebuilds a trained run from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from vaekit import data as vdata
from vaekit.config import Source, validate
from vaekit.data.config import DataConfig
from vaekit.data.pipeline import Pipeline
from vaekit.errors import RunError, VaekitError, shown
from vaekit.files import CONFIG_LIMIT
from vaekit.models import MODELS, config_class
from vaekit.objectives import OBJECTIVES, Objective, build_objective
from vaekit.serialized import read_json
from vaekit.train.config import TrainConfig
from vaekit.train.rundir import FORMAT


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to build a run's model and train it: config.json's "kind", "model", "objective", "data"
    and "train" sections, as validated configs."""

    kind: str                  # the registered model kind ("vae", "hvae", ...)
    model_config: Any          # that kind's config dataclass
    objective: Objective       # the training objective, built from its settings
    data_config: DataConfig
    train_config: TrainConfig

    def settings(self) -> dict[str, object]:
        """Every field of the run's configs by name, and `model` (the kind) and `objective` (its name): the names
        the command line's options have."""
        values: dict[str, object] = {"model": self.kind, "objective": self.objective.name}
        for config in (self.data_config, self.model_config, self.objective.config, self.train_config):
            values.update(dataclasses.asdict(config))
        return values

    def with_training(self, **changes: Any) -> RunSpec:
        """The same run with some training settings changed (those a resumed run may change: epochs, device)."""
        return dataclasses.replace(self, train_config=dataclasses.replace(self.train_config, **changes))

    def build_model(self) -> nn.Module:
        """A new model of this kind and config (initialised from torch's random state); `VaekitError` for a config
        that makes no model."""
        try:
            return MODELS[self.kind](self.model_config)
        except ValueError as e:
            raise VaekitError(f"invalid model: {e}") from None

    def load_splits(self, config_path: Path) -> vdata.Splits:
        """The run's dataset with the split (and the training labels) it is trained on; `RunError` naming
        `config_path` where the data no longer has the shape the model was built for."""
        splits = vdata.load_data(self.data_config)
        if tuple(splits.data_shape) != tuple(self.model_config.data_shape):
            raise RunError(f"{config_path}: the run was trained on data of shape {self.model_config.data_shape}, but "
                           f"{self.data_config.data} now has shape {tuple(splits.data_shape)}; pass the original data")
        return splits


def upgrade(config: dict) -> dict:
    """config.json of an earlier format, in the current one (the file itself is left as it is): vaekit 0.1 runs
    have no "kind" and kept the ELBO's settings under "train"."""
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
        raise RunError(f"{path}: section {shown(name)} is missing or not an object; restore the file or train again")
    return values


def read_config(path: Path) -> tuple[dict, RunSpec, Pipeline]:
    """Read and validate config.json: (the file as read, upgraded to the current format; the run's `RunSpec`; the
    data pipeline it was trained with). Every problem is a one-line `RunError` naming the file and the field."""
    config = read_json(path, CONFIG_LIMIT)
    if not isinstance(config, dict):
        raise RunError(f"{path}: not a vaekit run config (expected a JSON object)")
    version = config.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise RunError(f"{path}: format {shown(version)} is not a config format of this vaekit (1 to {FORMAT}); the "
                       "file was edited or made by a newer version")
    config = upgrade(config)
    kind = config.get("kind")
    if not isinstance(kind, str) or kind not in MODELS:
        raise RunError(f"{path}: kind {shown(kind)} is not a model kind of this vaekit ({', '.join(MODELS.names())}); "
                       "the file was edited or made by another version")
    model_config = validate(config_class(kind), _section(config, "model", path), Source.file(path, "model"))
    data_config = validate(DataConfig, _section(config, "data", path), Source.file(path, "data"))
    train_config = validate(TrainConfig, _section(config, "train", path), Source.file(path, "train"))
    pipeline = validate(Pipeline, _section(config, "pipeline", path), Source.file(path, "pipeline"))
    settings = dict(_section(config, "objective", path))
    name = settings.pop("name", None)
    if not isinstance(name, str) or name not in OBJECTIVES:
        raise RunError(f"{path}: objective.name {shown(name)} is not one of {', '.join(OBJECTIVES.names())}; restore "
                       "the file or train again")
    objective = build_objective(name, settings, Source.file(path, "objective"))
    return config, RunSpec(kind, model_config, objective, data_config, train_config), pipeline


__all__ = ["FORMAT", "RunSpec", "read_config", "upgrade"]
