"""Paired A/B timing of training-step variants on the same model and batch, interleaved in one process.

On a shared machine absolute speed drifts by tens of percent between runs; alternating the variants in short
blocks (order reversed every round) and comparing each round's pair cancels most of that drift. Every variant
runs vaekit's own step on a 784-400-20 MLP at batch 128: the ELBO objective (`vaekit.build_objective("elbo")`)
and the sums of its named terms, as `vaekit.fit`'s autograd step (`vaekit.train.step.AutogradStep`) computes them:

    eager        fused Adam, zero_grad(set_to_none=True)   (what vaekit.fit does)
    compiled     the same with torch.compile of the objective's loss and sums (inductor, CPU)
    foreach      Adam(foreach=True) instead of fused
    keepgrad     zero_grad(set_to_none=False)
    bf16         torch.autocast("cpu", dtype=torch.bfloat16) around the objective
    derived      vaekit.train.fast.step_gradients (hand-derived gradients, no autograd graph) + fused Adam
    plain        not vaekit: the tuned plain-PyTorch step of train_speed.py's arm (c), on the same batch (ELBO only)

`--objective iwae --iw-samples K` runs the variants on the IWAE bound instead (e.g. `--variants eager,derived`).

    .venv/bin/python benchmarks/step_ab.py [--rounds 30] [--steps 20] [--variants eager,compiled,foreach,keepgrad,bf16,derived,plain]
    .venv/bin/python benchmarks/step_ab.py --objective iwae --iw-samples 5 --variants eager,derived
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import import_vaekit


def make_objective(built):
    """The objective as `vaekit.fit` runs it: (loss, the batch's sums of its named terms, detached)."""
    from vaekit.data.batch import Batch

    def objective(model, x):
        loss = built(model, Batch(x), 0.0)
        return loss.loss, torch.stack([t.detach().sum() for t in loss.terms.values()]).float()

    return objective


def make_step(variant: str, base, x, built):
    from vaekit.train.fast import step_gradients

    _objective = make_objective(built)
    model = copy.deepcopy(base)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, **({"foreach": True} if variant == "foreach" else {"fused": True}))
    objective = torch.compile(_objective, dynamic=False) if variant == "compiled" else _objective
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if variant == "bf16" else contextlib.nullcontext

    if variant == "plain":
        from train_speed import PlainVAE

        torch.manual_seed(0)
        plain = PlainVAE()
        plain_optimizer = torch.optim.Adam(plain.parameters(), 1e-3, fused=True)
        x_flat = x.reshape(x.shape[0], -1)

        def plain_step() -> None:
            loss = plain.neg_elbo(x_flat)
            plain_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            plain_optimizer.step()

        return plain_step

    def step() -> None:
        if variant == "derived":
            step_gradients(model, x, built)
            optimizer.step()
            return
        with autocast():
            loss, _ = objective(model, x)
        optimizer.zero_grad(set_to_none=variant != "keepgrad")
        loss.backward()
        optimizer.step()

    return step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="eager,compiled,foreach,keepgrad,bf16,derived,plain")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--steps", type=int, default=20, help="steps per timed block")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--objective", choices=("elbo", "iwae"), default="elbo")
    p.add_argument("--iw-samples", type=int, default=5, help="K of --objective iwae")
    args = p.parse_args(argv)
    if args.objective == "iwae" and "plain" in args.variants.split(","):
        p.error("the plain loop's step trains the ELBO only: leave 'plain' out of --variants with --objective iwae")
    vaekit = import_vaekit()
    from vaekit.distributions import unchecked

    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    base = vaekit.VAE(vaekit.VAEConfig(data_shape=(1, 28, 28), latent_dim=20, hidden=(400,)))
    x = torch.bernoulli(torch.full((args.batch_size, 1, 28, 28), 0.2))
    names = args.variants.split(",")
    built = vaekit.build_objective(args.objective, {"iw_samples": args.iw_samples} if args.objective == "iwae" else {})
    print(f"objective: {built.describe()}")
    steps = {name: make_step(name, base, x, built) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    with unchecked():
        for name in names:  # warm-up, and the one-off compilation
            for _ in range(30):
                steps[name]()
        for r in range(args.rounds):
            for name in names if r % 2 else names[::-1]:
                t = time.perf_counter()
                for _ in range(args.steps):
                    steps[name]()
                times[name].append((time.perf_counter() - t) / args.steps)
    print(f"{'variant':<10} {'images/s':>10} {'time vs eager (median of paired rounds)':>42}")
    for name in names:
        ratio = statistics.median(a / b for a, b in zip(times[name], times[names[0]]))
        print(f"{name:<10} {args.batch_size / statistics.median(times[name]):>10,.0f} {ratio:>42.3f}")


if __name__ == "__main__":
    main()
