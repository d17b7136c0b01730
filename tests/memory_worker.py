"""Run by test_memory.py in a child process (its own allocator and threads): evaluates log p(x) of a small VAE over
N images with K importance samples and prints one JSON object: resident memory (MiB) after every 50 images.

    python tests/memory_worker.py N K [LEAK_KIB]

LEAK_KIB > 0 keeps that many KiB per image alive until the end (a deliberate leak: the test's own check that its
bound catches one).
"""

from __future__ import annotations

import json
import sys

import torch

import vaekit


def resident_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def main(n: int, k: int, leak_kib: int) -> None:
    torch.manual_seed(0)
    # 784 decoder outputs per row and a mixture prior: a chunk's temporaries are megabytes, as for MNIST models.
    config = vaekit.VAEConfig(data_shape=(784,), latent_dim=16, hidden=(64,), prior="mixture", prior_components=200)
    model = vaekit.VAE(config).eval()
    x = torch.bernoulli(torch.full((n, 784), 0.3))
    marks: dict[int, float] = {}
    kept: list[torch.Tensor] = []

    def on_batch(done: int, total: int) -> None:
        while leak_kib and len(kept) < done:
            kept.append(torch.ones(leak_kib * 256))  # 4-byte floats
        if done % 50 == 0:
            marks[done] = resident_mib()

    vaekit.log_likelihood(model, x, num_samples=k, on_batch=on_batch)
    print(json.dumps({"threads": torch.get_num_threads(), "resident_mib": marks}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
