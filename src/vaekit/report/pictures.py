"""The report's pictures: everything that runs the model on a run's test split, and the PNGs drawn from it.

`_model_pictures` opens the run on a forked, seeded RNG and draws what the model learned, by what it offers (the
`vaekit.models` protocols): for images, samples (one row per class too, for a conditional model), and through
q(z|x) reconstructions, interpolations, traversals, the latent map and the manifold; for tables, per-feature
histograms and correlation matrices of test data vs samples, and the latent map; for a classifier, the
reliability diagram. `_curves` and
`_per_datapoint` draw the training curves (metrics.jsonl) and the per-datapoint histograms (evaluation.json).
Every PNG is drawn by `vaekit.plots` into ``RUN/report_files`` and comes back as a `Picture` with its caption.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from vaekit import plots
from vaekit.data import Splits
from vaekit.data.readers import header_row, is_number
from vaekit.errors import VaekitError
from vaekit.estimate import CALIBRATION_BINS, Summary, batches, classify, posterior_moments, summarize
from vaekit.files import check_writable, read_regular
from vaekit.models import (
    Classifier,
    ConditionalModel,
    LatentVariableModel,
    chunks,
    generate,
    generates,
    latent_dim,
    latent_groups,
    rows,
)
from vaekit.objectives import label
from vaekit.runs import Run, open_run
from vaekit.train.state import METRICS

FILES = "report_files"  # the pictures' folder inside the run

NUM_SAMPLES = 64  # prior samples in the grid
PER_CLASS = 8  # samples per class in the class-conditional grid
NUM_RECONSTRUCTIONS = 32
NUM_INTERPOLATIONS, INTERPOLATION_STEPS = 8, 10
MAX_TRAVERSED = 8  # latent dimensions shown in the traversal, most KL (or posterior-mean variance) first
TRAVERSAL_VALUES = tuple(np.linspace(-3.0, 3.0, 9))  # latent units
MANIFOLD_SIDE = 12  # G of the G x G manifold grid
MAX_MAP_POINTS = 5000  # test points on the latent map
NUM_GENERATED = 2000  # samples compared with tabular test data


@dataclass(frozen=True)
class Picture:
    """One PNG under RUN/report_files and the line of text under it."""

    path: Path
    caption: str


# ---------------------------------------------------------------------------------------------- pictures


Show = Callable[[Tensor], np.ndarray]  # data-space images -> floats in [0, 1] for a picture


def _to_picture(run: Run, x: Tensor) -> Show:
    """How to show images: on [0, 1] as the model sees them, or real-valued ones by the test data's range."""
    lo, hi = (0.0, 1.0) if run.pipeline.levels is not None else (float(x.min()), float(x.max()))
    hi = hi if hi > lo else lo + 1.0
    return lambda images: ((images.double().numpy() - lo) / (hi - lo)).clip(0.0, 1.0)


def _decoded(model: Any, z: Tensor, show: Show, data_shape: tuple[int, ...]) -> np.ndarray:
    """The mean of p(x|z) for z [..., d], as shown in a picture: [..., C, H, W] floats in [0, 1]."""
    out = torch.cat([model.decode(zb).mean for zb in batches(z.reshape(-1, z.shape[-1]), 1024)])
    return show(out.reshape(*z.shape[:-1], *data_shape))


def _posterior_means(model: Any, x: Tensor) -> Tensor:
    """E[z|x] [N, d] (estimated from draws where q has no closed-form mean)."""
    return torch.cat([posterior_moments(part.encode(xb))[0] for part, xb in chunks(model, x, 1024)])


def _prior_text(model: Any) -> str:
    pz = model.prior()
    if isinstance(pz, torch.distributions.Independent) and isinstance(pz.base_dist, torch.distributions.Normal):
        return "p(z) = N(0, I)" if bool((pz.base_dist.loc == 0).all() & (pz.base_dist.scale == 1).all()) else "p(z)"
    return "p(z) (its own sampler)" if len(latent_groups(model)) == 1 else "p(z) (drawn layer by layer)"


def _samples_text(run: Run) -> str:
    """What one of `generate`'s samples is, for the model's capabilities."""
    model = run.model
    if isinstance(model, ConditionalModel):
        return "the mean of p(x|z, y) for y ~ p(y) and z ~ " + _prior_text(model.given(torch.zeros(1, dtype=torch.int64)))
    if isinstance(model, LatentVariableModel):
        return f"the mean of p(x|z) for z ~ {_prior_text(model)}"
    return "a draw x ~ p(x), dimension by dimension (ancestral sampling)"


