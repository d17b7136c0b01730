"""Issue 18, section 3: vaekit's MADE against an independent minimal MADE (benchmarks/made_minimal.py), side by side
in one run: the same data (static binarized MNIST, the standard splits), the same ordering (a random permutation
drawn the same way from the same seed, or the natural one), the same recipe (784-500-784, Adam lr 1e-3 with L2
weight decay 1e-4, the learning rate divided by 10 after 45 epochs, 100 epochs, batches of 100), one thread each,
started together.

Each arm's figure is the test log p(x) (exact, nats per image) at its best validation epoch; the curves are kept.

    VAEKIT_DATA=../shared/data .venv/bin/python benchmarks/made_side_by_side.py --order random
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

BENCH = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--order", choices=("natural", "random"), default="random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--runs", type=Path, default=Path("runs/made-side-by-side"))
    p.add_argument("--json", type=Path, default=BENCH / "results" / "made_side_by_side.json")
    args = p.parse_args()
    tag = f"{args.order}-seed{args.seed}-{args.epochs}ep"
    run = args.runs / f"vaekit-{tag}"
    minimal_json = args.runs / f"minimal-{tag}.json"
    args.runs.mkdir(parents=True, exist_ok=True)
    recipe = ["--hidden", "500", "--batch-size", "100", "--epochs", str(args.epochs), "--lr", "1e-3",
              "--weight-decay", "1e-4"]
    vaekit_cmd = [sys.executable, "-m", "vaekit", "train", "--data", "binarized-mnist", "--model", "made",
                  "--order", args.order, "--mask-seed", str(args.seed), "--seed", str(args.seed), *recipe,
                  "--lr-schedule", "step", "--lr-step-epochs", "45", "--lr-decay", "0.1", "--out", str(run)]
    minimal_cmd = [sys.executable, str(BENCH / "made_minimal.py"), "--order", args.order, "--seed", str(args.seed),
                   "--hidden", "500", "--batch-size", "100", "--epochs", str(args.epochs), "--lr", "1e-3",
                   "--weight-decay", "1e-4", "--step", "45", "--json", str(minimal_json)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    with open(args.runs / f"minimal-{tag}.log", "w") as log:
        arms = [subprocess.Popen(vaekit_cmd, env=env, stdout=subprocess.DEVNULL),
                subprocess.Popen(minimal_cmd, env=env, stdout=log)]
        codes = [arm.wait() for arm in arms]
    if any(codes):
        raise SystemExit(f"an arm failed: exit codes {codes}")
    wall = time.perf_counter() - started
    figures = json.loads(subprocess.run([sys.executable, "-m", "vaekit", "evaluate", str(run), "--json", "--force"],
                                        capture_output=True, text=True, check=True).stdout)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = max(history, key=lambda r: r["valid_log_likelihood_nats"])
    minimal = json.loads(minimal_json.read_text())["epochs"]
    best_minimal = max(minimal, key=lambda r: r["valid_nats"])
    result = {
        "order": args.order, "seed": args.seed, "epochs": args.epochs, "wall_seconds": wall,
        "vaekit": {"command": "vaekit " + shlex.join(vaekit_cmd[3:]), "best_epoch": best["epoch"],
                   "valid_at_best": best["valid_log_likelihood_nats"], "test_at_best": figures["log_likelihood"],
                   "test_stderr": figures["log_likelihood_stderr"],
                   "train_last": history[-1]["train_log_likelihood_nats"],
                   "valid_last": history[-1]["valid_log_likelihood_nats"],
                   "curve": [[r["epoch"], r["train_log_likelihood_nats"], r["valid_log_likelihood_nats"]]
                             for r in history]},
        "minimal": {"command": "python " + shlex.join(minimal_cmd[1:]), "best_epoch": best_minimal["epoch"],
                    "valid_at_best": best_minimal["valid_nats"], "test_at_best": best_minimal["test_nats"],
                    "train_last": minimal[-1]["train_nats"], "valid_last": minimal[-1]["valid_nats"],
                    "curve": [[r["epoch"], r["train_nats"], r["valid_nats"]] for r in minimal]},
    }
    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    results[tag] = result
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    for arm in ("vaekit", "minimal"):
        r = result[arm]
        print(f"{arm:<8} best epoch {r['best_epoch']:>3}: valid {r['valid_at_best']:.2f}, test {r['test_at_best']:.2f} "
              f"nats; last epoch: train {r['train_last']:.2f}, valid {r['valid_last']:.2f}")


if __name__ == "__main__":
    main()
