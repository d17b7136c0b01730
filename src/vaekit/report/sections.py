"""The report's sections made from a run's files: the evaluation (from ``RUN/evaluation.json``, or how to make
it), its details, the configuration and the provenance.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from vaekit.errors import RunError
from vaekit.estimate import Summary
from vaekit.models import ConditionalModel
from vaekit.report.markup import _e, _figure, _fmt, _head, _kv, _num, _table
from vaekit.report.pictures import Picture
from vaekit.runs import Run
from vaekit.serialized import read_json

EVALUATION = "evaluation.json"  # written by `vaekit evaluate RUN`


# -------------------------------------------------------------------------------------------- evaluation

def _comparison_head(evaluation: dict) -> list[str]:
    of_x = "log p(x|y)" if evaluation.get("conditioned_on_labels") else "log p(x)"
    return ["model", _head(of_x, "nats per datapoint"), _head("± std. error", "nats"),
            _head("ELBO", "nats per datapoint"), _head("reconstruction", "E<sub>q</sub> log p(x|z), nats"),
            _head("KL", "KL(q(z|x) ‖ p(z)), nats"), _head("gap", f"{of_x} − ELBO, nats"),
            _head("bits/dim", "bits per dimension")]


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


def _method(evaluation: dict) -> str:
    """How log p(x) was computed, for the model column."""
    method = evaluation.get("log_likelihood_method", "importance sampling")
    if method == "exact":
        return "exact log p(x): no importance sampling; the error is the standard error over datapoints only"
    return f"{_fmt(method)}, K = {_fmt(evaluation.get('importance_samples'))}"


def _comparison(evaluation: dict, run: Run) -> str:
    """The model's figures from evaluation.json, by what it offers: its log p(x) (or log p(x|y)) and bounds with the
    baselines' rows beside them when present, and a classifier's figures."""
    dataset = _fmt(evaluation.get("dataset", run.data_config.data))
    split, n = _fmt(evaluation.get("split", "test")), _fmt(evaluation.get("n"))
    points = (f"the first {n} points of the {split} split of {dataset}" if evaluation.get("limit") else
              f"{split} split of {dataset}, n = {n}")
    where = f"{points}; {_fmt(evaluation.get('units', 'nats per datapoint'))}"
    parts = [f"<p>From <code>{EVALUATION}</code> ({where}).</p>"]
    if "log_likelihood" in evaluation:
        model = [f"<th>{_head('this run', _method(evaluation))}</th>"] + [_num(evaluation.get(key)) for key in
                 ("log_likelihood", "log_likelihood_stderr", "elbo", "reconstruction", "kl", "gap")]
        model += [_num(evaluation.get("bits_per_dim"), 4)]
        baselines = evaluation.get("baselines")
        if not isinstance(baselines, list):
            baselines = []
        num_dims = math.prod(run.model_config.data_shape)
        conditioned = bool(evaluation.get("conditioned_on_labels"))
        # Side by side only where scored on the model's points (evaluations before vaekit scored the baselines on
        # --limit's points kept them on the whole test split).
        same = [b for b in baselines if isinstance(b, dict) and b.get("n_test") == evaluation.get("n")]
        rows = [model] + ([] if conditioned else [_baseline_row(b, evaluation, num_dims) for b in same])
        note = (" The model is conditional: log p(x|y) at the true labels, not comparable with the baselines' log "
                "p(x)." if conditioned and baselines else
                f" The baselines are scored on the same {_fmt(evaluation.get('n'))} points." if same else "")
        if len(same) < len(baselines) and not conditioned:
            note += (f" {len(baselines) - len(same)} baseline figures of this evaluation.json were scored on other "
                     "points than the model's and are not shown: evaluate again with --baselines --force.")
        intro = ("<p>Higher is better for the log-likelihood and the ELBO, a lower bound on it; bits/dim is "
                 f"lower-better.{note}</p>")
        parts += [intro, _table(_comparison_head(evaluation), rows)]
    if "accuracy" in evaluation:
        head = ["classifier", _head("log p(y|x)", "nats per datapoint"), _head("± std. error", "nats"),
                _head("accuracy", "fraction correct"),
                _head("calibration error", f"ECE, {_fmt(evaluation.get('calibration_bins'))} confidence bins")]
        row = ["<th>this run</th>"] + [_num(evaluation.get(k), 4) for k in
                                       ("label_log_likelihood", "label_log_likelihood_stderr", "accuracy",
                                        "calibration_error")]
        intro = ("<p>The classifier p(y|x) on the labels: higher is better for the log-likelihood and the accuracy, "
                 "lower for the expected calibration error (the reliability diagram is among the pictures).</p>")
        parts += [intro, _table(head, [row])]
    return "\n".join(parts)


_IN_COMPARISON = {"dataset", "split", "n", "elbo", "reconstruction", "kl", "log_likelihood", "log_likelihood_stderr",
                  "gap", "bits_per_dim", "units", "baselines", "importance_samples", "log_likelihood_method",
                  "conditioned_on_labels", "label_log_likelihood", "label_log_likelihood_stderr", "accuracy",
                  "calibration_error", "calibration_bins", "reliability"}
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
    "conditional_log_likelihood": "log p(x|y) at the true labels, importance-sampled" + _NATS,
    "labelled_bound": "labelled bound L(x, y), the ELBO of log p(x, y)" + _NATS,
    "classes": "classes",
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
        return label, "not defined: needs labels and a latent-variable model's q(z|x)"
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


def _not_evaluated(run: Run, summary: Summary | None, problem: str) -> str:
    offset = run.pipeline.log_prob_offset(math.prod(run.model_config.data_shape))
    where = shlex.quote(str(run.path))
    how = (f'<div class="note"><p>{problem}To compute the model\'s figures on the test split, run</p><pre>'
           f"{_e(f'vaekit evaluate {where}')}</pre><p>It writes <code>{EVALUATION}</code> into the run; then make this "
           f"page again with <code>{_e(f'vaekit report {where}')}</code>.</p></div>")
    if summary is None:
        return how
    quick = _table(
        ["split", _head("ELBO", "nats per datapoint"), _head("reconstruction", "nats"), _head("KL", "nats"),
         "active units"],
        [["<th>test</th>", _num(summary.elbo + offset), _num(summary.reconstruction + offset), _num(summary.kl),
          f'<td class="num">{summary.active_units} of {len(summary.posterior_mean_variance)}</td>']],
    )
    return (how + "<p>Meanwhile, the test split's ELBO from one sample of z per datapoint (a lower bound on log p(x)"
            f"{'|y), at the true labels' if isinstance(run.model, ConditionalModel) else ')'}:</p>" + quick)


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
    dataset = config.get("dataset")
    if not isinstance(dataset, dict):
        dataset = {}
    sizes = dataset.get("splits")
    if not isinstance(sizes, dict):
        sizes = {}
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