def _latent_map(model: Any, x: Tensor, y: Tensor | None, folder: Path) -> Picture | None:
    d = latent_dim(model)
    if d < 2:
        return None
    z = _posterior_means(rows(model, 0, MAX_MAP_POINTS), x[:MAX_MAP_POINTS]).double().numpy()
    basis: Literal["z", "pca"]
    if d == 2:
        points, basis, how = z, "z", "the 2-D latent space itself"
    else:  # exact PCA by SVD (deterministic, unlike randomised solvers)
        centred = z - z.mean(0)
        points = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
        basis, how = "pca", f"their first two principal components (of {d} dimensions)"
    labels = None if y is None else y[:MAX_MAP_POINTS].numpy()
    path = plots.latent_map(points, folder / "latent_map.png", labels=labels, basis=basis,
                            title=f"Posterior means of {len(points)} test points")
    coloured = ", coloured by label" if labels is not None else ""
    return Picture(path, f"Posterior means E[z|x] of {len(points)} test points on {how}{coloured}; "
                         "axes in latent units (prior standard deviations).")


def _image_pictures(run: Run, view: Any | None, x: Tensor, y: Tensor | None, summary: Summary | None,
                    folder: Path) -> list[Picture]:
    """What the model learned, drawn by capability: samples where it models x on its own, one row of samples per
    class where it is conditional, and where it has a q(z|x) (`view`, conditioned on the test labels for a
    conditional model): reconstructions, and for an unconditional one interpolations, traversals and the
    manifold; the latent map."""
    model, shape = run.model, tuple(run.model_config.data_shape)
    show = _to_picture(run, x)
    pictures = []
    conditional = isinstance(model, ConditionalModel)
    if generates(model):
        samples = generate(model, NUM_SAMPLES, mean=True, seed=run.train_config.seed)
        pictures.append(Picture(
            plots.image_grid(show(samples), folder / "samples.png", nrow=8),
            f"{NUM_SAMPLES} samples from the model: {_samples_text(run)}; intensities in [0, 1].",
        ))
    if isinstance(model, ConditionalModel):
        per_class = [generate(model, PER_CLASS, mean=True, seed=run.train_config.seed, label=c)
                     for c in range(model.num_classes)]
        pictures.append(Picture(
            plots.image_grid(show(torch.cat(per_class)), folder / "samples_per_class.png", nrow=PER_CLASS),
            f"Class-conditional samples, one row per class (classes 0 to {model.num_classes - 1}, top to bottom): "
            f"the mean of p(x|z, y) for z ~ p(z) = N(0, I); intensities in [0, 1].",
        ))
    if view is None:
        return pictures

    xr = x[:NUM_RECONSTRUCTIONS]
    part = rows(view, 0, len(xr))
    given = " and its label" if conditional else ""
    pictures.append(Picture(
        plots.reconstructions(show(xr), _decoded(part, _posterior_means(part, xr), show, shape),
                              folder / "reconstructions.png"),
        f"Test inputs (upper row of each pair) above their reconstructions: the mean of p(x|z{', y' if conditional else ''}) "
        f"at z = E[z|x{', y' if conditional else ''}], from each input{given}; intensities in [0, 1].",
    ))

    pairs = min(NUM_INTERPOLATIONS, x.shape[0] // 2)
    if pairs and not conditional:
        z = _posterior_means(rows(view, 0, 2 * pairs), x[: 2 * pairs])
        t = torch.linspace(0, 1, INTERPOLATION_STEPS)[None, :, None]  # (1, S, 1)
        line = (1 - t) * z[:pairs, None] + t * z[pairs:, None]  # (R, S, d)
        pictures.append(Picture(
            plots.interpolations(_decoded(view, line, show, shape), folder / "interpolations.png"),
            f"Each row decodes {INTERPOLATION_STEPS} evenly spaced points on the straight line between two test "
            "inputs' posterior means (left and right ends); decoded means, intensities in [0, 1].",
        ))

    if not conditional and summary is not None:
        pictures.append(_traversals(view, summary, show, folder, shape))

    latent = _latent_map(view, x, y, folder)
    if latent is not None:
        pictures.append(latent)
    if not conditional and latent_dim(view) == 2 and len(latent_groups(view)) == 1:
        pictures.append(_manifold(view, show, folder, shape))
    return pictures


def _manifold(model: Any, show: Show, folder: Path, shape: tuple[int, ...]) -> Picture:
    """A two-dimensional latent space decoded on a grid at the prior's quantiles."""
    g = MANIFOLD_SIDE
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, g))
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # rows: z2 from high (top) to low
    grid = torch.stack([z1, z2], -1).reshape(g * g, 2)
    return Picture(
        plots.manifold(_decoded(model, grid, show, shape), folder / "manifold.png"),
        f"The decoded manifold: means of p(x|z) on a {g} x {g} grid at the prior's 5% ... 95% quantiles "
        "(z1 left to right, z2 bottom to top); intensities in [0, 1].",
    )


