"""Speed of importance-sampled log p(x) estimation: pythae's VAE.get_nll vs vaekit.log_likelihood.

Both estimate log p(x) = log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x), with K importance samples per
image, on the same 784-400-20 MLP VAE (Bernoulli likelihood), on the first --images test images (statically
binarized as in train_speed.py). The figure is importance samples per second = images x K / seconds.
The models are untrained (seeded initialisation): the cost does not depend on the weights' values.

  pythae: model.get_nll(x, n_samples=K, batch_size=B) under torch.no_grad() (it loops over the images in
          Python, running encoder and decoder on B copies of each image per chunk); B defaults to K, pythae's
          fastest setting (one chunk per image). --pythae-grad times the call as is, with autograd on.
  vaekit: vaekit.log_likelihood(model, x, num_samples=K) (chunked over images and samples).

Each part runs in its own subprocess (own peak RSS), with the same thread count. Optional longer parts:
--full times vaekit with K=1000 over all 10,000 test images; --k5000 measures vaekit's time and peak RSS with
K=5000 (over --k5000-images images).

    .venv/bin/python benchmarks/eval_speed.py
    .venv/bin/python benchmarks/eval_speed.py --full --k5000 --json benchmarks/results/eval_speed.json
    .venv/bin/python benchmarks/eval_speed.py --images 50      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATASETS,
    HIDDEN,
    LATENT,
    PYTHAE_PYTHON,
    RESULTS_DIR,
    import_vaekit,
    load_binary_splits,
    maxrss_mb,
    peak_rss_mb,
    write_json,
)


# ------------------------------------------------------------------------------------------- workers
def part_pythae(x: torch.Tensor, k: int, args) -> dict:
    from _pythae_model import build_vae, pythae_version

    batch = args.pythae_batch_size or k
    if batch > k or k % batch:
        raise SystemExit(f"--pythae-batch-size {batch} must divide K={k} (get_nll draws max(K, B) samples)")
    model = build_vae().eval()
    t0 = time.perf_counter()
    if args.pythae_grad:
        value = model.get_nll(x, n_samples=k, batch_size=batch)
    else:
        with torch.no_grad():
            value = model.get_nll(x, n_samples=k, batch_size=batch)
    seconds = time.perf_counter() - t0
    # get_nll returns the mean log p(x) (its name notwithstanding), nats.
    return {"seconds": seconds, "mean_log_px": float(value), "pythae_version": pythae_version(),
            "call": f"VAE.get_nll(x, n_samples={k}, batch_size={batch})"
                    + ("" if args.pythae_grad else " under torch.no_grad()")}


def part_vaekit(x: torch.Tensor, k: int, args) -> dict:
    vaekit = import_vaekit()
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(1, 28, 28), latent_dim=LATENT, hidden=(HIDDEN,),
                                        likelihood="bernoulli", network="mlp")).eval()
    t0 = time.perf_counter()
    ll = vaekit.log_likelihood(model, x, num_samples=k)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "mean_log_px": ll.mean, "stderr": ll.stderr,
            "call": f"vaekit.log_likelihood(model, x, num_samples={k})"}


PARTS = {"pythae": part_pythae, "vaekit": part_vaekit}


def run_worker(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.load(args.data_file)[: args.images].float()
    impl = args.worker.split(":")[0]
    out = PARTS[impl](x, args.k, args)
    out.update(part=args.worker, impl=impl, images=len(x), k=args.k, samples_per_s=len(x) * args.k / out["seconds"],
               peak_rss_mb=peak_rss_mb(), ru_maxrss_mb=maxrss_mb(), threads=torch.get_num_threads(),
               torch=torch.__version__)
    write_json(args.result_file, out)


# -------------------------------------------------------------------------------------------- parent
def run_part(name: str, images: int, k: int, args, data_file: str, tmp: str) -> dict:
    impl = name.split(":")[0]
    python = str(PYTHAE_PYTHON) if impl == "pythae" else sys.executable
    if not Path(python).exists():
        return {"part": name, "error": f"{python} missing: run bash benchmarks/setup_pythae.sh"}
    result = os.path.join(tmp, f"{name.replace(':', '_')}.json")
    cmd = [python, __file__, "--worker", name, "--data-file", data_file, "--result-file", result,
           "--images", str(images), "--k", str(k), "--threads", str(args.threads),
           "--pythae-batch-size", str(args.pythae_batch_size or 0)] + (["--pythae-grad"] if args.pythae_grad else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log = RESULTS_DIR / f"eval_speed_{name.replace(':', '_')}.log"
    print(f"{name}: {images} images x K={k} ...", flush=True)
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0 or not os.path.exists(result):
        tail = log.read_text().strip().splitlines()[-5:]
        return {"part": name, "error": f"exit {proc.returncode}; log {log}: " + " | ".join(tail)}
    return json.loads(Path(result).read_text())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=DATASETS, default="fashion-mnist")
    p.add_argument("--images", type=int, default=1000, help="test images in the pythae-vs-vaekit comparison")
    p.add_argument("--k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pythae-batch-size", type=int, default=0, help="get_nll's batch_size (default: K)")
    p.add_argument("--pythae-grad", action="store_true", help="call get_nll with autograd on, as written")
    p.add_argument("--full", action="store_true", help="also time vaekit, K=1000, over all test images")
    p.add_argument("--k5000", action="store_true", help="also time vaekit with K=5000 and report its peak RSS")
    p.add_argument("--k5000-images", type=int, default=1000, help="images for the K=5000 part")
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return run_worker(args)

    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.1f} on {os.cpu_count()} cores; timings are noisy",
              file=sys.stderr)
    x_test = load_binary_splits(args.data)["x_test"]
    plan = [("pythae", args.images, args.k), ("vaekit", args.images, args.k)]
    if args.full:
        plan.append(("vaekit:full", len(x_test), 1000))
    if args.k5000:
        plan.append(("vaekit:k5000", args.k5000_images, 5000))
    with tempfile.TemporaryDirectory(prefix="vaekit-eval-") as tmp:
        data_file = os.path.join(tmp, "x_test.pt")
        torch.save(x_test, data_file)
        results = [run_part(name, n, k, args, data_file, tmp) for name, n, k in plan]

    print(f"\n{'part':<14} {'images':>7} {'K':>6} {'seconds':>9} {'samples/s':>12} {'RSS MB':>8} {'mean log p(x)':>14}")
    for r in results:
        if "error" in r:
            print(f"{r['part']:<14} failed: {r['error']}")
            continue
        print(f"{r['part']:<14} {r['images']:>7} {r['k']:>6} {r['seconds']:>9.2f} {r['samples_per_s']:>12,.0f} "
              f"{r['peak_rss_mb']:>8.0f} {r['mean_log_px']:>14.2f}")
    by = {r["part"]: r for r in results if "error" not in r}
    ratio = by["vaekit"]["samples_per_s"] / by["pythae"]["samples_per_s"] if {"vaekit", "pythae"} <= set(by) else None
    if ratio is not None:
        print(f"\nvaekit / pythae (samples/s, {args.images} images, K={args.k}): {ratio:.1f}x")
    if args.json:
        write_json(args.json, {"data": args.data, "threads": args.threads, "images": args.images, "k": args.k,
                               "load_average_before": load_before, "load_average_after": os.getloadavg(),
                               "parts": results, "ratio_vaekit_over_pythae": ratio})
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
