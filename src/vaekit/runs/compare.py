"""Runs side by side: each run's figures, the settings that differ between them, and which of their evaluations
can be ranked together.

Every figure comes from a run's files: config.json (read through the schema, `vaekit.runs.read_config`),
metrics.jsonl (epochs, training time, the best validation figure) and evaluation.json (`vaekit evaluate`: test
ELBO, log p(x) with its standard error and K, the gap and its split, active units, bits/dim). Other files a run
holds are left alone. log p(x) depends on the data, the split, the points scored and K (it is biased low for
finite K), so runs evaluated differently are put in separate groups, flagged, and ranked only within a group.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vaekit.config import to_dict
from vaekit.errors import RunError, VaekitError, cut
from vaekit.files import read_text
from vaekit.models import latent_dim_of
from vaekit.runs import read_config
from vaekit.serialized import read_json
from vaekit.train.state import CONFIG, METRICS

EVALUATION = "evaluation.json"
#: evaluation.json's figures that the comparison shows (nats per datapoint unless the name says otherwise).
FIGURES = ("elbo", "log_likelihood", "log_likelihood_stderr", "importance_samples", "gap", "gap_stderr",
           "approximation_gap", "amortization_gap", "gap_points", "active_units", "latent_dim", "bits_per_dim",
           "accuracy", "conditioned_on_labels", "dataset", "split", "n", "units")
#: What makes two evaluations comparable: the same values of these (evaluation.json's, and the data split's seed,
#: which decides which points a split holds). A conditional model's log p(x|y) is no log p(x): its own group.
SETTING = ("dataset", "split_seed", "split", "n", "importance_samples", "units", "conditioned_on_labels")


@dataclass
class RunFigures:
    """One run's figures, read from its files. `evaluation` is None when the run has no (readable)
    evaluation.json; `problems` says what could not be read."""

    path: Path
    kind: str
    model: str                     # one sentence: the model config's `describe()`
    prior: str | None              # the prior's name where the model kind has one
    objective: str                 # what training maximised: the objective's `describe()`
    dataset: str
    epochs: int                    # completed
    epochs_planned: int
    best_epoch: int | None
    best_by: str                   # the validation figure that picked the saved weights (a metrics.jsonl key)
    best_valid: float | None       # its value at the best epoch, nats per datapoint
    train_seconds: float | None    # the epochs' seconds added up (validation included)
    parameters: int
    latent_dim: int | None         # None for a model without latent variables (a classifier, MADE)
    settings: dict[str, Any]       # "section.key" -> value: the configs, as validated (defaults filled in)
    history: list[dict] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None
    log_likelihoods: list[float] | None = None  # evaluation.json's per-datapoint log p(x), in the split's order
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)

    def setting(self) -> tuple | None:
        """The evaluation setting (data, split seed, split, points, K, units), or None when not evaluated."""
        if self.evaluation is None:
            return None
        known = {**self.evaluation, "split_seed": self.settings.get("data.split_seed"),
                 "conditioned_on_labels": bool(self.evaluation.get("conditioned_on_labels"))}
        return tuple(known.get(key) for key in SETTING)


@dataclass
class Comparison:
    """Runs side by side (see the module docstring)."""

    runs: list[RunFigures]
    differences: dict[str, list[Any]]   # "section.key" -> each run's value, for the settings that differ
    groups: list[list[int]]             # indices of runs evaluated alike, one list per evaluation setting
    ranks: list[int | None]             # rank by log p(x) within the run's group (1 = highest), None if alone
    flags: list[str]                    # what a reader must know before comparing the figures
    # log p(x) minus the group's best, and the standard error of that difference over the same datapoints
    # (paired), where both runs recorded their per-datapoint figures; None otherwise.
    behind: list[tuple[float, float] | None] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the runs' figures (without the per-epoch history), differences, groups, flags."""
        runs = []
        for run, rank in zip(self.runs, self.ranks):
            row = {k: v for k, v in vars(run).items() if k not in ("history", "settings", "log_likelihoods")}
            row.update(path=str(run.path), name=run.name, rank=rank)
            runs.append(row)
        for row, behind in zip(runs, self.behind or [None] * len(runs)):
            row["log_likelihood_behind_best"] = None if behind is None else {"difference": behind[0],
                                                                             "stderr": behind[1]}
        groups = [{"setting": dict(zip(SETTING, self.runs[g[0]].setting() or ())), "runs": [self.runs[i].name
                                                                                          for i in g]}
                  for g in self.groups]
        return {"units": "nats per datapoint", "runs": runs, "differences": self.differences, "groups": groups,
                "flags": self.flags}


