"""Where a training step of each family member spends its time: torch.profiler over vaekit's own step.

For each vaekit arm of family_speed.py it builds the same model and objective and runs the step `vaekit.fit` runs
for it (`vaekit.train.fast.step_gradients` where it applies, else the objective's loss, backward, as
`vaekit.train.step.AutogradStep`; then fused Adam; distribution checks off, denormals flushed), on a batch of
binary images. It reports the step's wall time (median of timed blocks, without the profiler), its matrix-product
GFLOP/s (FLOPs counted as in family_speed.py), the minor page faults per step (fresh memory touched for the first
time: glibc's malloc hands multi-MB blocks back to the kernel and maps them again, so every step re-faults its large
temporaries unless MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ are raised), and the profiler's self CPU time by
operator, grouped into matrix products, the optimiser and the rest (elementwise work, reductions, copies).

    .venv/bin/python benchmarks/profile_family.py                                  # all vaekit arms
    .venv/bin/python benchmarks/profile_family.py --arms vae-autograd,iwae50 --steps 50 --top 20
    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 .venv/bin/python benchmarks/profile_family.py
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import step_flops, write_json
from family_speed import ARMS, arm_layers, build_vaekit

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}
OPTIMIZER = {"aten::_fused_adam_"}


def make_step(arm, x: torch.Tensor):
    """vaekit.fit's training step for this arm (a closure) and the name of the gradient path it takes."""
    from vaekit.data.batch import Batch
    from vaekit.train.fast import applies, step_gradients

    model, objective = build_vaekit(arm)
    if hasattr(model, "initialize"):
        model.initialize(x)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    derived = arm.gradients != "autograd" and applies(model, objective, "fp32") is None
    batch = Batch(x)

    def step() -> None:
        if derived:
            step_gradients(model, x)
        else:
            loss = objective(model, batch, 0.0)
            torch.stack([t.detach().sum() for t in loss.terms.values()])  # the loop's epoch sums
            optimizer.zero_grad(set_to_none=True)
            loss.loss.backward()
        optimizer.step()

    return step, "derived" if derived else "autograd"


def profile_arm(arm, x: torch.Tensor, steps: int, blocks: int, top: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    step, path = make_step(arm, x)
    for _ in range(5):
        step()
    times, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t0) / steps)
    seconds = statistics.median(times)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (blocks * steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ops = [(e.key, e.self_cpu_time_total, e.count) for e in prof.key_averages()]
    total = sum(t for _, t, _ in ops)
    groups = {"matrix products": sum(t for k, t, _ in ops if k in MATMUL),
              "fused Adam": sum(t for k, t, _ in ops if k in OPTIMIZER)}
    groups["everything else"] = total - sum(groups.values())
    flops = step_flops(arm_layers(arm, x.shape[0]))
    ops.sort(key=lambda o: -o[1])
    return {"arm": arm.name, "label": arm.label, "path": path, "batch": x.shape[0], "ms_per_step": 1e3 * seconds,
            "images_per_s": x.shape[0] / seconds,
            "minor_page_faults_per_step": faults, "step_mflop": flops / 1e6, "gflops": flops / seconds / 1e9,
            "shares": {k: v / total for k, v in groups.items()},
            "top": [{"op": k, "share": t / total, "calls_per_step": c / steps, "ms_per_step": t / 1e3 / steps}
                    for k, t, c in ops[:top]]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    vaekit_arms = [name for name, arm in ARMS.items() if arm.impl == "vaekit"]
    p.add_argument("--arms", default=",".join(vaekit_arms), help=f"subset of {','.join(vaekit_arms)}")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="steps per timed block and in the profile")
    p.add_argument("--blocks", type=int, default=5, help="timed blocks (the median counts)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=12, help="operators listed per arm")
    p.add_argument("--json", help="write the profiles to this JSON file")
    args = p.parse_args(argv)
    from vaekit.distributions import unchecked

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((args.batch_size, 1, 28, 28), 0.2))
    results = []
    with unchecked():
        for name in args.arms.split(","):
            arm = ARMS[name]
            if arm.impl != "vaekit":
                raise SystemExit(f"--arms: {name} is not a vaekit arm; choose from {','.join(vaekit_arms)}")
            r = profile_arm(arm, x, args.steps, args.blocks, args.top)
            results.append(r)
            s = r["shares"]
            print(f"\n{name} ({r['label']}, {r['path']} step): {r['ms_per_step']:.2f} ms/step, "
                  f"{r['images_per_s']:,.0f} images/s, {r['step_mflop']:.0f} MFLOP/step -> {r['gflops']:.1f} GFLOP/s, "
                  f"{r['minor_page_faults_per_step']:,.0f} minor page faults/step; "
                  f"self CPU time: matrix products {100 * s['matrix products']:.0f}%, fused Adam "
                  f"{100 * s['fused Adam']:.0f}%, everything else {100 * s['everything else']:.0f}%")
            for o in r["top"]:
                print(f"    {o['op']:<42} {100 * o['share']:5.1f}%  {o['ms_per_step']:7.3f} ms/step  "
                      f"{o['calls_per_step']:5.1f} calls/step")
    if args.json:
        write_json(args.json, {"threads": args.threads, "batch_size": args.batch_size, "steps": args.steps,
                               "torch": torch.__version__, "profiles": results})
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
