"""`vaekit evaluate`'s figures for a saved run, composed from what its model offers (`vaekit.models` protocols),
never from its kind's name:

    latent-variable model      the plain ELBO, importance-sampled log p(x), the gap (and its split), active units and
                               the KL per dimension or layer, whatever the objective
    conditional model          the same figures of given(y) at the true labels: log p(x|y) ("conditioned_on_labels")
    ... with a label prior     log p(x) = logsumexp_y [log p(y) + log p(x|y)], each log p(x|y) importance-sampled;
                               with a classifier as well, U(x) as its ELBO and the labelled bound L(x, y)
    density model              exact log p(x), standard error over datapoints only (no importance sampling)
    classifier                 the labels' log-likelihood log p(y|x), accuracy and the expected calibration error

References:
    [1] Theis, van den Oord & Bethge 2016, A note on the evaluation of generative models (dequantisation).
    [2] Guo, Pleiss, Sun & Weinberger 2017, On Calibration of Modern Neural Networks (ECE).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from vaekit import data as vdata
from vaekit.data.pipeline import Pipeline
from vaekit.errors import VaekitError
from vaekit.estimate import (
    CALIBRATION_BINS,
    DEFAULT_MEMORY_BUDGET,
    LogLikelihood,
    Summary,
    bits_per_dim,
    classify,
    exact_log_likelihood,
    gap_split,
    log_likelihood,
    marginal_log_likelihood,
    standard_error,
    summarize,
    with_posteriors,
)
from vaekit.models import (
    Classifier,
    ConditionalModel,
    DensityModel,
    LatentVariableModel,
    device_of,
    labelled,
    latent_dim,
    rows,
)
from vaekit.runs import Run
from vaekit.train.config import resolve_device

#: Effective sample size below this fraction of K flags a datapoint's log p(x) estimate as unreliable.
LOW_ESS_FRACTION = 0.01


def latent_view(model: Any, x: Tensor, y: Tensor | None, training_rows: bool = False) -> Any | None:
    """The latent-variable model a run's figures of x [N, ...] are computed on: `given(y)` at the labels for a
    conditional model (None without labels), the model itself for a latent-variable model, else None. Where the
    model keeps per-datapoint parameters and x are its first N training rows (`training_rows`), q(z|x) is theirs
    (`at`); where it fits q(z|x) per datapoint otherwise, it is fitted once for x (`with_posteriors`)."""
    if isinstance(model, ConditionalModel):
        return model.given(y) if labelled(y) else None
    if not isinstance(model, LatentVariableModel):
        return None
    if training_rows and hasattr(model, "at"):
        return model.at(torch.arange(x.shape[0], device=x.device))
    return with_posteriors(model, x)


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
    labelled_rows: int | None = None,
    label_seed: int = 0,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> dict:
    """The figures of `vaekit evaluate` for one split of a run's data, as one JSON-ready dict (see the module).

    Log-probabilities of x (`elbo`, `reconstruction`, `log_likelihood`, baselines) are of the data as stored: under
    dequantization they include the -D log(levels) term (`log_prob_offset`) [1], so they bound the discrete
    log-probability and compare with discrete models. All are means per datapoint in nats; `gap` =
    log_likelihood - elbo, both from the same K importance samples. Whatever objective trained the run, these
    are the plain ELBO and log p(x). `log_likelihood_method` says how log p(x) was computed, and
    `conditioned_on_labels` whether it is log p(x|y).

    Args:
        split: which split to score.
        num_samples: K for log p(x) (per class, where log p(x) is summed over classes).
        limit: score only the first `limit` points of the split.
        gap_points: if > 0, split the gap into approximation and amortization parts on this many points.
        gap_steps: Adam steps of the per-datapoint optimisation of q*.
        probe: fit logistic regression on posterior means and on raw inputs, with the labelled training rows
            (labelled data and a latent-variable model only).
        baselines: fit the classic density estimators on the same splits and score them on the model's points (the
            test split only; can take a minute).
        on_batch: progress callback of the log p(x) pass: (datapoints done, datapoints in all).
        device: where the model runs (cpu, cuda, auto); the data's fixed binarization or dequantization is
            drawn on the CPU either way, so every device scores the same data.
        seed: seeds the draws of z (on a forked RNG: the caller's random state is left as it was), so the same
            run, split and K give the same figures.
        labelled_rows, label_seed: the probe uses only this many training labels, balanced across classes and
            chosen with `label_seed` as `--labelled` chooses them (default: the run's own labelled rows).
        memory_budget: bytes of tensors one chunk of importance samples may make (`vaekit.estimate.plan_chunks`).
    """
    torch_device = resolve_device(device)  # before any work: a device vaekit cannot run on is refused
    if baselines and split != "test":  # they are fitted on train and choose their settings on valid
        raise VaekitError(f"--baselines scores the test split, and this evaluation is of the {split} split; drop "
                          "--baselines or --split")
    splits = _splits(run, labelled_rows, label_seed)
    x = run.pipeline.fixed(getattr(splits, f"x_{split}")[:limit], split).to(torch_device)
    y = getattr(splits, f"y_{split}")
    y = None if y is None else y[:limit].to(torch_device)
    model = run.model.to(torch_device)
    num_dims = math.prod(x.shape[1:])
    offset = run.pipeline.log_prob_offset(num_dims)
    discrete = run.pipeline.binary or run.pipeline.dequantize
    figures: dict = {
        "dataset": splits.name, "split": split, "n": int(x.shape[0]), "limit": limit,
        "probe_labelled": labelled_rows if probe else None, "kind": run.kind,
        "objective": run.objective.name, "seed": seed, "log_prob_offset": offset,
        "units": "nats per datapoint" + (" (discrete log-probability bound)" if run.pipeline.dequantize else ""),
        "per_datapoint": {},
    }
    cuda = [torch_device.index or 0] if torch_device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        if isinstance(model, Classifier) and labelled(y):
            figures.update(_classification(model, x, y, figures["per_datapoint"]))
        view = latent_view(model, x, y, training_rows=split == "train")
        if isinstance(model, ConditionalModel) and hasattr(model, "label_prior"):
            figures.update(_marginal(model, x, y, view, num_samples, on_batch, offset, figures["per_datapoint"],
                                     memory_budget))
        elif view is not None:
            figures.update(_latent(view, x, num_samples, on_batch, offset, figures["per_datapoint"], memory_budget))
            figures["conditioned_on_labels"] = isinstance(model, ConditionalModel)
        elif isinstance(model, DensityModel):
            figures.update(_exact(model, x, offset, figures["per_datapoint"]))
        if gap_points and view is not None:
            figures.update(_gap_split(view, x, num_samples, gap_points, gap_steps, offset, memory_budget))
    if "log_likelihood" in figures:
        figures["bits_per_dim"] = bits_per_dim(figures["log_likelihood"], num_dims) if discrete else None
    if probe:
        figures["probe"] = _probe(run, splits, split, limit)
    if baselines:
        figures["baselines"] = baseline_rows(splits, run.pipeline, seed=run.data_config.split_seed, limit=limit)
    return figures


def _splits(run: Run, labelled_rows: int | None, label_seed: int) -> vdata.Splits:
    """The run's splits; with `labelled_rows`, only that many training labels, kept as `--labelled` keeps them."""
    if labelled_rows is None:
        return run.load_splits()
    return vdata.load_data(dataclasses.replace(run.data_config, labelled=labelled_rows, label_seed=label_seed))


def _stderr(values: Tensor) -> float | None:
    """The standard error of the mean of values [N] (None, as JSON's null, for N < 2)."""
    return standard_error(values) if values.numel() > 1 else None


def _classification(model: Any, x: Tensor, y: Tensor, per_datapoint: dict) -> dict:
    scored = classify(model, x, y)
    per_datapoint["label_log_likelihood"] = scored.log_likelihood.tolist()
    return {
        "label_log_likelihood": scored.mean_log_likelihood,
        "label_log_likelihood_stderr": scored.stderr,
        "accuracy": scored.accuracy,
        "calibration_error": scored.calibration_error(),
        "calibration_bins": CALIBRATION_BINS,
        "reliability": scored.reliability(),
        "classes": model.num_classes,
    }


def _diagnostics(view: Any, x: Tensor) -> tuple[dict, Summary]:
    summary = summarize(view, x)
    return {
        "active_units": summary.active_units,
        "latent_dim": latent_dim(view),
        "kl_per_dim": summary.kl_per_dim,
        "latent_groups": summary.groups,
        "posterior_mean_estimated": summary.posterior_mean_estimated,
    }, summary


def _importance_figures(ll: LogLikelihood, offset: float, per_datapoint: dict) -> dict:
    k = ll.num_samples
    per_datapoint.update({"log_likelihood": (ll.values + offset).tolist(), "elbo": (ll.elbo + offset).tolist(),
                          "gap": ll.gap.tolist(), "ess": ll.ess.tolist()})
    return {
        "elbo": float(ll.elbo.mean()) + offset,
        "log_likelihood": ll.mean + offset,
        "log_likelihood_stderr": ll.stderr,
        "log_likelihood_method": "importance sampling",
        "importance_samples": k,
        "log_likelihood_ess_mean": float(ll.ess.mean()),
        "log_likelihood_ess_min": float(ll.ess.min()),
        "low_ess_points": int((ll.ess < LOW_ESS_FRACTION * k).sum()),
        "low_ess_threshold": LOW_ESS_FRACTION * k,
        "gap": float(ll.gap.mean()),
        "gap_stderr": _stderr(ll.gap),
    }


def _latent(view: Any, x: Tensor, num_samples: int, on_batch: Callable | None, offset: float,
            per_datapoint: dict, memory_budget: int) -> dict:
    diagnostics, summary = _diagnostics(view, x)
    ll = log_likelihood(view, x, num_samples, on_batch=on_batch, memory_budget=memory_budget)
    figures = _importance_figures(ll, offset, per_datapoint)
    figures.update(diagnostics)
    figures["reconstruction"] = float(ll.elbo.mean()) + summary.kl + offset
    figures["kl"] = summary.kl
    return figures


def _marginal(model: Any, x: Tensor, y: Tensor | None, view: Any | None, num_samples: int,
              on_batch: Callable | None, offset: float, per_datapoint: dict, memory_budget: int) -> dict:
    result = marginal_log_likelihood(model, x, num_samples, on_batch=on_batch, memory_budget=memory_budget)
    values = result.values + offset
    per_datapoint["log_likelihood"] = values.tolist()
    figures: dict = {
        "log_likelihood": float(values.mean()),
        "log_likelihood_stderr": result.stderr,
        "log_likelihood_method": "importance sampling per class, summed over the classes",
        "importance_samples": num_samples,
    }
    if isinstance(model, Classifier):
        with torch.inference_mode():
            q_y = torch.cat([model.classify(x[i : i + 4096]).probs for i in range(0, len(x), 4096)]).cpu()
        bound = result.unlabelled_bound(q_y) + offset
        per_datapoint.update({"elbo": bound.tolist(), "gap": (values - bound).tolist()})
        figures.update({"elbo": float(bound.mean()), "gap": float((values - bound).mean()),
                        "gap_stderr": _stderr(values - bound)})
    if labelled(y):
        conditional, bound_xy = result.given_labels(y)
        figures["conditional_log_likelihood"] = float(conditional.mean()) + offset
        figures["labelled_bound"] = float(bound_xy.mean()) + offset
    if view is not None:
        figures.update(_diagnostics(view, x)[0])
    return figures


def _exact(model: Any, x: Tensor, offset: float, per_datapoint: dict) -> dict:
    values = exact_log_likelihood(model, x) + offset
    per_datapoint["log_likelihood"] = values.tolist()
    return {
        "log_likelihood": float(values.mean()),
        "log_likelihood_stderr": _stderr(values),
        "log_likelihood_method": "exact",
        "importance_samples": None,
    }


def _gap_split(view: Any, x: Tensor, num_samples: int, gap_points: int, gap_steps: int, offset: float,
               memory_budget: int) -> dict:
    n = int(min(gap_points, len(x)))
    parts = gap_split(rows(view, 0, n), x[:n], num_samples=num_samples, steps=gap_steps, memory_budget=memory_budget)
    return {
        "gap_points": n,
        "gap_steps": gap_steps,
        "gap_split_log_likelihood": float(parts.log_likelihood.mean()) + offset,
        "elbo_optimal": float(parts.elbo_optimal.mean()) + offset,
        "elbo_encoder": float(parts.elbo_encoder.mean()) + offset,
        "approximation_gap": float(parts.approximation.mean()),
        "amortization_gap": float(parts.amortization.mean()),
        "total_gap": float(parts.total.mean()),
    }


def _probe(run: Run, splits: vdata.Splits, split: str, limit: int | None) -> dict | None:
    """Logistic regression on posterior means (a latent-variable model's q(z|x)) vs raw inputs, fitted on the
    training rows that carry a label; None where there are no labels or no q(z|x) without labels."""
    from vaekit.probe import probe

    y_test = getattr(splits, f"y_{split}")
    if splits.y_train is None or y_test is None or not isinstance(run.model, LatentVariableModel):
        return None
    device = device_of(run.model)
    keep = splits.y_train != vdata.UNLABELLED
    x_train = run.pipeline.fixed(splits.x_train, "train")[keep].to(device)
    x_test = run.pipeline.fixed(getattr(splits, f"x_{split}")[:limit], split).to(device)
    return dataclasses.asdict(probe(run.model, x_train, splits.y_train[keep], x_test, y_test[:limit]))


def baseline_rows(splits: vdata.Splits, pipeline: Pipeline, *, seed: int = 0, limit: int | None = None) -> list[dict]:
    """Fit the classic density estimators on the splits as `pipeline` presents them; JSON-ready rows, scored on the
    first `limit` test points (all by default): the points `evaluate_run` scores the model on, seen as it sees them.

    Binary (or binarized) data gets the binary estimators; discrete-level data under dequantization gets the
    continuous ones with the same -D log(levels) correction as the VAE; real data the continuous ones.
    """
    from vaekit.baselines import baselines

    raw = {"train": splits.x_train, "valid": splits.x_valid, "test": splits.x_test[:limit]}
    levels: int | None
    if pipeline.binary:
        views = [pipeline.fixed(x, s) for s, x in raw.items()]
        levels = 2
    elif pipeline.dequantize:
        views, levels = list(raw.values()), pipeline.levels
    else:
        views = [vdata.to_unit(x, splits.levels) for x in raw.values()]
        levels = None
    return [dataclasses.asdict(r) for r in baselines(*views, levels=levels, seed=seed)]
