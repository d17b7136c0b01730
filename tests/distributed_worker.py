"""Run under `torchrun --standalone --nproc-per-node 2` by test_distributed.py; each process writes RESULT.<rank>.pt.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_worker.py RESULT
"""

from __future__ import annotations

import sys

import torch

import vaekit
from vaekit.train import distributed
from vaekit.train.fast import step_gradients

BATCH, LATENT, SEED = 8, 4, 5  # shards of 4 rows x 4 latent dimensions: 16 normal draws each (see below)


def batch_and_model() -> tuple[torch.Tensor, vaekit.VAE]:
    torch.manual_seed(0)
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=(10,), latent_dim=LATENT, hidden=(8,))).double()
    x = torch.bernoulli(torch.full((BATCH, 10), 0.4, dtype=torch.float64))
    return x, model


def main(out: str) -> None:
    with distributed.from_environment() as group:
        results = {}
        # 1. The weighted average of constant gradients: rank r holds r + 1 over rows_r rows.
        params = [torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(5))]
        rows = [3, 1][group.rank]
        for p in params:
            p.grad = torch.full_like(p, group.rank + 1.0)
        distributed.average_gradients(params, rows, 4, group)
        results["constant"] = [p.grad.clone() for p in params]

        # 2. One derived-gradient step on a shard of a global batch. Rank 1 first draws the normals that rank 0
        # uses, so that the two shards together see exactly the single-process draw of the whole batch: torch
        # turns a sequential stream of uniforms into normals in blocks of 16, so draws of 16 and 32 line up.
        x, model = batch_and_model()
        mine = distributed.share(x, group)
        torch.manual_seed(SEED)
        if group.rank == 1:
            torch.empty(BATCH - mine.shape[0], LATENT, dtype=torch.float64).normal_()
        sums = step_gradients(model, mine)
        distributed.average_gradients(list(model.parameters()), mine.shape[0], BATCH, group)
        results["rows"] = mine.shape[0]
        results["sums"] = distributed.all_sum(sums, group)
        results["grads"] = [p.grad.clone() for p in model.parameters()]
        torch.save(results, f"{out}.{group.rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
    distributed.exit_process(0)  # as `vaekit train` does under torchrun
