"""Training speed with 1 and 2 threads, on a quiet machine and with other work taking the cores (issue 21, item 8).

On a shared machine the default of 2 OpenMP threads once ran 10x slower than one thread (130 against 1,316
images/s): a thread that waits at a barrier spins, and a core taken by other work delays every parallel operator.
This benchmark measures it: `vaekit train` (the 784-400-20 MLP VAE, batch 128) with `--threads 1` and
`--threads 2`, each in its own process, first on the machine as it is ("quiet": run it when nothing else runs),
then with a synthetic load: one busy-loop process per core (plain Python `while True`), started by this script
and stopped when the arm ends. Each arm runs --repeats times in alternating order; the table gives each arm's best
images/s (the epochs after the first, as metrics.jsonl reports them) and the ratio of 2 threads to 1 thread, and
the JSON file the per-epoch figures. `--threads auto` is measured beside them (the loaded rows start once the
1-minute load average shows the load, about a minute).

Data: binarized-MNIST-shaped synthetic images (50,000 random 28x28 binary images, a fixed seed), or --data NAME
for a dataset vaekit finds ($VAEKIT_DATA). The machine must otherwise be quiet for the "quiet" rows to mean
anything: the script prints the 1-minute load average before it starts.

    .venv/bin/python benchmarks/threads.py                  # benchmarks/results/threads.json, about 10 minutes
    .venv/bin/python benchmarks/threads.py --quick --json /tmp/threads.json   # a check that it runs (seconds)
    .venv/bin/python benchmarks/threads.py --demo --json benchmarks/results/threads_demo.json   # the README's demo

`--demo` times the README's `make demo` training instead: `vaekit train` with its defaults (the built-in digits,
300 epochs), the wall time of the whole command beside the images/s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS_DIR, write_json

ARMS = ("1", "2", "auto")


def _busy() -> None:  # pragma: no cover - runs in the load processes
    while True:
        pass


class Load:
    """One busy-loop process per core while the block runs (none when `cores` is 0). With `settle` it waits (at
    most 120 s) until the 1-minute load average shows them, so that `--threads auto` sees the load it is meant to."""

    def __init__(self, cores: int, settle: bool) -> None:
        self.cores, self.settle, self.processes = cores, settle, []

    def __enter__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes = [context.Process(target=_busy, daemon=True) for _ in range(self.cores)]
        for process in self.processes:
            process.start()
        deadline = time.monotonic() + (120 if self.settle and self.cores else 0)
        while time.monotonic() < deadline and os.getloadavg()[0] < 0.8 * self.cores:
            time.sleep(2)

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(timeout=10)


def synthetic_data(folder: Path, rows: int) -> Path:
    """Binarized-MNIST-shaped random binary images, [rows, 1, 28, 28] float32 in an .npy file."""
    import numpy as np

    path = folder / f"binary-{rows}.npy"
    if not path.exists():
        rng = np.random.default_rng(0)
        np.save(path, (rng.random((rows, 1, 28, 28)) < 0.13).astype(np.float32))
    return path


def train(data: str | None, threads: str, epochs: int, hidden: int, latent: int, folder: Path) -> dict:
    """One `vaekit train` process; its metrics.jsonl rows and the threads it computed with. With `data` None, the
    README's demo: `vaekit train` with its defaults."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "run"
    command = [sys.executable, "-m", "vaekit", "train", "--out", str(out), "--threads", threads, "--json"]
    if data is not None:
        command += ["--data", data, "--epochs", str(epochs), "--hidden", str(hidden), "--latent-dim", str(latent),
                    "--batch-size", "128"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"train --threads {threads} failed ({done.returncode}): {done.stderr.strip()}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"threads": threads, "wall_seconds": time.perf_counter() - started, "starved_warning":
            "other work is taking the cores" in done.stderr,
            "images_per_second": [row["images_per_second"] for row in rows]}


def best(result: dict) -> float:
    """The best images/s of the epochs after the first (the first pays for warming up), or of the only one."""
    speeds = result["images_per_second"]
    return max(speeds[1:] or speeds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="a dataset name or file (default: synthetic binarized-MNIST shape)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rows", type=int, default=50_000, help="synthetic training images (default 50,000)")
    p.add_argument("--quick", action="store_true", help="a check that the script runs: tiny data and model, one "
                                                         "epoch, one repeat")
    p.add_argument("--demo", action="store_true", help="time the README's demo training (vaekit train's defaults)")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "threads.json")
    args = p.parse_args()
    hidden, latent = (400, 20) if not args.quick else (16, 2)
    epochs, repeats = (args.epochs, args.repeats) if not args.quick else (2, 1)
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; 1-minute load average {os.getloadavg()[0]:.2f} (the quiet rows need a quiet machine)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="vaekit-threads-") as tmp:
        folder = Path(tmp)
        data = None if args.demo else args.data or str(synthetic_data(folder, 600 if args.quick else args.rows))
        results: dict[str, dict[str, list[dict]]] = {}
        for machine, load in (("quiet", 0), ("loaded", cores)):
            results[machine] = {arm: [] for arm in ARMS}
            with Load(load, settle=not args.quick):
                for repeat in range(repeats):
                    for arm in ARMS if repeat % 2 == 0 else reversed(ARMS):
                        results[machine][arm].append(train(data, arm, epochs, hidden, latent, folder))
    table = {machine: {arm: max(best(r) for r in runs) for arm, runs in arms.items()}
             for machine, arms in results.items()}
    walls = {machine: {arm: min(r["wall_seconds"] for r in runs) for arm, runs in arms.items()}
             for machine, arms in results.items()}
    print(f"{'machine':<8} {'1 thread':>12} {'2 threads':>12} {'auto':>12} {'2 / 1':>7} {'auto / 1':>9}  images/s")
    for machine, speeds in table.items():
        print(f"{machine:<8} {speeds['1']:>12,.0f} {speeds['2']:>12,.0f} {speeds['auto']:>12,.0f} "
              f"{speeds['2'] / speeds['1']:>7.2f} {speeds['auto'] / speeds['1']:>9.2f}")
    print(f"{'machine':<8} {'1 thread':>12} {'2 threads':>12} {'auto':>12}  seconds of the whole command (best)")
    for machine, seconds in walls.items():
        print(f"{machine:<8} {seconds['1']:>12.1f} {seconds['2']:>12.1f} {seconds['auto']:>12.1f}")
    import torch

    write_json(args.json, {
        "what": "vaekit train images/s with --threads 1, 2 and auto, quiet and with one busy-loop process per core",
        "model": "vaekit train's defaults (the README's demo)" if args.demo else f"MLP VAE {hidden}-{latent}, batch 128",
        "data": "digits (built in)" if args.demo else args.data or "synthetic binarized-MNIST shape",
        "epochs": epochs, "repeats": repeats, "cores": cores, "torch": torch.__version__, "quick": args.quick,
        "best_images_per_second": table, "best_wall_seconds": walls,
        "ratio_2_to_1": {machine: speeds["2"] / speeds["1"] for machine, speeds in table.items()},
        "runs": results,
    })
    print(f"written: {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
