"""Issue 9's quality table: the members of the family trained 10 epochs each on static binarized MNIST, then
evaluated on the test split (the plain ELBO, and log p(x) with K = 1000 importance samples and its standard error).

    VAEKIT_DATA=../shared/data python benchmarks/family_quality.py --out benchmarks/results/family_quality.json

Every row is two `vaekit` commands (train, evaluate), recorded in the JSON beside its figures; runs go to
--runs (default runs/family). Rows already in the output file are kept (the script resumes where it stopped);
`--only ROW ...` runs some rows, so that two processes can share the table (the file is re-read before each write).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

COMMON = ["--data", "binarized-mnist", "--epochs", "10", "--batch-size", "128", "--lr", "1e-3", "--seed", "0"]
VAE = ["--hidden", "400", "--latent-dim", "20"]
ROWS = {
    "vae/normal/elbo": [*VAE],
    "vae/mixture/elbo": [*VAE, "--prior", "mixture"],
    "vae/vamp/elbo": [*VAE, "--prior", "vamp"],
    "vae/normal/iwae-5": [*VAE, "--objective", "iwae", "--iw-samples", "5"],
    "hvae/elbo": ["--model", "hvae"],
    "hvae/iwae-5": ["--model", "hvae", "--objective", "iwae", "--iw-samples", "5"],
}


def _vaekit(args: list[str]) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vaekit", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"vaekit {shlex.join(args)} failed:\n{done.stderr}")
    return done.stdout, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/family_quality.json")
    parser.add_argument("--runs", default="runs/family")
    parser.add_argument("--importance-samples", type=int, default=1000)
    parser.add_argument("--only", nargs="*", help="row names to run (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    done = {row["row"] for row in rows}
    for name, options in ROWS.items():
        if name in done or (args.only and name not in args.only):
            continue
        run = Path(args.runs) / name.replace("/", "-")
        train = ["train", *COMMON, *options, "--out", str(run), "--json"]
        if (run / "checkpoint.safetensors").is_file():
            train.append("--resume")  # trained (or stopped) in an earlier sitting: continue it
        evaluate = ["evaluate", str(run), "--importance-samples", str(args.importance_samples), "--json"]
        summary, train_wall = _vaekit(train)
        figures, eval_wall = _vaekit(evaluate)
        summary, figures = json.loads(summary), json.loads(figures)
        rows = json.loads(out.read_text()) if out.exists() else []  # again: another --only may have added rows
        rows.append({
            "row": name, "run": str(run),
            "train_command": "vaekit " + shlex.join(train), "evaluate_command": "vaekit " + shlex.join(evaluate),
            "epochs": summary["epochs"], "best_epoch": summary["best_epoch"], "best_by": summary["best_by"],
            "train_seconds": summary["train_seconds_total"], "train_wall_seconds": train_wall,
            "evaluate_wall_seconds": eval_wall,
            "test_elbo": figures["elbo"], "test_log_likelihood": figures["log_likelihood"],
            "stderr": figures["log_likelihood_stderr"], "importance_samples": figures["importance_samples"],
            "gap": figures["gap"], "active_units": figures["active_units"], "latent_dim": figures["latent_dim"],
            "latent_groups": figures["latent_groups"], "cpu": os.cpu_count(),
        })
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"{name:<20} ELBO {figures['elbo']:9.2f}  log p(x) {figures['log_likelihood']:9.2f} "
              f"± {figures['log_likelihood_stderr']:.2f} nats (K = {figures['importance_samples']})  "
              f"train {summary['train_seconds_total']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
