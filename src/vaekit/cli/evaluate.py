"""`vaekit evaluate` (a run's ELBO, log p(x), gap and diagnostics) and `vaekit baselines` (classic density
estimators on a dataset)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.cli.options import add_threads_option, print_json, progress_bar, progress_wanted


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ELBO, importance-sampled log p(x), gap, bits/dim, active units")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--importance-samples", type=int, default=1000, metavar="K", help="K for log p(x) (default 1000)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate the first N points of the split")
    p.add_argument("--gaps", type=int, nargs="?", const=100, default=None, metavar="N",
                   help="split the gap into approximation and amortization parts on N points (default N: 100)")
    p.add_argument("--gap-steps", type=int, default=500, metavar="S", help="Adam steps fitting q* per point")
    p.add_argument("--probe", action="store_true", help="linear classifier on posterior means vs raw inputs, fitted "
                   "on the labelled training rows")
    p.add_argument("--labelled", type=int, default=None, metavar="N",
                   help="the probe uses N training labels, balanced across classes and chosen as `vaekit train "
                        "--labelled N` chooses them (default: the run's own)")
    p.add_argument("--label-seed", type=int, default=0, metavar="S", help="seed of that choice (default 0)")
    p.add_argument("--baselines", action="store_true", help="fit the density baselines on the same splits")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when available)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws of z (default 0)")
    p.add_argument("--memory-budget", default="1G", metavar="SIZE",
                   help="memory the tensors of one chunk of importance samples may take: bytes, or with K, M, G "
                        "(default 1G); the chunks are sized to it, whatever K and the number of points")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--force", action="store_true",
                   help="compute again an evaluation with the same split, K, limit and seed (replacing its file)")
    add_threads_option(p)
    p.set_defaults(func=run_evaluate)

    p = sub.add_parser("baselines", help="classic density estimators' test log-likelihood on a dataset")
    p.add_argument("--data", default="digits", help="dataset name or path (default: digits)")
    p.add_argument("--binarize", default="none", choices=("none", "static"),
                   help="binarize grey-level data once (as a static-binarized VAE sees it)")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    add_threads_option(p)
    p.set_defaults(func=run_baselines)


#: Every evaluation of a run is kept here, one file per split, K, limit and seed; evaluation.json is the latest.
EVALUATIONS = "evaluations"
LATEST = "evaluation.json"


def evaluation_name(split: str, num_samples: int, limit: int | None = None, seed: int = 0,
                    labelled: int | None = None) -> str:
    """The file name that keeps one evaluation: `test-K1000.json`, `valid-K50-limit100-seed3.json`,
    `test-K200-labelled100.json` (the probe fitted on 100 labels)."""
    return (f"{split}-K{num_samples}" + (f"-limit{limit}" if limit else "") + (f"-seed{seed}" if seed else "")
            + (f"-labelled{labelled}" if labelled is not None else "") + ".json")


def _keep_latest(run_path: Path) -> None:
    """Keep the evaluation in evaluation.json under its own name before evaluation.json is replaced (runs evaluated
    before evaluations/ existed hold their only copy there)."""
    from vaekit.errors import RunError
    from vaekit.files import atomic_write, read_regular
    from vaekit.serialized import read_json

    latest = run_path / LATEST
    if not latest.is_file():
        return
    try:
        old = read_json(latest)
        name = evaluation_name(str(old["split"]), int(old.get("importance_samples") or 0), old.get("limit"),
                               int(old.get("seed") or 0), old.get("probe_labelled"))
    except (RunError, KeyError, TypeError, ValueError):
        name = "previous-evaluation.json"
    kept = run_path / EVALUATIONS / name
    if not kept.exists():
        atomic_write(kept, read_regular(latest))


def run_evaluate(args: argparse.Namespace) -> int:
    from vaekit.errors import VaekitError
    from vaekit.files import check_writable
    from vaekit.limits import parse_bytes
    from vaekit.runs import open_run
    from vaekit.runs.evaluate import evaluate_run
    from vaekit.serialized import write_json

    memory_budget = parse_bytes(args.memory_budget, "--memory-budget")
    run = open_run(args.run)
    keyed = run.path / EVALUATIONS / evaluation_name(args.split, args.importance_samples, args.limit, args.seed,
                                                     args.labelled if args.probe else None)
    if keyed.exists() and not args.force:
        raise VaekitError(f"{keyed}: this run has an evaluation with the same split, K, limit and seed; pass --force "
                          "to compute it again (other evaluations are kept either way)")
    check_writable(run.path / EVALUATIONS)  # before minutes of computing
    _keep_latest(run.path)
    with progress_bar(progress_wanted(args), f"log p(x), K = {args.importance_samples}") as on_batch:
        figures = evaluate_run(run, split=args.split, num_samples=args.importance_samples, limit=args.limit,
                               gap_points=args.gaps or 0, gap_steps=args.gap_steps, probe=args.probe,
                               baselines=args.baselines, on_batch=on_batch, device=args.device, seed=args.seed,
                               labelled_rows=args.labelled, label_seed=args.label_seed,
                               memory_budget=memory_budget)
    write_json(keyed, figures)
    write_json(run.path / LATEST, figures)
    if args.json:
        print_json({k: v for k, v in figures.items() if k != "per_datapoint"})
        return 0
    print_figures(figures, probe_asked=args.probe)
    print(f"written: {run.path / LATEST} and {keyed}")
    return 0


def print_figures(f: dict, probe_asked: bool = False) -> None:
    """The figures of `evaluate_run`, one per line with its meaning; only those the model has."""
    print(f"{f['dataset']}, {f['split']} split, n = {f['n']}; {f['units']}:")
    of_x = "log p(x|y)" if f.get("conditioned_on_labels") else "log p(x)"
    if f.get("elbo") is not None:
        parts = (f"    reconstruction {f['reconstruction']:.3f}, KL {f['kl']:.3f}" if f.get("kl") is not None else
                 "    U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))" if "labelled_bound" in f else "")
        print(f"  ELBO               {f['elbo']:10.3f}{parts}")
    if "log_likelihood" in f:
        if f.get("log_likelihood_method") == "exact":
            how = "exact (no importance sampling); ± is the standard error over datapoints"
        else:
            how = f"{f['log_likelihood_method']}, K = {f['importance_samples']}"
            if "log_likelihood_ess_mean" in f:
                how += (f"; mean ESS {f['log_likelihood_ess_mean']:.1f}, {f['low_ess_points']} points with ESS < "
                        f"{f['low_ess_threshold']:g}")
        print(f"  {of_x:<18} {f['log_likelihood']:10.3f} ± {f['log_likelihood_stderr']:.3f}   {how}")
    if f.get("gap") is not None:
        print(f"  gap                {f['gap']:10.3f}    {of_x} - ELBO, estimates the KL from q to the posterior")
    if "approximation_gap" in f:
        print(f"    approximation    {f['approximation_gap']:10.3f}    log p(x) - ELBO[q*]  ({f['gap_points']} points, "
              f"{f['gap_steps']} steps)")
        print(f"    amortization     {f['amortization_gap']:10.3f}    ELBO[q*] - ELBO[q]")
    if "labelled_bound" in f:
        print(f"  log p(x|y)         {f['conditional_log_likelihood']:10.3f}    at the true labels, importance sampling")
        print(f"  L(x, y)            {f['labelled_bound']:10.3f}    labelled bound, ELBO of log p(x, y)")
    if f.get("bits_per_dim") is not None:
        print(f"  bits/dim           {f['bits_per_dim']:10.4f}    bits per dimension, from {of_x}")
    if "active_units" in f:
        print(f"  active units       {f['active_units']:>10d}    of {f['latent_dim']} (Cov_x E_q[z_j] > 0.01"
              + (", E_q[z] estimated from draws)" if f["posterior_mean_estimated"] else ")"))
        groups = f["latent_groups"]
        if len(groups) > 1:
            for name, g in groups.items():
                print(f"    layer {name:<10} KL {g['kl']:8.3f} nats, {g['active_units']} of {g['size']} units active")
        if f["kl_per_dim"] is not None:
            top = sorted(enumerate(f["kl_per_dim"]), key=lambda t: -t[1])[:8]
            print("  KL per dimension   " + ", ".join(f"z{j} {v:.2f}" for j, v in top) + " nats" +
                  (" (largest 8)" if len(f["kl_per_dim"]) > 8 else ""))
        else:
            print("  KL per dimension          -    not defined: q and p(z) do not factorise over dimensions")
    if "accuracy" in f:
        print(f"  log p(y|x)         {f['label_log_likelihood']:10.4f} ± {f['label_log_likelihood_stderr']:.4f}   "
              "the classifier's test log-likelihood of the labels")
        print(f"  accuracy           {f['accuracy']:10.4f}    fraction of points whose most probable class is the label")
        print(f"  calibration error  {f['calibration_error']:10.4f}    expected calibration error, "
              f"{f['calibration_bins']} equal-width confidence bins")
    probe = f.get("probe")
    if probe:
        print(f"  linear probe       {probe['latent_accuracy']:10.4f}    test accuracy on posterior means "
              f"(raw inputs: {probe['raw_accuracy']:.4f}; {probe['n_train']} labelled training points)")
    elif probe_asked:
        print("  linear probe              -    needs labels and a latent-variable model's q(z|x)")
    if f.get("baselines"):
        comparable = "log_likelihood" in f and not f.get("conditioned_on_labels")
        print_baselines(f["baselines"], model=(f["log_likelihood"], f["log_likelihood_stderr"]) if comparable else None,
                        points=f"the model's {f['n']} points" + (", the first of the test split" if f.get("limit")
                                                                 else ""))


def print_baselines(rows: list[dict], model: tuple[float, float] | None = None, points: str | None = None) -> None:
    print("  test log-likelihood" + (f" on {points}" if points else "") + ", nats per datapoint:")
    if model is not None:
        print(f"    {'this run':<28} {model[0]:10.3f} ± {model[1]:.3f}")
    for row in rows:
        chosen = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["hyperparameters"].items())
        note = f"; {row['note']}" if row["note"] else ""
        print(f"    {row['name']:<28} {row['log_likelihood']:10.3f} ± {row['stderr']:.3f}   ({chosen}{note})")


def run_baselines(args: argparse.Namespace) -> int:
    from vaekit import data as vdata
    from vaekit.data.pipeline import Pipeline
    from vaekit.runs.evaluate import baseline_rows

    splits = vdata.load(args.data, seed=args.split_seed)
    binarize = args.binarize if splits.levels not in (None, 2) else "none"
    pipeline = Pipeline(binarize=binarize, dequantize=splits.levels not in (None, 2) and binarize == "none",
                        levels=splits.levels, seed=args.split_seed)
    rows = baseline_rows(splits, pipeline, seed=args.split_seed)
    if args.json:
        print_json({"dataset": splits.name, "split": "test", "units": "nats per datapoint", "baselines": rows})
        return 0
    print(f"{splits.name}, test split (n = {len(splits.x_test)})")
    print_baselines(rows)
    return 0