def _history(path: Path) -> tuple[list[dict], str | None]:
    try:
        rows = [json.loads(line) for line in read_text(path / METRICS).splitlines() if line.strip()]
    except (VaekitError, ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, 4300+ digit integers
        return [], f"{path / METRICS} could not be read ({cut(str(e), 200)})"
    return [row for row in rows if isinstance(row, dict)], None


def _evaluation(path: Path) -> tuple[dict | None, list[float] | None, str | None]:
    """evaluation.json's figures, its per-datapoint log p(x) (when it holds all n of them), and what went wrong."""
    file = path / EVALUATION
    if not file.exists():
        return None, None, None
    try:
        figures = read_json(file)
    except RunError as e:
        return None, None, f"{file} could not be read ({cut(str(e), 200)})"
    if not isinstance(figures, dict):
        return None, None, f"{file} is not a JSON object"
    values = (figures.get("per_datapoint") or {}).get("log_likelihood") if isinstance(figures.get("per_datapoint"),
                                                                                     dict) else None
    usable = (isinstance(values, list) and len(values) == figures.get("n")
              and all(_number(v) is not None and math.isfinite(v) for v in values))
    return {key: figures[key] for key in FIGURES if key in figures}, values if usable else None, None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_run(path: str | Path) -> RunFigures:
    """One run's figures from its directory. A directory that is not a run is a `RunError`; a missing or broken
    metrics.jsonl or evaluation.json is noted in `problems`."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory")
    config, spec, pipeline = read_config(path / CONFIG)
    kind, model_config, objective = spec.kind, spec.model_config, spec.objective
    data_config, train_config = spec.data_config, spec.train_config
    with torch.random.fork_rng(devices=[]):  # building the model draws initial weights
        model = spec.build_model()
    history, problem = _history(path)
    evaluation, log_likelihoods, eval_problem = _evaluation(path)
    best_by = config.get("best_by", "valid_elbo_nats")
    scored = [(row[best_by], row.get("epoch")) for row in history if _number(row.get(best_by)) is not None]
    best_valid, best_epoch = max(scored, key=lambda t: t[0]) if scored else (None, None)
    seconds = [_number(row.get("epoch_seconds")) for row in history]
    settings: dict[str, Any] = {"kind": kind}
    for section, values in (("model", to_dict(model_config)), ("objective", {"name": objective.name,
                                                                            **to_dict(objective.config)}),
                            ("data", to_dict(data_config)), ("train", to_dict(train_config)),
                            ("pipeline", to_dict(pipeline))):
        settings.update({f"{section}.{k}": list(v) if isinstance(v, tuple) else v for k, v in values.items()})
    settings.update({key: config.get(key) for key in ("processes", "vaekit_version", "torch_version")})
    prior = getattr(model_config, "prior", None)
    components = getattr(model_config, "prior_components", None)
    return RunFigures(
        path=path, kind=kind,
        model=model_config.describe() if hasattr(model_config, "describe") else kind,
        prior=None if prior is None else prior + (f" ({components} components)" if components else ""),
        objective=objective.describe(), dataset=str((config.get("dataset") or {}).get("name", data_config.data)),
        epochs=len(history), epochs_planned=train_config.epochs, best_epoch=best_epoch, best_by=best_by,
        best_valid=best_valid, train_seconds=sum(s for s in seconds if s is not None) if history else None,
        parameters=sum(p.numel() for p in model.parameters()), latent_dim=latent_dim_of(model),
        settings=settings,
        history=history, evaluation=evaluation, log_likelihoods=log_likelihoods,
        problems=[p for p in (problem, eval_problem) if p],
    )


def _differences(runs: Sequence[RunFigures]) -> dict[str, list[Any]]:
    keys = list(dict.fromkeys(k for run in runs for k in run.settings))
    missing = object()
    differ = {}
    for key in keys:
        values = [run.settings.get(key, missing) for run in runs]
        if any(v != values[0] for v in values[1:]):
            differ[key] = [None if v is missing else v for v in values]
    return differ


def _short_setting(setting: tuple) -> str:
    values = dict(zip(SETTING, setting))
    n = values["n"]
    return f"{values['split']} split, n = {n:,}" if isinstance(n, int) else f"{values['split']} split"


def describe_setting(setting: tuple) -> str:
    """'test split of digits, n = 359, K = 1000' for an evaluation setting."""
    values = dict(zip(SETTING, setting))
    k = values["importance_samples"]
    return (f"{values['split']} split of {values['dataset']} (split seed {values['split_seed']}), n = {values['n']}, "
            + (f"K = {k}" if k is not None else "no importance sampling")
            + (", log p(x|y) at the true labels" if values.get("conditioned_on_labels") else "")
            + (f" ({values['units']})" if values["units"] not in (None, "nats per datapoint") else ""))


def _behind(best: list[float], other: list[float]) -> tuple[float, float]:
    """Mean of other - best over the same datapoints, and its standard error (paired: std of the differences
    over sqrt(n))."""
    d = [o - b for o, b in zip(other, best)]
    mean = math.fsum(d) / len(d)
    var = math.fsum((x - mean) ** 2 for x in d) / (len(d) - 1) if len(d) > 1 else math.nan
    return mean, math.sqrt(var / len(d))


def compare_runs(paths: Sequence[str | Path]) -> Comparison:
    """Read the runs and put them side by side (see the module docstring)."""
    runs = [read_run(p) for p in paths]
    settings: dict[tuple, list[int]] = {}
    for i, run in enumerate(runs):
        setting = run.setting()
        if setting is not None:
            settings.setdefault(setting, []).append(i)
    groups = list(settings.values())
    lls = [_number(run.evaluation.get("log_likelihood")) if run.evaluation else None for run in runs]
    ranks: list[int | None] = [None] * len(runs)
    for members in groups:
        scored = [(ll, i) for i in members if (ll := lls[i]) is not None and math.isfinite(ll)]
        if len(scored) > 1:
            for rank, (_, i) in enumerate(sorted(scored, key=lambda t: -t[0]), 1):
                ranks[i] = rank
    flags = []
    if len(groups) > 1:
        parts = [f"{_letter(g)} = {describe_setting(s)}: {', '.join(runs[i].name for i in m)}"
                 for g, (s, m) in enumerate(settings.items())]
        flags.append("evaluated differently, so log p(x), the gap and bits/dim are ranked only within each group "
                     "(log p(x) is biased low by an amount that depends on K and the points): " + "; ".join(parts))
    for members in groups:
        seeds = {runs[i].settings.get("pipeline.seed") for i in members}
        noisy = any(runs[i].settings.get("pipeline.binarize") != "none" or runs[i].settings.get("pipeline.dequantize")
                    for i in members)
        if noisy and len(seeds) > 1:
            flags.append(f"{', '.join(runs[i].name for i in members)} scored different draws of the binarized or "
                         "dequantized split (each run draws it with its own seed); the differences include that "
                         "noise")
    not_evaluated = [run.name for run in runs if run.evaluation is None and not (run.path / EVALUATION).exists()]
    if not_evaluated:
        flags.append(f"not evaluated: {', '.join(not_evaluated)} (run `vaekit evaluate RUN` for log p(x))")
    for run in runs:
        flags += [f"{run.name}: {problem}" for problem in run.problems]
    behind: list[tuple[float, float] | None] = [None] * len(runs)
    for members in groups:
        best = next((i for i in members if ranks[i] == 1), None)
        best_values = runs[best].log_likelihoods if best is not None else None
        for i in members:
            values = runs[i].log_likelihoods
            if best_values is not None and values is not None and i != best:
                behind[i] = _behind(best_values, values)
    return Comparison(runs, _differences(runs), groups, ranks, flags, behind)


# ------------------------------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Row:
    """One row of the side-by-side table: a label, its unit, one cell of text per run, and the runs whose value
    is the best of their evaluation group (of two or more runs)."""

    label: str
    unit: str
    cells: list[str]
    best: frozenset[int] = frozenset()


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if math.isfinite(value) else str(value)
    return str(value)


def _letter(group: int) -> str:
    """The name of evaluation group `group`: A, B, ..., Z, AA, AB, ..."""
    return (_letter(group // 26 - 1) if group >= 26 else "") + chr(ord("A") + group % 26)


def _evaluated(comparison: Comparison, key: str) -> list[Any]:
    return [None if run.evaluation is None else run.evaluation.get(key) for run in comparison.runs]


def _best(comparison: Comparison, values: list[Any], higher: bool) -> frozenset[int]:
    best: set[int] = set()
    for members in comparison.groups:
        scored = [i for i in members if _number(values[i]) is not None and math.isfinite(values[i])]
        if len(scored) > 1:
            top = (max if higher else min)(values[i] for i in scored)
            best.update(i for i in scored if values[i] == top)
    return frozenset(best)


def table(comparison: Comparison) -> list[Row]:
    """The side-by-side table, runs as columns: what was trained, how, and (for evaluated runs) the figures of
    evaluation.json, with the best of each evaluation group marked."""
    runs = comparison.runs
    rows = [
        Row("model", "", [run.kind for run in runs]),
        Row("prior", "", [run.prior or "—" for run in runs]),
        Row("objective", "", [run.objective.removeprefix("the ") for run in runs]),
        Row("dataset", "", [run.dataset for run in runs]),
        Row("epochs", "done of planned", [f"{run.epochs} of {run.epochs_planned}" for run in runs]),
        Row("best epoch", "", [_fmt(run.best_epoch) for run in runs]),
        Row("best validation figure", "nats",
            [f"{_fmt(run.best_valid)} ({run.best_by.removeprefix('valid_').removesuffix('_nats')})"
             if run.best_valid is not None else "—" for run in runs]),
        Row("training time", "s", [_fmt(run.train_seconds, 1) for run in runs]),
        Row("parameters", "", [_fmt(run.parameters) for run in runs]),
        Row("latent dimensions", "", [_fmt(run.latent_dim) for run in runs]),
    ]
    if not comparison.groups:
        return rows
    group_of = {i: g for g, members in enumerate(comparison.groups) for i in members}
    letters = {i: _letter(g) for i, g in group_of.items()}
    ranked = [sum(comparison.ranks[i] is not None for i in members) for members in comparison.groups]
    several = len(comparison.groups) > 1

    def figure(label: str, unit: str, key: str, higher: bool | None, digits: int = 3) -> Row:
        values = _evaluated(comparison, key)
        best = _best(comparison, values, higher) if higher is not None else frozenset()
        return Row(label, unit, [_fmt(v, digits) for v in values], best)

    ll, stderr = _evaluated(comparison, "log_likelihood"), _evaluated(comparison, "log_likelihood_stderr")
    given_y = [" (log p(x|y))" if c else "" for c in _evaluated(comparison, "conditioned_on_labels")]
    rows += [
        Row("evaluated on", "group" if several else "",
            [(f"{letters[i]}: " if several else "") + _short_setting(s) if (s := run.setting()) else "—"
             for i, run in enumerate(runs)]),
        figure("ELBO", "nats", "elbo", True),
        Row("log p(x)", "nats ± std. error",
            [f"{_fmt(v)} ± {_fmt(e)}{y}" if _number(v) is not None else "—" for v, e, y in zip(ll, stderr, given_y)],
            _best(comparison, ll, True)),
        Row("log p(x) − the best", "nats, paired std. error",
            [f"{_fmt(b[0])} ± {_fmt(b[1])}" if b is not None else "—" for b in comparison.behind]),
        figure("K", "importance samples", "importance_samples", None),
        figure("gap", "nats", "gap", False),
    ]
    if any(v is not None for v in _evaluated(comparison, "approximation_gap")):
        rows += [figure("approximation gap", "nats", "approximation_gap", False),
                 figure("amortization gap", "nats", "amortization_gap", False)]
    units, dims = _evaluated(comparison, "active_units"), _evaluated(comparison, "latent_dim")
    rows += [
        Row("active units", "", [f"{_fmt(u)} of {_fmt(d)}" if u is not None else "—" for u, d in zip(units, dims)]),
        figure("bits/dim", "", "bits_per_dim", False, 4),
        *([figure("accuracy", "fraction of labels", "accuracy", None, 4)]
          if any(v is not None for v in _evaluated(comparison, "accuracy")) else []),
        Row("rank by log p(x)", "1 = highest" + (", in its group" if several else ""),
            [f"{rank} of {ranked[group_of[i]]}" + (f" in {letters[i]}" if several else "") if rank is not None
             else "—" for i, rank in enumerate(comparison.ranks)]),
    ]
    return rows


__all__ = ["EVALUATION", "FIGURES", "SETTING", "Comparison", "Row", "RunFigures", "compare_runs", "describe_setting",
           "read_run", "table"]
