"""Issue 19: `vaekit evaluate` at K = 5000 in bounded memory, for every kind of latent-variable model, and its speed
before and after the change.

Memory: for each run given as NAME=RUN, `vaekit evaluate RUN --importance-samples K --limit N --json --force` runs
in a child process for each N of --images (default 1,000 and 10,000 test images); the figures are the child's
peak resident memory (its own rusage: ru_maxrss) and wall time. Targets: the peak for 10,000 images within 10% of
the peak for 1,000, and under 2 GiB for every model at the default --memory-budget.

Speed: `vaekit.log_likelihood(model, x, K)` on the first --speed-images test images, in child processes that
alternate this checkout's src/ and --before-src (the src/ of an earlier commit, e.g. `git archive COMMIT src | tar
-x -C /tmp/before`), --repeats times each; each child warms up on 2 images, then times 3 calls and keeps the
fastest; importance samples per second = images x K / seconds (the median over the children). This machine's
processes differ in speed by up to 1.4x at random (matrix products alike), so one timed call per process swayed
the ratio by as much as the change measured.

    VAEKIT_DATA=../shared/data .venv/bin/python benchmarks/eval_memory.py vae=runs/quality/vae \\
        vamp=runs/quality/vamp hvae=runs/quality/hvae iwae=runs/quality/iwae --before-src /tmp/before/src

`--part memory` or `--part speed` runs one half and replaces only that half in an existing --json file: the
memory figures do not depend on other work on the machine, the speed figures do (run them on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_measured

REPO = Path(__file__).resolve().parent.parent
SPEED = """
import json, sys, time, torch
from vaekit.runs import open_run
from vaekit.estimate import log_likelihood
run = open_run(sys.argv[1]); n, k = int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(int(sys.argv[4]))
x = run.pipeline.fixed(run.load_splits().x_test[:n], "test")
model = run.model.eval()
torch.manual_seed(0)
log_likelihood(model, x[:2], k)  # warm-up: what a process pays once (thread pool, first allocations)
seconds = []
for _ in range(3):
    started = time.perf_counter()
    result = log_likelihood(model, x, k)
    seconds.append(time.perf_counter() - started)
print(json.dumps({"seconds": min(seconds), "mean": result.mean}))
"""


FIELDS = """
import dataclasses, json
from vaekit.train.config import TrainConfig
print(json.dumps([f.name for f in dataclasses.fields(TrainConfig)]))
"""


def readable_by(run: str, src: Path, folder: Path) -> str:
    """`run`, or a copy of it that the vaekit at `src` can open: a run trained by newer code may record training
    settings (its config.json's "train" section) that the older code does not know; they do not enter
    evaluation, so the copy leaves them out. The weights are linked, not copied."""
    known = set(json.loads(child([sys.executable, "-c", FIELDS], src)[0]))
    config = json.loads((Path(run) / "config.json").read_text())
    if set(config.get("train", {})) <= known:
        return run
    copy = folder / Path(run).name
    copy.mkdir(exist_ok=True)
    for item in Path(run).iterdir():
        if item.name != "config.json" and not (copy / item.name).exists():
            (copy / item.name).symlink_to(item.resolve())
    config["train"] = {key: value for key, value in config["train"].items() if key in known}
    (copy / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return str(copy)


def child(command: list[str], src: Path) -> tuple[str, float, float]:
    """Run `command` with `src` first on the path; its stdout, peak resident memory (MiB) and wall seconds."""
    return run_measured(command, {**os.environ, "PYTHONPATH": str(src)}, REPO)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="NAME=RUN_DIRECTORY")
    p.add_argument("--images", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("-K", "--importance-samples", type=int, default=5000)
    p.add_argument("--before-src", type=Path, default=None, help="src/ of the code to compare speed with")
    p.add_argument("--speed-images", type=int, default=100)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="CPU threads of every child (vaekit evaluate --threads; default: the machine's cores)")
    p.add_argument("--part", choices=("both", "memory", "speed"), default="both",
                   help="run one half only, replacing that half in an existing --json file")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "eval_memory.json")
    args = p.parse_args()
    k = args.importance_samples
    results: dict = {"K": k, "threads": args.threads, "memory": [],
                     "speed": []}
    if args.part != "both" and args.json.exists():
        results = {**json.loads(args.json.read_text()), args.part: []}
    for name, run in (item.split("=", 1) for item in args.runs):
        for n in args.images if args.part != "speed" else []:
            out, peak, wall = child([sys.executable, "-m", "vaekit", "evaluate", run, "--importance-samples", str(k),
                                     "--limit", str(n), "--json", "--force", "--threads", str(args.threads)],
                                    REPO / "src")
            figures = json.loads(out)
            results["memory"].append({"model": name, "run": run, "images": n, "peak_rss_mib": peak, "seconds": wall,
                                      "log_likelihood": figures["log_likelihood"]})
            print(f"{name:<6} {n:>6} images: peak {peak:8.0f} MiB, {wall:7.1f} s, log p(x) "
                  f"{figures['log_likelihood']:.2f} nats", flush=True)
        if args.before_src is None or args.part == "memory":
            continue
        arms: dict[str, list[float]] = {"after": [], "before": []}
        runs = {"before": readable_by(run, args.before_src, Path(tempfile.mkdtemp(prefix="vaekit-before-"))),
                "after": run}
        order = [("before", args.before_src), ("after", REPO / "src")]
        for repeat in range(args.repeats):  # alternating order: before, after; after, before; ...
            for arm, src in order if repeat % 2 == 0 else order[::-1]:
                out, _, _ = child([sys.executable, "-c", SPEED, runs[arm], str(args.speed_images), str(k),
                                   str(args.threads)], src)
                arms[arm].append(json.loads(out)["seconds"])
        rates = {arm: args.speed_images * k / statistics.median(s) for arm, s in arms.items()}
        results["speed"].append({"model": name, "images": args.speed_images, "seconds": arms,
                                 "samples_per_second": rates, "after_over_before": rates["after"] / rates["before"]})
        print(f"{name:<6} speed: {rates['after']:,.0f} importance samples/s after, {rates['before']:,.0f} before "
              f"({rates['after'] / rates['before']:.2f}x)", flush=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
