"""Open a saved run directory: its configs, the best model, and the data pipeline it was trained with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from vaekit import checkpoint as ckpt
from vaekit import data as vdata
from vaekit.errors import RunError
from vaekit.model import VAE, ModelConfig
from vaekit.pipeline import Pipeline
from vaekit.train import DataConfig, TrainConfig


@dataclass
class Run:
    """A trained run, rebuilt from its directory."""

    path: Path
    config: dict               # config.json as saved
    model_config: ModelConfig
    data_config: DataConfig
    train_config: TrainConfig
    pipeline: Pipeline
    model: VAE                 # best weights (model.safetensors), in eval mode, on the CPU

    def load_splits(self) -> vdata.Splits:
        """Load the run's dataset with the split it was trained on."""
        splits = vdata.load(self.data_config.data, seed=self.data_config.split_seed,
                            image_size=self.data_config.image_size)
        if tuple(splits.data_shape) != self.model_config.data_shape:
            raise RunError(
                f"{self.path / ckpt.CONFIG}: the run was trained on data of shape {self.model_config.data_shape}, "
                f"but {self.data_config.data} now has shape {tuple(splits.data_shape)}; pass the original data"
            )
        return splits


def _build(cls: type, values: object, path: Path, section: str):
    """Instantiate a config dataclass from a JSON object, rejecting unknown or missing keys by name."""
    if not isinstance(values, dict):
        raise RunError(f"{path}: section {section!r} is missing or not an object; the file is damaged, train again")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise RunError(f"{path}: unknown key(s) {', '.join(unknown)} in {section!r}; the file was edited or made "
                       "by another vaekit version")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise RunError(f"{path}: invalid {section!r} section ({e}); restore the file or train again") from None


def open_run(path: str | Path, *, weights: str = ckpt.WEIGHTS) -> Run:
    """Rebuild a run from `path`: configs from config.json, weights from model.safetensors.

    Raises `RunError` (one line, naming the file) when the directory is not a run, or when the weights do not
    match the architecture its config describes.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; train one with `vaekit train --out {path}`")
    config_path = path / ckpt.CONFIG
    config = ckpt.read_json(config_path)
    if not isinstance(config, dict):
        raise RunError(f"{config_path}: not a vaekit run config (expected a JSON object)")
    model_config = _build(ModelConfig, config.get("model"), config_path, "model")
    data_config = _build(DataConfig, config.get("data"), config_path, "data")
    train_config = _build(TrainConfig, config.get("train"), config_path, "train")
    pipeline = _build(Pipeline, config.get("pipeline"), config_path, "pipeline")
    model = VAE(model_config)
    tensors = ckpt.load_tensors(path / weights)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        detail = str(e).strip().splitlines()
        raise RunError(
            f"{path / weights}: does not match {config_path} ({detail[-1].strip() if detail else 'shape mismatch'}); "
            "the run was edited or mixed with another; train it again"
        ) from None
    model.eval()
    return Run(path, config, model_config, data_config, train_config, pipeline, model)
