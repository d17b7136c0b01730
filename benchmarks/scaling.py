"""Throughput of vaekit's training step vs batch size and hidden width (784-H-20 MLP VAE, Bernoulli likelihood).

For each (batch size, width) it builds a fresh model, runs a few warm-up steps, then times --repeats blocks of
steps over the in-memory training data (each at least --min-seconds and --min-steps), and reports the median
training images/s and the achieved GFLOP/s (forward + backward FLOPs per image as in train_speed.py). No
validation, no epochs: this is the cost of the gradient step alone.

The step timed for "vaekit" is the one `vaekit.fit` runs (`vaekit.train.fast.step_gradients`, fused Adam,
flush-denormal, distribution checks off), on batches sliced from one tensor by a randperm index. `--impl plain`
times train_speed.py's arm (c) step instead, and `--impl both` times the two.

    .venv/bin/python benchmarks/scaling.py                   # writes benchmarks/results/scaling.{json,png}
    .venv/bin/python benchmarks/scaling.py --impl both --min-seconds 2
    .venv/bin/python benchmarks/scaling.py --batch-sizes 64,128 --widths 400 --min-seconds 0.3   # quick check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LATENT, RESULTS_DIR, D, flops_per_image, import_vaekit, load_binary_splits, write_json


def vaekit_step(width: int, lr: float):
    """One vaekit training step as `vaekit.fit` runs it for a fresh 784-width-20 model: the hand-derived gradients
    of `vaekit.train.fast` (which apply to this model), then fused Adam."""
    vaekit = import_vaekit()
    from vaekit.distributions import unchecked
    from vaekit.train.fast import applies, step_gradients

    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(1, 28, 28), latent_dim=LATENT, hidden=(width,),
                                        likelihood="bernoulli", network="mlp"))
    why_not = applies(model, vaekit.build_objective("elbo"), "fp32")
    if why_not is not None:  # fit would fall back to autograd: this would not time fit's step
        raise SystemExit(f"the derived step does not apply to this model ({why_not})")
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)

    def step(xb):
        with unchecked():  # as in fit: the data's support was checked once
            step_gradients(model, xb)
        optimizer.step()

    return step, (1, 28, 28)


def plain_step(width: int, lr: float):
    """train_speed.py's arm (c) step: fused head, BCE-with-logits, analytic KL, fused Adam."""
    from train_speed import PlainVAE

    model = PlainVAE(hidden=width)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)

    def step(xb):
        loss = model.neg_elbo(xb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, (D,)


IMPLS = {"vaekit": vaekit_step, "plain": plain_step}


def measure(impl: str, x: torch.Tensor, batch: int, width: int, *, lr: float, warmup: int, min_steps: int,
            min_seconds: float, repeats: int, seed: int = 0) -> dict:
    """Images/s of `impl`'s step at one (batch, width): median of `repeats` timed blocks after `warmup` steps."""
    torch.manual_seed(seed)
    step, shape = IMPLS[impl](width, lr)
    x = x.reshape(-1, *shape)
    n = len(x)
    order, pos = torch.randperm(n), 0

    def next_batch():
        nonlocal order, pos
        if pos + batch > n:
            order, pos = torch.randperm(n), 0
        pos += batch
        return x[order[pos - batch : pos]]

    for _ in range(warmup):
        step(next_batch())
    blocks = []
    for _ in range(repeats):
        steps, t0 = 0, time.perf_counter()
        while True:
            step(next_batch())
            steps += 1
            elapsed = time.perf_counter() - t0
            if steps >= min_steps and elapsed >= min_seconds:
                break
        blocks.append(steps * batch / elapsed)
    ips = statistics.median(blocks)
    return {"impl": impl, "batch_size": batch, "hidden": width, "images_per_s": ips,
            "images_per_s_blocks": blocks, "gflops": ips * flops_per_image(hidden=width) / 1e9}


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"vaekit": "-", "plain": "--"}
    colors = {w: f"C{i}" for i, w in enumerate(sorted({r["hidden"] for r in rows}))}
    for impl in sorted({r["impl"] for r in rows}, reverse=True):
        for width in sorted({r["hidden"] for r in rows}):
            pts = sorted((r["batch_size"], r["images_per_s"], r["gflops"]) for r in rows
                         if r["impl"] == impl and r["hidden"] == width)
            label = f"{impl}, hidden {width}"
            kw = {"marker": "o", "color": colors[width], "linestyle": styles.get(impl, "-"), "label": label}
            axes[0].plot([p[0] for p in pts], [p[1] for p in pts], **kw)
            axes[1].plot([p[0] for p in pts], [p[2] for p in pts], **kw)
    for ax, ylabel in zip(axes, ("training images / s", "achieved GFLOP/s (fwd+bwd)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(rows: list[dict], batches: list[int], widths: list[int]) -> None:
    for impl in sorted({r["impl"] for r in rows}):
        print(f"\n{impl}: training images/s (achieved GFLOP/s)")
        print(f"{'batch':>6} " + " ".join(f"{'hidden ' + str(w):>18}" for w in widths))
        for b in batches:
            cells = []
            for w in widths:
                r = next(r for r in rows if r["impl"] == impl and r["batch_size"] == b and r["hidden"] == w)
                cells.append(f"{r['images_per_s']:>10,.0f} ({r['gflops']:>5.1f})")
            print(f"{b:>6} " + " ".join(f"{c:>18}" for c in cells))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", choices=("vaekit", "plain", "both"), default="vaekit")
    p.add_argument("--data", choices=("fashion-mnist", "binarized-mnist"), default="fashion-mnist")
    p.add_argument("--batch-sizes", default="32,64,128,256,512,1024")
    p.add_argument("--widths", default="200,400,600,1000", help="hidden widths H of the 784-H-20 MLP")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per setting")
    p.add_argument("--min-steps", type=int, default=20, help="steps per timed block, at least")
    p.add_argument("--min-seconds", type=float, default=0.5, help="seconds per timed block, at least")
    p.add_argument("--repeats", type=int, default=3, help="timed blocks per setting; the median is reported")
    p.add_argument("--json", default=str(RESULTS_DIR / "scaling.json"))
    p.add_argument("--png", default=str(RESULTS_DIR / "scaling.png"))
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    widths = [int(w) for w in args.widths.split(",")]
    impls = ["vaekit", "plain"] if args.impl == "both" else [args.impl]
    load = os.getloadavg()
    if load[0] > 0.5:
        print(f"warning: load average {load[0]:.1f} on {os.cpu_count()} cores; timings are noisy", file=sys.stderr)
    x = load_binary_splits(args.data)["x_train"].float()
    rows = []
    for w in widths:  # implementations interleaved per setting, so that they see the same machine state
        for b in batches:
            for impl in impls:
                r = measure(impl, x, b, w, lr=args.lr, warmup=args.warmup, min_steps=args.min_steps,
                            min_seconds=args.min_seconds, repeats=args.repeats)
                rows.append(r)
                print(f"{impl:>6} hidden {w:>5} batch {b:>5}: {r['images_per_s']:>10,.0f} images/s "
                      f"{r['gflops']:>6.1f} GFLOP/s", flush=True)
    print_table(rows, batches, widths)
    meta = {"data": args.data, "threads": args.threads, "torch": torch.__version__, "warmup": args.warmup,
            "min_steps": args.min_steps, "min_seconds": args.min_seconds, "repeats": args.repeats,
            "load_average_before": load, "load_average_after": os.getloadavg(), "latent_dim": LATENT}
    write_json(args.json, {"meta": meta, "rows": rows})
    plot(rows, Path(args.png), f"VAE 784-H-{LATENT} training step, {args.threads} thread(s), torch {torch.__version__}")
    print(f"\nwrote {args.json} and {args.png}")


if __name__ == "__main__":
    main()
