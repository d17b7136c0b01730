"""Issue 18, section 3: what each of MADE's options buys on static binarized MNIST, at a fixed short budget.

Every variant trains `vaekit train --model made` for --epochs epochs with the same recipe (batches of 100, Adam
1e-3 with L2 weight decay 1e-4, a cosine schedule to 1e-5, the same seeds) and one option changed from the base
(--hidden 500, --order random, one mask, no direct connections); two variants at a time, one thread each. Each
variant's figure is the exact test log p(x) (nats per image; with several masks, the exact log of the mixture
(1/M) sum_m p_m(x)) of its best validation epoch, from `vaekit evaluate`.

    VAEKIT_DATA=../shared/data .venv/bin/python benchmarks/made_ablation.py --epochs 30
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS_DIR, write_json  # noqa: E402

BASE = ["--data", "binarized-mnist", "--model", "made", "--hidden", "500", "--order", "random", "--batch-size", "100",
        "--lr", "1e-3", "--lr-schedule", "cosine", "--lr-final", "1e-5", "--weight-decay", "1e-4", "--seed", "0",
        "--mask-seed", "0"]
#: variant -> options that replace or add to the base's
VARIANTS: dict[str, list[str]] = {
    "base (500 units, random order)": [],
    "natural order": ["--order", "natural"],
    "direct connections": ["--direct"],
    "4 masks (order-agnostic, mixture at test)": ["--masks", "4"],
    "2,000 units": ["--hidden", "2000"],
    "2,000 units, natural order, direct": ["--hidden", "2000", "--order", "natural", "--direct"],
}


def command(options: list[str], epochs: int, out: Path) -> list[str]:
    """The base recipe with `options` applied (an option given again replaces the base's value)."""
    merged, i = list(BASE), 0
    while i < len(options):
        name, values = options[i], []
        i += 1
        while i < len(options) and not options[i].startswith("--"):
            values.append(options[i])
            i += 1
        if name in merged:
            at = merged.index(name)
            end = at + 1
            while end < len(merged) and not merged[end].startswith("--"):
                end += 1
            merged[at:end] = [name, *values]
        else:
            merged += [name, *values]
    return ["train", *merged, "--epochs", str(epochs), "--out", str(out)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--parallel", type=int, default=2, help="variants trained at once, one thread each")
    p.add_argument("--runs", type=Path, default=REPO / "runs" / "made-ablation")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "made_ablation.json")
    args = p.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    names = list(VARIANTS)
    runs = {name: args.runs / f"v{i}-{args.epochs}ep" for i, name in enumerate(names)}
    commands = {name: command(VARIANTS[name], args.epochs, runs[name]) for name in names}
    def done(name: str) -> bool:  # every epoch in metrics.jsonl (model.safetensors is written after each epoch)
        metrics = runs[name] / "metrics.jsonl"
        return metrics.exists() and len(metrics.read_text().splitlines()) >= args.epochs

    for start in range(0, len(names), args.parallel):
        group = [n for n in names[start:start + args.parallel] if not done(n)]
        children = [subprocess.Popen([sys.executable, "-m", "vaekit", *commands[n], *(
            ["--resume"] if (runs[n] / "config.json").exists() else [])], env=env, cwd=REPO,
            stdout=subprocess.DEVNULL) for n in group]
        if any(child.wait() for child in children):
            raise SystemExit("a variant failed; its run directory keeps what it did")
    rows = []
    for name in names:
        figures = json.loads(subprocess.run([sys.executable, "-m", "vaekit", "evaluate", str(runs[name]), "--json",
                                             "--force"], env=env, cwd=REPO, capture_output=True, text=True,
                                            check=True).stdout)
        history = [json.loads(line) for line in (runs[name] / "metrics.jsonl").read_text().splitlines()]
        best = max(history, key=lambda r: r["valid_log_likelihood_nats"])
        rows.append({"variant": name, "command": "vaekit " + shlex.join(commands[name]), "best_epoch": best["epoch"],
                     "valid_at_best": best["valid_log_likelihood_nats"],
                     "train_last": history[-1]["train_log_likelihood_nats"], "test": figures["log_likelihood"],
                     "test_stderr": figures["log_likelihood_stderr"],
                     "seconds_per_epoch": sum(r["epoch_seconds"] for r in history) / len(history)})
        print(f"{name:<45} test {rows[-1]['test']:8.2f} nats (valid {best['valid_log_likelihood_nats']:.2f} at "
              f"epoch {best['epoch']}), {rows[-1]['seconds_per_epoch']:.1f} s an epoch", flush=True)
    write_json(args.json, {"epochs": args.epochs, "threads_per_variant": 1, "variants": rows})


if __name__ == "__main__":
    main()
