"""Issue 12's quality table: models trained and evaluated on static binarized MNIST, one command per row.

    VAEKIT_DATA=../shared/data python benchmarks/quality.py --row vae          # one row (resumes its run)
    VAEKIT_DATA=../shared/data python benchmarks/quality.py --all              # the whole table
    python benchmarks/quality.py --list                                       # the rows and their commands

Each row trains with `vaekit train` into runs/quality/ROW (continuing it with --resume when the directory holds
an unfinished run, so one row may be trained across several sittings: the training time is the sum over all
sittings, read from metrics.jsonl), then evaluates the test split with K = 5000 importance samples (exact log p(x)
for fully observed models) and the gap split on 100 points, and writes the row into
benchmarks/results/quality.json beside the published figure it is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

#: The issue's budget: each model trains at most 2 hours on the 2-core machine (summed over sittings: --max-minutes
#: counts the epochs' seconds in metrics.jsonl, so a resumed run stops at the same total).
DATA = ["--data", "binarized-mnist", "--max-minutes", "120"]
#: row -> (vaekit train options, the published figure it is compared with, and where that figure comes from)
ROWS: dict[str, tuple[list[str], float, str]] = {
    "vae": ([*DATA, "--hidden", "500", "500", "--latent-dim", "50", "--batch-size", "100", "--epochs", "1000",
             "--lr", "1e-3", "--lr-schedule", "cosine", "--lr-final", "1e-5", "--warmup-epochs", "50",
             "--ema-decay", "0.999", "--patience", "100"],
            -89.8, "MLP VAE on static binarized MNIST (the literature's -89.8 to -89.9)"),
    "iwae": ([*DATA, "--hidden", "500", "500", "--latent-dim", "50", "--batch-size", "100", "--epochs", "150",
              "--objective", "iwae", "--iw-samples", "50", "--lr", "1e-3", "--lr-schedule", "cosine",
              "--lr-final", "1e-5", "--ema-decay", "0.999", "--patience", "50"],
             -87.1, "IWAE, K = 50 (Burda et al.'s architecture, reproduced; pythae: -86.8)"),
    "vamp": ([*DATA, "--prior", "vamp", "--prior-components", "500", "--hidden", "500", "500", "--latent-dim", "50",
              "--batch-size", "100", "--epochs", "800", "--lr", "5e-4", "--lr-schedule", "cosine", "--lr-final",
              "1e-5", "--warmup-epochs", "100", "--ema-decay", "0.999", "--patience", "100"],
             -85.6, "VAE with a VampPrior (Tomczak & Welling 2018)"),
    "hvae": ([*DATA, "--model", "hvae", "--batch-size", "100", "--epochs", "600", "--lr", "1e-3", "--lr-schedule",
              "cosine", "--lr-final", "1e-5", "--warmup-epochs", "50", "--ema-decay", "0.999", "--patience", "100"],
             -86.05, "two stochastic layers (Tomczak & Welling 2018, HVAE L=2, standard prior)"),
    "made": ([*DATA, "--model", "made", "--hidden", "500", "--batch-size", "100", "--epochs", "1000", "--lr", "1e-3",
              "--lr-schedule", "cosine", "--lr-final", "1e-5", "--ema-decay", "0.999", "--patience", "50"],
             -88.40, "MADE, one hidden layer, one mask (Germain et al. 2015)"),
}
IMPORTANCE_SAMPLES = 5000
GAP_POINTS = 100


def _vaekit(args: list[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "vaekit", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"vaekit {shlex.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _history(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_row(name: str, runs: Path) -> dict:
    options, published, source = ROWS[name]
    run = runs / name
    train = ["train", *options, "--out", str(run)]
    if (run / "config.json").exists():  # an earlier sitting: continue that run (the same command, plus --resume)
        train.append("--resume")
    started = time.perf_counter()
    _vaekit(train)
    evaluate = ["evaluate", str(run), "--importance-samples", str(IMPORTANCE_SAMPLES), "--gaps", str(GAP_POINTS),
                "--json"]
    figures = json.loads(_vaekit(evaluate))
    history = _history(run)
    config = json.loads((run / "config.json").read_text())
    return {
        "model": name,
        "kind": config["kind"],
        "objective": config["objective"],
        "epochs": len(history),
        "best_epoch": max(history, key=lambda r: r[config["best_by"]])["epoch"] if history else None,
        "train_seconds": sum(row["epoch_seconds"] for row in history),
        "test_elbo": figures.get("elbo"),
        "test_log_likelihood": figures["log_likelihood"],
        "stderr": figures["log_likelihood_stderr"],
        "importance_samples": figures.get("importance_samples"),
        "gap": figures.get("gap"),
        "approximation_gap": figures.get("approximation_gap"),
        "amortization_gap": figures.get("amortization_gap"),
        "active_units": figures.get("active_units"),
        "latent_dim": figures.get("latent_dim"),
        "published": published,
        "published_source": source,
        "command": "vaekit " + shlex.join(["train", *options, "--out", str(run)]),
        "evaluate_command": "vaekit " + shlex.join(evaluate),
        "wall_seconds_this_sitting": time.perf_counter() - started,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--row", choices=list(ROWS), action="append", help="row(s) to train and evaluate")
    which.add_argument("--all", action="store_true", help="every row")
    which.add_argument("--list", action="store_true", help="print the rows' commands")
    parser.add_argument("--runs", default="runs/quality", type=Path)
    parser.add_argument("--out", default="benchmarks/results/quality.json", type=Path)
    args = parser.parse_args()
    if args.list:
        for name, (options, published, source) in ROWS.items():
            print(f"{name:<6} vaekit {shlex.join(['train', *options, '--out', str(args.runs / name)])}")
        return
    results = {row["model"]: row for row in json.loads(args.out.read_text())} if args.out.exists() else {}
    for name in ROWS if args.all else args.row:
        row = run_row(name, args.runs)
        results[name] = row
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([results[k] for k in ROWS if k in results], indent=1) + "\n")
        print(f"{name:<6} log p(x) {row['test_log_likelihood']:.2f} ± {row['stderr']:.2f} nats "
              f"(published {row['published']:.2f}), ELBO {row['test_elbo']:.2f}, {row['epochs']} epochs, "
              f"{row['train_seconds'] / 3600:.2f} h", flush=True)


if __name__ == "__main__":
    main()
