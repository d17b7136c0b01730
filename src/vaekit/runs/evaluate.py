"""`vaekit evaluate`'s figures for a saved run: the plain ELBO, importance-sampled log p(x), the gap (and its
split), bits/dim, active units and the KL per dimension or layer, whatever the model kind and objective.

References:
    [1] Theis, van den Oord & Bethge 2016, A note on the evaluation of generative models (dequantisation).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

from vaekit import data as vdata
from vaekit.data.pipeline import Pipeline
from vaekit.estimate import bits_per_dim, gap_split, log_likelihood, summarize
from vaekit.models import device_of, latent_dim
from vaekit.runs import Run
from vaekit.train.config import resolve_device

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
    seed: int = 0,
) -> dict:
    """The figures of `vaekit evaluate` for one split of a run's data, as one JSON-ready dict.

    Log-probabilities (`elbo`, `reconstruction`, `log_likelihood`, baselines) are of the data as stored: under
    dequantization they include the -D log(levels) term (`log_prob_offset`) [1], so they bound the discrete
    log-probability and compare with discrete models. All are means per datapoint in nats; `gap` =
    log_likelihood - elbo, both from the same K importance samples. Whatever objective trained the run, these
    are the plain ELBO and log p(x).

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
        seed: seeds the draws of z (on a forked RNG: the caller's random state is left as it was), so the same
            run, split and K give the same figures.
    """
    splits = run.load_splits()
    torch_device = resolve_device(device)
    x = run.pipeline.fixed(getattr(splits, f"x_{split}")[:limit], split).to(torch_device)
    model = run.model.to(torch_device)
    num_dims = math.prod(x.shape[1:])
    offset = run.pipeline.log_prob_offset(num_dims)
    cuda = [torch_device.index or 0] if torch_device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        summary = summarize(model, x)
        ll = log_likelihood(model, x, num_samples, on_batch=on_batch)
        parts = gap_split(model, x[:gap_points], num_samples=num_samples, steps=gap_steps) if gap_points else None
    discrete = run.pipeline.binary or run.pipeline.dequantize
    low_ess = int((ll.ess < LOW_ESS_FRACTION * num_samples).sum())
    figures = {
        "dataset": splits.name,
        "split": split,
        "n": int(x.shape[0]),
        "kind": run.kind,
        "objective": run.objective.name,
        "seed": seed,
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
        "latent_dim": latent_dim(model),
        "kl_per_dim": summary.kl_per_dim,
        "latent_groups": summary.groups,
        "posterior_mean_estimated": summary.posterior_mean_estimated,
        "log_prob_offset": offset,
        "units": "nats per datapoint" + (" (discrete log-probability bound)" if run.pipeline.dequantize else ""),
        "per_datapoint": {"log_likelihood": (ll.values + offset).tolist(), "elbo": (ll.elbo + offset).tolist(),
                          "gap": ll.gap.tolist(), "ess": ll.ess.tolist()},
    }
    if parts is not None:
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
    device = device_of(run.model)
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
