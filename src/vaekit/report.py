"""The HTML report of a run: what the model learned (pictures), how well (evaluation), how it was made.

`write_report(run)` writes ``RUN/report.html`` and its pictures, ``RUN/report_files/*.png``. The page is
self-contained apart from those relative links: no network, no external CSS, scripts or fonts. It reads
well from phone to desktop width (tables scroll inside their own box). Everything taken from a file is
HTML-escaped.

Pictures, all drawn by `vaekit.plots`:
    images   samples from the prior, reconstructions, latent interpolations, traversals of the dimensions
             with the most KL, the latent map of posterior means, the decoded manifold (latent_dim == 2)
    tables   per-feature histograms and correlation matrices of test data vs samples, the latent map
    any run  training curves (metrics.jsonl); with ``RUN/evaluation.json`` (`vaekit evaluate RUN`) the
             evaluation table, baselines beside the VAE, and histograms of the per-datapoint figures
"""

from __future__ import annotations

import csv
import html
import json
import math
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vaekit import __version__, plots
from vaekit.checkpoint import METRICS, atomic_write, read_json
from vaekit.data.formats import is_number
from vaekit.errors import RunError
from vaekit.evaluate import Summary, batches, summarize
from vaekit.runs import Run, open_run

__all__ = ["EVALUATION", "FILES", "REPORT", "write_report"]

REPORT = "report.html"
FILES = "report_files"  # the pictures' folder inside the run
EVALUATION = "evaluation.json"  # written by `vaekit evaluate RUN`

NUM_SAMPLES = 64  # prior samples in the grid
NUM_RECONSTRUCTIONS = 32
NUM_INTERPOLATIONS, INTERPOLATION_STEPS = 8, 10
MAX_TRAVERSED = 8  # latent dimensions shown in the traversal, most KL first
TRAVERSAL_VALUES = tuple(np.linspace(-3.0, 3.0, 9))  # prior standard deviations
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


def _decoded(run: Run, z: Tensor, show: Show) -> np.ndarray:
    """The mean of p(x|z) for z [..., d], as shown in a picture: [..., C, H, W] floats in [0, 1]."""
    out = torch.cat([run.model.decode(zb).mean for zb in batches(z.reshape(-1, z.shape[-1]), 1024)])
    return show(out.reshape(*z.shape[:-1], *run.model.data_shape))


def _posterior_means(run: Run, x: Tensor) -> Tensor:
    return torch.cat([run.model.encode(xb).mean for xb in batches(x, 1024)])  # (N, d)


def _latent_map(run: Run, x: Tensor, y: Tensor | None, folder: Path) -> Picture | None:
    d = run.model.latent_dim
    if d < 2:
        return None
    z = _posterior_means(run, x[:MAX_MAP_POINTS]).double().numpy()
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


