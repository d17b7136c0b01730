"""Why do vaekit's epochs get slower as training goes on (issue 12, section 3)? The hypothesis under test:
denormal floats. `fit` turns on flush-to-zero with `torch.set_flush_denormal(True)`, but that sets the FTZ/DAZ
bits of the calling thread only. torch's intra-op worker threads copy the floating-point environment of the thread
that creates them, when the pool starts (at the first parallel operator). Where data loading has already run a
parallel operator before `fit`, the workers keep denormals on, and the share of the work they do (matrix products,
the optimiser's update of large tensors) slows down as Adam's second moments and small gradients sink into the
denormal range.

Each arm trains the same 784-400-20 VAE (binarized MNIST, batch 128, Adam 1e-3, the same seed) in its own process
and reports every epoch's training seconds and, at the end, how many of its weights are denormal. Arms, in
alternating order:

    before  `fit` as it was: `torch.set_flush_denormal(True)` in the calling thread only, after data loading has
            started the worker threads
    early   flush-to-zero set first thing in the process, so every worker thread inherits it
    after   `fit` as it is: `vaekit.train.denormals.flush_denormals` reaches the worker threads too

    VAEKIT_DATA=../shared/data .venv/bin/python benchmarks/epoch_drift.py --epochs 40 --repeats 1 \\
        --json benchmarks/results/epoch_drift.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import json, sys, torch
arm, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
if arm == "early":
    torch.set_flush_denormal(True)
import vaekit
from vaekit.train.config import TrainConfig
splits = vaekit.data.load("binarized-mnist")
x = splits.x_train.float().flatten(1)
(x @ x[:64].T).sum()  # a parallel operator before fit: the pool starts here in every arm
if arm == "before":
    import vaekit.train.loop as loop
    loop.flush_denormals = lambda: torch.set_flush_denormal(True)
model = vaekit.build_model("vae", {"data_shape": splits.data_shape, "hidden": (400,), "latent_dim": 20})
config = TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=0, device="cpu")
result = vaekit.fit(model, splits, config)
def denormal(t):
    t = t.detach().float()
    return int(((t != 0) & (t.abs() < torch.finfo(torch.float32).tiny)).sum())
print(json.dumps({"arm": arm, "train_seconds": [r["train_seconds"] for r in result.history],
                  "valid_elbo": result.history[-1]["valid_elbo_nats"],
                  "denormal_weights": sum(denormal(p) for p in model.parameters()),
                  "values": sum(p.numel() for p in model.parameters())}))
"""


def run(arm: str, epochs: int, threads: int) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER, arm, str(epochs), str(threads)], check=True,
                         capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arms", default="before,after,early")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    arms = args.arms.split(",")
    results: list[dict] = []
    for r in range(args.repeats):
        for arm in (arms if r % 2 == 0 else arms[::-1]):
            row = run(arm, args.epochs, args.threads)
            s = row["train_seconds"]
            print(f"{arm:6s} epoch 1-3 {statistics.median(s[:3]):.3f} s, last 5 {statistics.median(s[-5:]):.3f} s "
                  f"(x{statistics.median(s[-5:]) / statistics.median(s[:3]):.2f}); valid ELBO {row['valid_elbo']:.2f} "
                  f"nats; denormal weights {row['denormal_weights']} of {row['values']}", flush=True)
            results.append(row)
    if args.json:
        args.json.write_text(json.dumps({"epochs": args.epochs, "threads": args.threads, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
