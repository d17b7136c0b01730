"""Data-parallel training against one process, on this machine: `vaekit train` as one process with all threads
and under `torchrun --nproc-per-node N` (one thread each, gloo), alternating, same data, model and epochs.

Images/s is training images / whole-epoch seconds (validation included), median over every epoch of every
repeat; the ratio is torchrun's over one process's. The 784-400-20 MLP on statically binarized Fashion-MNIST,
batch 128 (global), as in train_speed.py.

    .venv/bin/python benchmarks/distributed_speed.py --json benchmarks/results/distributed_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_json

TRAIN = ["-m", "vaekit", "train", "--data", "fashion-mnist", "--hidden", "400", "--latent-dim", "20",
         "--binarize", "static", "--batch-size", "128"]


def run(kind: str, processes: int, threads: int, epochs: int, out: Path) -> list[float]:
    """Train once; return the images/s of every epoch."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
    command = [sys.executable, *(launcher if kind == "torchrun" else []), *TRAIN, "--epochs", str(epochs),
               "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    subprocess.run(command, env=env, check=True, capture_output=True)
    return [json.loads(line)["images_per_second"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of the single process")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write the results to this JSON file")
    args = p.parse_args(argv)
    speeds: dict[str, list[float]] = {"single": [], "torchrun": []}
    with tempfile.TemporaryDirectory(prefix="vaekit-ddp-") as tmp:
        for repeat in range(args.repeats):
            for kind in ("single", "torchrun") if repeat % 2 == 0 else ("torchrun", "single"):
                threads = args.threads if kind == "single" else max(1, args.threads // args.processes)
                each = run(kind, args.processes, threads, args.epochs, Path(tmp) / f"{kind}-{repeat}")
                speeds[kind] += each
                print(f"repeat {repeat} {kind:<8} images/s by epoch: {', '.join(f'{s:,.0f}' for s in each)}",
                      flush=True)
    single, ddp = statistics.median(speeds["single"]), statistics.median(speeds["torchrun"])
    print(f"one process, {args.threads} threads: {single:,.0f} images/s; torchrun, {args.processes} processes: "
          f"{ddp:,.0f} images/s; ratio {ddp / single:.2f}x")
    if args.json:
        write_json(args.json, {"processes": args.processes, "threads": args.threads, "epochs": args.epochs,
                               "repeats": args.repeats, "cpu_count": os.cpu_count(), "images_per_s": speeds,
                               "median_single": single, "median_torchrun": ddp, "ratio": ddp / single})


if __name__ == "__main__":
    main()