def _image_pictures(run: Run, x: Tensor, y: Tensor | None, summary: Summary, folder: Path) -> list[Picture]:
    model, d = run.model, run.model.latent_dim
    show = _to_picture(run, x)
    pictures = []
    generator = torch.Generator().manual_seed(run.train_config.seed)
    samples = model.sample(NUM_SAMPLES, mean=True, generator=generator)
    pictures.append(Picture(
        plots.image_grid(show(samples), folder / "samples.png", nrow=8),
        f"{NUM_SAMPLES} samples from the model: the mean of p(x|z) for z ~ p(z) = N(0, I); intensities in [0, 1].",
    ))

    xr = x[:NUM_RECONSTRUCTIONS]
    pictures.append(Picture(
        plots.reconstructions(show(xr), _decoded(run, model.encode(xr).mean, show), folder / "reconstructions.png"),
        "Test inputs (upper row of each pair) above their reconstructions: the mean of p(x|z) at z = E[z|x]; "
        "intensities in [0, 1].",
    ))

    pairs = min(NUM_INTERPOLATIONS, x.shape[0] // 2)
    if pairs:
        z = _posterior_means(run, x[: 2 * pairs])
        t = torch.linspace(0, 1, INTERPOLATION_STEPS)[None, :, None]  # (1, S, 1)
        line = (1 - t) * z[:pairs, None] + t * z[pairs:, None]  # (R, S, d)
        pictures.append(Picture(
            plots.interpolations(_decoded(run, line, show), folder / "interpolations.png"),
            f"Each row decodes {INTERPOLATION_STEPS} evenly spaced points on the straight line between two test "
            "inputs' posterior means (left and right ends); decoded means, intensities in [0, 1].",
        ))

    kl = torch.tensor(summary.kl_per_dim)
    dims = torch.argsort(kl, descending=True, stable=True)[:MAX_TRAVERSED].tolist()
    values = torch.tensor(TRAVERSAL_VALUES, dtype=torch.float32)
    z = torch.zeros(len(dims), len(values), d)
    for row, dim in enumerate(dims):
        z[row, :, dim] = values
    which = (f"all {d} latent dimensions, most KL on the test split first" if len(dims) == d else
             f"the {len(dims)} of {d} latent dimensions with the most KL on the test split")
    pictures.append(Picture(
        plots.traversals(_decoded(run, z, show), folder / "traversals.png", dims=dims, values=TRAVERSAL_VALUES,
                         kl=[summary.kl_per_dim[i] for i in dims]),
        f"Traversals of {which} (nats per datapoint, in the labels): one dimension set to -3 ... 3 prior standard "
        "deviations, the others at 0.",
    ))

    latent = _latent_map(run, x, y, folder)
    if latent is not None:
        pictures.append(latent)
    if d == 2:
        g = MANIFOLD_SIDE
        q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, g))
        z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # rows: z2 from high (top) to low
        grid = torch.stack([z1, z2], -1).reshape(g * g, 2)
        pictures.append(Picture(
            plots.manifold(_decoded(run, grid, show), folder / "manifold.png"),
            f"The decoded manifold: means of p(x|z) on a {g} x {g} grid at the prior's 5% ... 95% quantiles "
            "(z1 left to right, z2 bottom to top); intensities in [0, 1].",
        ))
    return pictures


def _feature_names(run: Run, num_features: int) -> list[str] | None:
    """Column names from the header of the run's CSV file, when it has one and it is still there."""
    path = Path(run.data_config.data)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    names = [h.strip() for h in header]
    if len(names) != num_features or any(is_number(n) for n in names):
        return None  # no header row (as the CSV reader decides), or not one name per feature
    return [n.replace("$", r"\$") for n in names]  # a literal $, not matplotlib's maths mode


def _tabular_pictures(run: Run, x: Tensor, y: Tensor | None, folder: Path) -> list[Picture]:
    z = torch.randn(NUM_GENERATED, run.model.latent_dim)
    generated = torch.cat([run.model.decode(zb).sample() for zb in batches(z, 1024)]).double().numpy()
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
    latent = _latent_map(run, x, y, folder)
    return pictures + ([latent] if latent is not None else [])


def _history(run_path: Path) -> tuple[list[dict], str]:
    """metrics.jsonl as per-epoch dicts, or [] and why."""
    try:
        lines = (run_path / METRICS).read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as e:
        return [], f"{METRICS} could not be read ({e})."
    rows = [row for row in rows if isinstance(row, dict)]
    return rows, "" if rows else f"{METRICS} holds no epochs yet."


def _curves(history: list[dict], folder: Path) -> Picture:
    # plots.training_curves takes the keys without the units suffix that metrics.jsonl carries.
    renamed = [{k.removesuffix("_nats"): v for k, v in row.items()} for row in history]
    return Picture(plots.training_curves(renamed, folder / "training_curves.png"),
                   f"ELBO, reconstruction term and KL per epoch ({len(history)} epochs), train (solid) and "
                   "validation (dashed), in nats per datapoint.")


