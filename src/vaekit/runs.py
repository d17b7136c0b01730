"""Open a saved run directory: its configs, the best model, and the data pipeline it was trained with."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vaekit import checkpoint as ckpt
from vaekit import data as vdata
from vaekit.errors import RunError
from vaekit.evaluate import bits_per_dim, log_likelihood, summarize
from vaekit.model import VAE, ModelConfig
from vaekit.pipeline import Pipeline
from vaekit.train import DataConfig, TrainConfig, resolve_device


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


#: Effective sample size below this fraction of K flags a datapoint's log p(x) estimate as unreliable.
LOW_ESS_FRACTION = 0.01


def evaluate_run(
    run: Run,
    *,
    split: str = "test",
    num_samples: int = 1000,
    limit: int | None = None,
    gap_points: int = 0,
    gap_steps: int = 500,
    probe: bool = False,
    baselines: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    device: str = "cpu",
) -> dict:
    """The figures of `vaekit evaluate` for one split of a run's data, as one JSON-ready dict.

    Log-probabilities (`elbo`, `reconstruction`, `log_likelihood`, baselines) are of the data as stored: under
    dequantization they include the -D log(levels) term (`log_prob_offset`), so they bound the discrete
    log-probability and compare with discrete models. All are means per datapoint in nats; `gap` =
    log_likelihood - elbo, both from the same K importance samples.

    Args:
        split: which split to score.
        num_samples: K for log p(x).
        limit: score only the first `limit` points of the split.
        gap_points: if > 0, split the gap into approximation and amortization parts on this many points.
        gap_steps: Adam steps of the per-datapoint optimisation of q*.
        probe: fit logistic regression on posterior means and on raw inputs (labelled data only).
        baselines: fit the classic density estimators on the same splits (can take a minute).
        on_batch: progress callback of the log p(x) pass: (datapoints done, datapoints in all).
        device: where the model runs (cpu, cuda, auto); the data's fixed binarization or dequantization is
            drawn on the CPU either way, so every device scores the same data.
    """
    splits = run.load_splits()
    torch_device = resolve_device(device)
    x = run.pipeline.fixed(getattr(splits, f"x_{split}")[:limit], split).to(torch_device)
    model = run.model.to(torch_device)
    num_dims = math.prod(model.data_shape)
    offset = run.pipeline.log_prob_offset(num_dims)
    summary = summarize(model, x)
    ll = log_likelihood(model, x, num_samples, on_batch=on_batch)
    discrete = run.pipeline.binary or run.pipeline.dequantize
    low_ess = int((ll.ess < LOW_ESS_FRACTION * num_samples).sum())
    figures = {
        "dataset": splits.name,
        "split": split,
        "n": int(x.shape[0]),
        "elbo": float(ll.elbo.mean()) + offset,
        "reconstruction": float(ll.elbo.mean()) + summary.kl + offset,
        "kl": summary.kl,
        "log_likelihood": ll.mean + offset,
        "log_likelihood_stderr": ll.stderr,
        "importance_samples": num_samples,
        "log_likelihood_ess_mean": float(ll.ess.mean()),
        "log_likelihood_ess_min": float(ll.ess.min()),
        "low_ess_points": low_ess,
        "low_ess_threshold": LOW_ESS_FRACTION * num_samples,
        "gap": float(ll.gap.mean()),
        "gap_stderr": float(ll.gap.std() / math.sqrt(len(ll.gap))) if len(ll.gap) > 1 else None,
        "bits_per_dim": bits_per_dim(ll.mean + offset, num_dims) if discrete else None,
        "active_units": summary.active_units,
        "latent_dim": model.latent_dim,
        "kl_per_dim": summary.kl_per_dim,
        "log_prob_offset": offset,
        "units": "nats per datapoint" + (" (discrete log-probability bound)" if run.pipeline.dequantize else ""),
        "per_datapoint": {"log_likelihood": (ll.values + offset).tolist(), "elbo": (ll.elbo + offset).tolist(),
                          "gap": ll.gap.tolist(), "ess": ll.ess.tolist()},
    }
    if gap_points:
        from vaekit.gaps import gap_split

        parts = gap_split(model, x[:gap_points], num_samples=num_samples, steps=gap_steps)
        figures.update({
            "gap_points": int(min(gap_points, len(x))),
            "gap_steps": gap_steps,
            "gap_split_log_likelihood": float(parts.log_likelihood.mean()) + offset,
            "elbo_optimal": float(parts.elbo_optimal.mean()) + offset,
            "elbo_encoder": float(parts.elbo_encoder.mean()) + offset,
            "approximation_gap": float(parts.approximation.mean()),
            "amortization_gap": float(parts.amortization.mean()),
            "total_gap": float(parts.total.mean()),
        })
    if probe:
        figures["probe"] = _probe(run, splits, split, limit)
    if baselines:
        figures["baselines"] = baseline_rows(splits, run.pipeline, seed=run.data_config.split_seed)
    return figures


def _probe(run: Run, splits: vdata.Splits, split: str, limit: int | None) -> dict | None:
    from vaekit.probe import probe

    y_test = getattr(splits, f"y_{split}")
    if splits.y_train is None or y_test is None:
        return None
    device = run.model.prior_loc.device
    x_train = run.pipeline.fixed(splits.x_train, "train").to(device)
    x_test = run.pipeline.fixed(getattr(splits, f"x_{split}")[:limit], split).to(device)
    return dataclasses.asdict(probe(run.model, x_train, splits.y_train, x_test, y_test[:limit]))


def baseline_rows(splits: vdata.Splits, pipeline: Pipeline, *, seed: int = 0) -> list[dict]:
    """Fit the classic density estimators on the splits as `pipeline` presents them; JSON-ready rows.

    Binary (or binarized) data gets the binary estimators; discrete-level data under dequantization gets the
    continuous ones with the same -D log(levels) correction as the VAE; real data the continuous ones.
    """
    from vaekit.baselines import baselines

    if pipeline.binary:
        views = [pipeline.fixed(getattr(splits, f"x_{s}"), s) for s in ("train", "valid", "test")]
        levels = 2
    elif pipeline.dequantize:
        views, levels = [splits.x_train, splits.x_valid, splits.x_test], pipeline.levels
    else:
        views = [vdata.to_unit(getattr(splits, f"x_{s}"), splits.levels) for s in ("train", "valid", "test")]
        levels = None
    return [dataclasses.asdict(r) for r in baselines(*views, levels=levels, seed=seed)]
