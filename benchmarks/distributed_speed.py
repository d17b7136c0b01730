"""Data-parallel training against one process, on this machine: `vaekit train` as one process with all threads
and under `torchrun --nproc-per-node N` (one thread each, gloo), alternating, same data, model and epochs.

Images/s is training images / whole-epoch seconds (validation included), median over every epoch of every
repeat; the ratio is torchrun's over one process's. The 784-400-20 MLP on statically binarized Fashion-MNIST,
batch 128 (global), as in train_speed.py. It also times one all-reduce of that model's gradient (a flat float32
buffer, as `vaekit.train.distributed.average_gradients` sends) between the same number of gloo processes.

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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import import_vaekit, write_json

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


def allreduce_worker(numel: int, repeats: int) -> None:
    """Under torchrun: rank 0 prints the median milliseconds of one all-reduce of `numel` float32 values."""
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    buffer, times = torch.randn(numel), []
    for i in range(repeats + 10):
        start = time.perf_counter()
        dist.all_reduce(buffer)
        if i >= 10:  # the first ones set up the connections
            times.append(time.perf_counter() - start)
    if dist.get_rank() == 0:
        print(f"allreduce_ms {1e3 * statistics.median(times):.4f}", flush=True)
    dist.barrier()
    dist.destroy_process_group()


def time_allreduce(processes: int, threads: int) -> float:
    """Median milliseconds of one all-reduce of the 784-400-20 model's gradient between `processes` gloo workers."""
    vaekit = import_vaekit()
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(1, 28, 28), latent_dim=20, hidden=(400,)))
    numel = sum(p.numel() for p in model.parameters())
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               __file__, "--allreduce-worker", str(numel)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("allreduce_ms")))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of the single process")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--allreduce-worker", type=int, help=argparse.SUPPRESS)  # internal: run under torchrun
    args = p.parse_args(argv)
    if args.allreduce_worker:
        allreduce_worker(args.allreduce_worker, repeats=100)
        return
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
    allreduce_ms = time_allreduce(args.processes, max(1, args.threads // args.processes))
    print(f"one process, {args.threads} threads: {single:,.0f} images/s; torchrun, {args.processes} processes: "
          f"{ddp:,.0f} images/s; ratio {ddp / single:.2f}x; one gradient all-reduce {allreduce_ms:.2f} ms")
    if args.json:
        write_json(args.json, {"processes": args.processes, "threads": args.threads, "epochs": args.epochs,
                               "repeats": args.repeats, "cpu_count": os.cpu_count(), "images_per_s": speeds,
                               "median_single": single, "median_torchrun": ddp, "ratio": ddp / single,
                               "allreduce_ms": allreduce_ms})


if __name__ == "__main__":
    main()