def _traversals(model: Any, summary: Summary, show: Show, folder: Path, shape: tuple[int, ...]) -> Picture:
    """Decoded traversals of the dimensions of the layer next to x that carry the most information: ranked by
    their KL where it is defined per dimension, else by the variance of their posterior means."""
    d = latent_dim(model)
    layer, size = next(iter(latent_groups(model).items()))
    ranked_by_kl = summary.kl_per_dim is not None
    score = torch.tensor(summary.kl_per_dim if ranked_by_kl else summary.posterior_mean_variance)[:size]
    dims = torch.argsort(score, descending=True, stable=True)[:MAX_TRAVERSED].tolist()
    values = torch.tensor(TRAVERSAL_VALUES, dtype=torch.float32)
    z = torch.zeros(len(dims), len(values), d)
    for row, dim in enumerate(dims):
        z[row, :, dim] = values
    what = "KL" if ranked_by_kl else "posterior-mean variance"
    of = f"{size} latent dimensions" if size == d else f"{size} dimensions of layer {layer} (next to x)"
    which = (f"all {of}, most {what} on the test split first" if len(dims) == size else
             f"the {len(dims)} of {of} with the most {what} on the test split")
    unit = "nats per datapoint" if ranked_by_kl else "latent units squared"
    return Picture(
        plots.traversals(_decoded(model, z, show, shape), folder / "traversals.png", dims=dims,
                         values=TRAVERSAL_VALUES, kl=[float(score[i]) for i in dims]),
        f"Traversals of {which} ({what} in the labels, {unit}): one dimension set to -3 ... 3, the others at 0.",
    )


def _reliability(run: Run, x: Tensor, y: Tensor, folder: Path) -> Picture:
    scored = classify(run.model, x, y)
    table = scored.reliability(CALIBRATION_BINS)
    ece = scored.calibration_error(CALIBRATION_BINS)
    path = plots.reliability_diagram(table["edges"], table["accuracy"], table["confidence"], table["count"],
                                     folder / "reliability.png",
                                     title=f"Test split: accuracy {scored.accuracy:.3f}, ECE {ece:.3f}")
    return Picture(path, f"Reliability diagram of the classifier p(y|x) on {len(y)} test points: per confidence bin "
                         f"({CALIBRATION_BINS} equal-width bins of max_y p(y|x)), the fraction classified correctly "
                         "(bars) against perfect calibration (dashed) and the bin's mean confidence (dots); points "
                         f"per bin below. Expected calibration error {ece:.4f}.")


def _feature_names(run: Run, num_features: int) -> list[str] | None:
    """Column names from the header of the run's CSV file, when it has one and it is still there."""
    path = Path(run.data_config.data)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    try:
        names = header_row(path)  # read as the data was: a regular file, bounded
    except VaekitError:
        return None
    if len(names) != num_features or any(is_number(n) for n in names):
        return None  # no header row (as the CSV reader decides), or not one name per feature
    return [n.replace("$", r"\$") for n in names]  # a literal $, not matplotlib's maths mode


def _tabular_pictures(run: Run, view: Any | None, x: Tensor, y: Tensor | None, folder: Path) -> list[Picture]:
    latent = _latent_map(view, x, y, folder) if view is not None else None
    if not generates(run.model):
        return [latent] if latent is not None else []
    generated = generate(run.model, NUM_GENERATED).double().numpy()
    real = x.double().numpy()
    names = _feature_names(run, real.shape[1])
    pictures = [
        Picture(plots.tabular_histograms(real, generated, folder / "histograms.png", names=names),
                f"Per-feature densities of {len(real)} test rows (filled) and {NUM_GENERATED} samples x ~ p(x) "
                "(outline); values as the model sees them."),
        Picture(plots.correlation_matrices(real, generated, folder / "correlations.png", names=names),
                f"Pearson correlations between features: test data (left) and {NUM_GENERATED} samples (right); "
                "colour scale -1 to 1."),
    ]
    return pictures + ([latent] if latent is not None else [])