_PER_DATAPOINT = {  # key -> (x-axis label, caption)
    "gap": ("log p(x) - ELBO (nats)",
            "Per-datapoint gap log p(x) - ELBO, an estimate of KL(q(z|x) || p(z|x)), in nats"),
    "log_likelihood": ("log p(x) (nats)", "Per-datapoint importance-sampled log p(x), in nats"),
    "elbo": ("ELBO (nats)", "Per-datapoint ELBO, in nats"),
    "ess": ("effective sample size", "Per-datapoint effective sample size of the importance weights (of K)"),
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
        dropped = f"; {values.size - finite.size} non-finite values left out" if finite.size < values.size else ""
        path = plots.histogram(finite, folder / f"per_datapoint_{key}.png", xlabel=xlabel,
                               title=f"{xlabel}, {split} split")
        pictures.append(Picture(path, f"{caption}, over {finite.size} {split}-split datapoints; the red line is "
                                      f"the mean{dropped}."))
    return pictures


# ----------------------------------------------------------------------------------------------- HTML

_CSS = """
:root { color-scheme: light; --fg: #1d1f23; --muted: #5d6470; --line: #d9dce1; --box: #f5f6f8; --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       color: var(--fg); background: #fff; }
main { max-width: 960px; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2.25rem 0 .75rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
p { overflow-wrap: anywhere; }
.lead { color: var(--muted); margin: 0 0 1rem; }
nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .95rem; }
a { color: var(--accent); }
figure { margin: 1.25rem 0 1.75rem; text-align: center; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; text-align: left; }
.scroll { overflow-x: auto; max-width: 100%; margin: .5rem 0 1rem; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; font-size: .9rem; width: 100%; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
tr:last-child > * { border-bottom: 0; }
thead th { background: var(--box); vertical-align: bottom; }
th small { display: block; font-weight: normal; font-size: .78rem; color: var(--muted); min-width: 5.5em;
           white-space: normal; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tbody th { font-weight: 600; white-space: nowrap; }
.kv th { width: 45%; font-weight: normal; color: var(--muted); white-space: normal; }
.note { background: var(--box); border-left: 4px solid var(--accent); padding: .1rem .9rem; margin: 1rem 0; }
code, pre { font: .85rem/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: var(--box); padding: .6rem .8rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: .5rem 0; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr)); gap: 0 1rem; }
footer { color: var(--muted); font-size: .85rem; margin-top: 2.5rem; }
"""

_e = html.escape


def _fmt(value: object, digits: int | None = 3) -> str:
    """A value from a file as escaped text: floats to `digits` decimals (None: 6 significant digits), None as a
    dash, dicts and short lists flattened."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isfinite(value):
        if digits is None:
            return f"{value:.6g}"
        return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10**-digits else f"{value:.3g}"
    if isinstance(value, dict):
        return "; ".join(f"{_e(str(k))} = {_fmt(v, digits)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value) if len(value) <= 12 else f"{len(value)} values"
    return _e(str(value))


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table in a box that scrolls sideways rather than widening the page; cells are HTML already."""
    thead = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table></div>'


def _kv(rows: list[tuple[str, str]]) -> str:
    """A two-column key/value table; keys and values are HTML already."""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'


def _num(value: object, digits: int = 3) -> str:
    return f'<td class="num">{_fmt(value, digits)}</td>'


def _head(name: str, unit: str) -> str:
    return f"{name}<small>{unit}</small>"


def _figure(picture: Picture, run_path: Path) -> str:
    with Image.open(picture.path) as im:
        width, height = im.size
    src = _e(picture.path.relative_to(run_path).as_posix())
    caption = _e(picture.caption)
    return (f'<figure><img src="{src}" alt="{caption}" width="{width}" height="{height}">'
            f"<figcaption>{caption}</figcaption></figure>")


# -------------------------------------------------------------------------------------------- evaluation

_COMPARISON_HEAD = [
    "model", _head("log p(x)", "nats per datapoint"), _head("± std. error", "nats"),
    _head("ELBO", "nats per datapoint"), _head("reconstruction", "E<sub>q</sub> log p(x|z), nats"),
    _head("KL", "KL(q(z|x) ‖ p(z)), nats"), _head("gap", "log p(x) − ELBO, nats"),
    _head("bits/dim", "bits per dimension"),
]


def _baseline_row(row: object, evaluation: dict, num_dims: int) -> list[str]:
    if not isinstance(row, dict):
        return [f"<th>{_fmt(row)}</th>"] + ["<td></td>"] * 7
    ll, bits = row.get("log_likelihood"), row.get("bits_per_dim")
    # Baselines score the same discrete log-probability bound as the VAE, so bits/dim follow the same rule.
    if bits is None and evaluation.get("bits_per_dim") is not None and isinstance(ll, (int, float)):
        bits = -ll / (num_dims * math.log(2))
    details = [_fmt(row.get("hyperparameters"), None)] if row.get("hyperparameters") else []
    details += [_fmt(row["note"])] if row.get("note") else []
    name = _head(_fmt(row.get("name", "baseline")), "; ".join(details))
    return [f"<th>{name}</th>", _num(ll), _num(row.get("stderr"))] + ["<td></td>"] * 4 + [_num(bits, 4)]


def _comparison(evaluation: dict, run: Run) -> str:
    """The VAE's figures from evaluation.json, with the baselines' rows beside them when present."""
    method = f"importance sampling, K = {_fmt(evaluation.get('importance_samples'))}"
    vae = [f"<th>{_head('VAE (this run)', method)}</th>"] + [_num(evaluation.get(key)) for key in
            ("log_likelihood", "log_likelihood_stderr", "elbo", "reconstruction", "kl", "gap")]
    vae += [_num(evaluation.get("bits_per_dim"), 4)]
    baselines = evaluation.get("baselines") if isinstance(evaluation.get("baselines"), list) else []
    num_dims = math.prod(run.model.data_shape)
    rows = [vae] + [_baseline_row(b, evaluation, num_dims) for b in baselines]
    dataset = _fmt(evaluation.get("dataset", run.data_config.data))
    where = (f"{_fmt(evaluation.get('split', 'test'))} split of {dataset}, n = {_fmt(evaluation.get('n'))}; "
             f"{_fmt(evaluation.get('units', 'nats per datapoint'))}")
    return (f"<p>From <code>{EVALUATION}</code> ({where}). Higher is better for log p(x) and the ELBO, a lower "
            "bound on it; bits/dim is lower-better.</p>" + _table(_COMPARISON_HEAD, rows))


_IN_COMPARISON = {"dataset", "split", "n", "elbo", "reconstruction", "kl", "log_likelihood", "log_likelihood_stderr",
                  "gap", "bits_per_dim", "units", "baselines", "importance_samples"}
_NATS = " (nats per datapoint)"
_GAP_SPLIT = {  # Cremer, Li & Duvenaud 2018, Inference Suboptimality in Variational Autoencoders
    "gap_points": "test datapoints used",
    "gap_steps": "Adam steps fitting the optimal q* per datapoint",
    "gap_split_log_likelihood": "log p(x) on those datapoints" + _NATS,
    "elbo_optimal": "ELBO with the optimal q*" + _NATS,
    "elbo_encoder": "ELBO with the encoder's q(z|x)" + _NATS,
    "approximation_gap": "approximation gap log p(x) − ELBO[q*]" + _NATS,
    "amortization_gap": "amortization gap ELBO[q*] − ELBO[q]" + _NATS,
    "total_gap": "total gap log p(x) − ELBO[q]" + _NATS,
}
_DIAGNOSTICS = {  # evaluation.json key -> row label (HTML); keys not listed anywhere are shown by name
    "active_units": "active units (Cov<sub>x</sub>(E[z<sub>j</sub>|x]) &gt; 0.01)",
    "log_likelihood_ess_mean": "mean effective sample size of the importance weights (of K)",
    "log_likelihood_ess_min": "smallest effective sample size",
    "low_ess_points": "datapoints whose log p(x) estimate is unreliable (low effective sample size)",
    "gap_stderr": "gap, standard error (nats)",
    "log_prob_offset": "offset −D log(levels) included in the log-probabilities (nats)",
    "probe": "linear probe: test accuracy of logistic regression",
}
_NOT_DIAGNOSTICS = _IN_COMPARISON | set(_GAP_SPLIT) | {"latent_dim", "kl_per_dim", "per_datapoint", "low_ess_threshold"}


def _diagnostic(key: str, evaluation: dict) -> tuple[str, str] | None:
    value = evaluation[key]
    label = _DIAGNOSTICS.get(key, _e(str(key)))
    if key == "active_units":
        return label, f"{_fmt(value)} of {_fmt(evaluation.get('latent_dim'))}"
    if key == "low_ess_points" and isinstance(evaluation.get("low_ess_threshold"), (int, float)):
        return f"{label}, ESS &lt; {evaluation['low_ess_threshold']:g}", _fmt(value)
    if key == "log_prob_offset" and not value:
        return None  # no dequantization: nothing to say
    if key == "probe" and isinstance(value, dict) and {"latent_accuracy", "raw_accuracy"} <= set(value):
        text = f"{_fmt(value['latent_accuracy'])} on posterior means, {_fmt(value['raw_accuracy'])} on raw inputs"
        text += f"; {_fmt(value['note'])}" if value.get("note") else ""
        text += "; the classifier did not converge" if value.get("converged") is False else ""
        return label, text
    if key == "probe" and value is None:
        return label, "the data has no labels"
    return label, _fmt(value)


def _evaluation_details(evaluation: dict, run: Run, pictures: list[Picture]) -> str:
    """Everything in evaluation.json besides the comparison table: diagnostics, the gap split, KL per
    dimension, and the per-datapoint histograms."""
    parts = [_figure(p, run.path) for p in pictures[:1]]  # the gap histogram leads
    rows = [_diagnostic(k, evaluation) for k in evaluation if k not in _NOT_DIAGNOSTICS]
    if any(rows):
        parts += ["<h3>Diagnostics</h3>", _kv([r for r in rows if r])]
    split = [(label, _fmt(evaluation[key])) for key, label in _GAP_SPLIT.items() if key in evaluation]
    if split:
        parts += ["<h3>Where the gap comes from</h3>",
                  ("<p>The gap splits into an approximation gap (no Gaussian q fits p(z|x) better than the optimum "
                   "q*, fitted per datapoint) and an amortization gap (the encoder falls short of q*); Cremer, Li "
                   "&amp; Duvenaud 2018.</p>"), _kv(split)]
    kl = evaluation.get("kl_per_dim")
    if isinstance(kl, list) and kl:
        parts += ["<h3>KL per latent dimension</h3>",
                  _table(["dimension"] + [f"z{i}" for i in range(len(kl))],
                         [["<th>KL (nats per datapoint)</th>"] + [_num(v, 2) for v in kl]])]
    parts += [_figure(p, run.path) for p in pictures[1:]]
    return "\n".join(parts)


def _not_evaluated(run: Run, summary: Summary, problem: str) -> str:
    offset = run.pipeline.log_prob_offset(math.prod(run.model.data_shape))
    where = shlex.quote(str(run.path))
    quick = _table(
        ["split", _head("ELBO", "nats per datapoint"), _head("reconstruction", "nats"), _head("KL", "nats"),
         "active units"],
        [["<th>test</th>", _num(summary.elbo + offset), _num(summary.reconstruction + offset), _num(summary.kl),
          f'<td class="num">{summary.active_units} of {run.model.latent_dim}</td>']],
    )
    return (f'<div class="note"><p>{problem}To estimate log p(x) by importance sampling, with the gap, bits/dim '
            f"and more, run</p><pre>{_e(f'vaekit evaluate {where}')}</pre><p>It writes <code>{EVALUATION}</code> "
            f"into the run; then make this page again with <code>{_e(f'vaekit report {where}')}</code>.</p></div>"
            "<p>Meanwhile, the test split's ELBO from one sample of z per datapoint (a lower bound on log p(x)):</p>"
            + quick)


def _read_evaluation(run_path: Path) -> tuple[dict | None, str]:
    """evaluation.json as a dict, or None and why not (HTML)."""
    path = run_path / EVALUATION
    if not path.exists():
        return None, f"This run has not been evaluated yet (no <code>{EVALUATION}</code>). "
    try:
        evaluation = read_json(path)
    except RunError as e:
        return None, f"<code>{EVALUATION}</code> could not be read: {_e(str(e))}. "
    if not isinstance(evaluation, dict):
        return None, f"<code>{EVALUATION}</code> is not a JSON object. "
    return evaluation, ""


# ---------------------------------------------------------------------------------------- configuration


def _config_section(config: dict) -> str:
    parts = []
    for section in ("model", "data", "train", "pipeline"):
        values = config.get(section)
        if isinstance(values, dict):
            rows = [(_e(str(k)), _fmt(v, None)) for k, v in values.items()]
            parts.append(f"<div><h3>{section}</h3>{_kv(rows)}</div>")
    return (f'<p>From <code>config.json</code>; "—" means the default for the data.</p>'
            f'<div class="columns">{"".join(parts)}</div>')


def _provenance_section(config: dict) -> str:
    command = config.get("command")
    if isinstance(command, list) and command:
        shown = f"<pre>{_e(shlex.join(str(c) for c in command))}</pre>"
    else:
        shown = "<p>The command line was not recorded: the run was trained from Python, not the vaekit command.</p>"
    dataset = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    sizes = dataset.get("splits") if isinstance(dataset.get("splits"), dict) else {}
    rows = [
        ("dataset", _fmt(dataset.get("name"))),
        ("source", _fmt(dataset.get("source"))),
        ("data shape", " × ".join(_fmt(s) for s in dataset.get("data_shape") or []) or "—"),
        ("levels per dimension", _fmt(dataset.get("levels")) if dataset.get("levels") else "real-valued"),
        ("split sizes (train / validation / test)", " / ".join(_fmt(sizes.get(s)) for s in ("train", "valid", "test"))),
        ("vaekit version", _fmt(config.get("vaekit_version"))),
        ("torch version", _fmt(config.get("torch_version"))),
        ("trained", _fmt(config.get("created"))),
    ]
    return shown + _kv(rows)


def _page(title: str, lead: str, sections: list[tuple[str, str, str]]) -> str:
    nav = "".join(f'<a href="#{key}">{heading}</a>' for key, heading, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{heading}</h2>\n{content}\n</section>'
                     for key, heading, content in sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class="lead">{lead}</p>
<nav>{nav}</nav>
{body}
<footer>Made by vaekit {_e(__version__)} on {_e(time.strftime("%Y-%m-%d %H:%M"))}.
Figures are per datapoint, in nats, unless a name says otherwise.</footer>
</main>
</body>
</html>
"""


# ----------------------------------------------------------------------------------------------- entry


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report.html``: evaluation, pictures, training curves, configuration and provenance.

    Pictures go to ``RUN/report_files/`` (PNG, drawn by `vaekit.plots`, each written atomically) and are linked
    from the page by relative paths, so the run folder can be moved or served as it is. Random draws (prior
    samples, tabular samples) are seeded with the run's seed, so the same run gives the same pictures, and the
    caller's global RNG state is left as it was.

    Args:
        run_dir: a run directory made by `vaekit train`. ``RUN/evaluation.json`` (from `vaekit evaluate RUN`) is
            shown when present; without it the page says how to make it.

    Returns:
        The `Path` of the report, written atomically.

    Raises:
        RunError: the directory is not a loadable run, or its data can no longer be loaded.

    Example:
        >>> write_report("runs/demo")
        PosixPath('runs/demo/report.html')
    """
    # Building the model draws initial weights: the whole job runs on a forked RNG, seeded for the samples.
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        run = open_run(run_dir)
        folder = run.path / FILES
        folder.mkdir(exist_ok=True)
        splits = run.load_splits()
        x, y = run.pipeline.fixed(splits.x_test, "test"), splits.y_test
        # Test files are often sorted by class: pictures take their points in a seeded random order.
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(run.train_config.seed))
        x, y = x[order], (None if y is None else y[order])
        image = len(run.model.data_shape) == 3
        torch.manual_seed(run.train_config.seed)
        summary = summarize(run.model, x)
        pictures = _image_pictures(run, x, y, summary, folder) if image else _tabular_pictures(run, x, y, folder)
    history, no_history = _history(run.path)
    evaluation, problem = _read_evaluation(run.path)

    m = run.model_config
    title = f"vaekit report: {_e(run.path.resolve().name)}"
    lead = (f"A VAE with a {_e(m.likelihood)} likelihood, {_e(m.network)} networks (hidden "
            f"{_e(' × '.join(map(str, m.hidden)))}) and a {m.latent_dim}-dimensional latent space, trained on "
            f"{_e(splits.name)} for {len(history)} epochs.")
    what = (f"images of shape {_e(' × '.join(map(str, m.data_shape)))}" if image else
            f"rows of a table with {m.data_shape[0]} features")
    sections = [
        ("evaluation", "Evaluation",
         _comparison(evaluation, run) if evaluation is not None else _not_evaluated(run, summary, problem)),
        ("pictures", "What the model learned",
         f"<p>The data are {what}; the pictures use the test split and the best weights (by validation "
         "ELBO).</p>\n" + "\n".join(_figure(p, run.path) for p in pictures)),
        ("training", "Training curves",
         _figure(_curves(history, folder), run.path) if history else f"<p>{_e(no_history)}</p>"),
    ]
    if evaluation is not None:
        details = _evaluation_details(evaluation, run, _per_datapoint(evaluation, folder))
        sections.append(("details", "Evaluation details", details))
    sections += [
        ("config", "Configuration", _config_section(run.config)),
        ("provenance", "How this run was produced", _provenance_section(run.config)),
    ]
    out = run.path / REPORT
    atomic_write(out, _page(title, lead, sections).encode("utf-8"))
    return out
