"""The VampPrior's log p(z) as matrix products (vaekit's `DiagonalGaussianMixture`) against torch.distributions'
`MixtureSameFamily`, which broadcasts z [K, B, d] against the components [C, d] and runs Normal.log_prob
elementwise on a [K, B, C, d] tensor (about 20 passes over it, forward and backward: 1.3M values at B = 128,
C = 500, d = 20), which outweighs the step's matrix products (profile_family.py). vaekit expands the square,

    sum_j (z_j - m_cj)^2 / s_cj^2 = z^2 @ (1/s^2)^T - 2 z @ (m/s^2)^T + sum_j m_cj^2 / s_cj^2,

two [K*B, d] @ [d, C] products and a [K, B, C] logsumexp, evaluated in float64 (vaekit.distributions.mixture).

This script checks that the two agree (log p(z) and the gradients with respect to z and the pseudo-inputs), then
times vaekit's VampPrior training step (as profile_family.py runs it) with each, in alternating blocks in one
process; "ratio" is the median over rounds of the expanded form's step time over torch.distributions'.

    .venv/bin/python benchmarks/vamp_logprob_ab.py [--rounds 10] [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.distributions import MixtureSameFamily

sys.path.insert(0, str(Path(__file__).resolve().parent))
from family_speed import ARMS
from profile_family import make_step


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--steps", type=int, default=5, help="steps per timed block")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from vaekit.distributions import unchecked
    from vaekit.distributions.priors import VampPrior
    from vaekit.models import VAE, VAEConfig

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    expanded = VampPrior.forward  # vaekit's: DiagonalGaussianMixture

    def original(self, encode=None):  # torch.distributions' MixtureSameFamily over the same components
        d = expanded(self, encode)
        return MixtureSameFamily(d.mixture_distribution, d.component_distribution)

    # Agreement, on an untrained 784-400-20 VampPrior VAE with C = 500 and pseudo-inputs from data-like noise.
    model = VAE(VAEConfig(data_shape=(1, 28, 28), latent_dim=20, hidden=(400,), prior="vamp", prior_components=500))
    model.initialize(torch.bernoulli(torch.full((1000, 1, 28, 28), 0.2)))
    z = (2 * torch.randn(5, 128, 20)).requires_grad_()
    values = []
    for forward in (original, expanded):
        VampPrior.forward = forward
        log_p = model.prior().log_prob(z)
        values.append((log_p, *torch.autograd.grad(log_p.sum(), [z, model.prior_module.pseudo_inputs])))
    VampPrior.forward = expanded
    for name, a, b in zip(("log p(z)", "d/dz", "d/du"), values[0], values[1]):
        print(f"{name:<9} max |difference| {(a - b).abs().max().item():.2e} (largest |value| {a.abs().max().item():.2e})")

    x = torch.bernoulli(torch.full((128, 1, 28, 28), 0.2))
    step, _ = make_step(ARMS["vamp"], x)
    times: dict[str, list[float]] = {"torch.distributions": [], "expanded": []}
    with unchecked():
        for forward in (original, expanded):
            VampPrior.forward = forward
            for _ in range(3):
                step()
        for r in range(args.rounds):
            for name in list(times) if r % 2 else list(times)[::-1]:
                VampPrior.forward = original if name == "torch.distributions" else expanded
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    step()
                times[name].append((time.perf_counter() - t0) / args.steps)
    VampPrior.forward = expanded
    for name, t in times.items():
        print(f"{name:<20} {1e3 * statistics.median(t):8.1f} ms/step  {128 / statistics.median(t):8,.0f} images/s")
    ratio = statistics.median(e / o for o, e in zip(times["torch.distributions"], times["expanded"]))
    print(f"ratio (expanded / torch.distributions, median of paired rounds): {ratio:.3f}")


if __name__ == "__main__":
    main()