def _history(run_path: Path) -> tuple[list[dict], str]:
    """metrics.jsonl as per-epoch dicts, or [] and why."""
    try:
        lines = read_regular(run_path / METRICS).decode("utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except (VaekitError, UnicodeDecodeError, ValueError, RecursionError) as e:
        return [], f"{METRICS} could not be read ({e})."
    rows = [row for row in rows if isinstance(row, dict)]
    return rows, "" if rows else f"{METRICS} holds no epochs yet."


def _curves(history: list[dict], folder: Path) -> Picture:
    # plots.training_curves takes the keys without the units suffix that metrics.jsonl carries.
    renamed = [{k.removesuffix("_nats"): v for k, v in row.items()} for row in history]
    recorded = []  # the figures in metrics.jsonl, in the order of first appearance (train terms, then validation)
    for row in renamed:
        for key in row:
            name = key.removeprefix("train_").removeprefix("valid_")
            if key.startswith(("train_", "valid_")) and name not in recorded and name != "active_units":
                recorded.append(name)
    panels = [(name, label(name)) for name in recorded][:4]
    names = ", ".join(title for _, title in panels)
    return Picture(plots.training_curves(renamed, folder / "training_curves.png", panels or [("elbo", "ELBO")]),
                   f"{names} per epoch ({len(history)} epochs), train (solid) and validation (dashed), in nats per "
                   "datapoint.")


_PER_DATAPOINT = {  # key -> (x-axis label, caption)
    "gap": ("log p(x) - ELBO (nats)",
            "Per-datapoint gap log p(x) - ELBO, an estimate of KL(q(z|x) || p(z|x)), in nats"),
    "log_likelihood": ("log p(x) (nats)", "Per-datapoint importance-sampled log p(x), in nats"),
    "elbo": ("ELBO (nats)", "Per-datapoint ELBO, in nats"),
    "ess": ("effective sample size", "Per-datapoint effective sample size of the importance weights (of K)"),
    "label_log_likelihood": ("log p(y|x) (nats)", "Per-datapoint log-likelihood of the label under the classifier"),
}


def _per_datapoint(evaluation: dict, folder: Path) -> list[Picture]:
    """A histogram of each per-datapoint series in evaluation.json, in the order of `_PER_DATAPOINT` (gap first)."""
    series = evaluation.get("per_datapoint")
    if not isinstance(series, dict):
        return []
    split = evaluation.get("split") if evaluation.get("split") in ("train", "valid", "test") else "evaluated"
    pictures = []
    known = list(_PER_DATAPOINT)
    for key in sorted(series, key=lambda k: (known.index(k) if k in known else len(known), k)):
        try:
            values = np.asarray(series[key], dtype=np.float64).ravel()
        except (TypeError, ValueError):
            continue
        finite = values[np.isfinite(values)]
        if not re.fullmatch(r"[A-Za-z0-9_]+", key) or finite.size == 0:  # the key names a file
            continue
        xlabel, caption = _PER_DATAPOINT.get(key, (key, f"Per-datapoint {key}"))
        if key == "log_likelihood" and evaluation.get("log_likelihood_method") == "exact":
            caption = "Per-datapoint exact log p(x), in nats"
        if key == "log_likelihood" and evaluation.get("conditioned_on_labels"):
            xlabel, caption = "log p(x|y) (nats)", "Per-datapoint importance-sampled log p(x|y) at the true label, in nats"
        dropped = f"; {values.size - finite.size} non-finite values left out" if finite.size < values.size else ""
        path = plots.histogram(finite, folder / f"per_datapoint_{key}.png", xlabel=xlabel,
                               title=f"{xlabel}, {split} split")
        pictures.append(Picture(path, f"{caption}, over {finite.size} {split}-split datapoints; the red line is "
                                      f"the mean{dropped}."))
    return pictures


def _model_pictures(run_dir: str | Path) -> tuple[Run, Splits, Path, bool, Summary | None, list[Picture]]:
    """Open the run and draw the pictures of what its model learned, on the test split.

    Returns (run, its splits, the pictures' folder, whether the data are images, the test split's `Summary` (None
    for a model without q(z|x)), the pictures).
    """
    from vaekit.runs.evaluate import latent_view

    # Building the model draws initial weights: the whole job runs on a forked RNG, seeded for the samples. no_grad,
    # not inference_mode: a model without an encoder fits q(z|x) by gradient ascent, through its own weights.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        run = open_run(run_dir)
        folder = check_writable(run.path / FILES)  # before the pictures are drawn
        splits = run.load_splits()
        x, y = run.pipeline.fixed(splits.x_test, "test"), splits.y_test
        # Test files are often sorted by class: pictures take their points in a seeded random order.
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(run.train_config.seed))
        x, y = x[order], (None if y is None else y[order])
        image = len(run.model_config.data_shape) == 3
        torch.manual_seed(run.train_config.seed)
        view = latent_view(run.model, x, y)
        summary = summarize(view, x) if view is not None else None
        pictures = (_image_pictures(run, view, x, y, summary, folder) if image else
                    _tabular_pictures(run, view, x, y, folder))
        if isinstance(run.model, Classifier) and y is not None:
            pictures.append(_reliability(run, x, y, folder))
    return run, splits, folder, image, summary, pictures
