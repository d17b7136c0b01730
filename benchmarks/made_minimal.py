"""A minimal MADE on static binarized MNIST, written independently of vaekit (torch and the standard library only),
to check `vaekit train --model made` against: one hidden layer, one connectivity mask, exact log p(x).

Recipe (the defaults): 784-500-784, ReLU, Adam (lr 1e-3, L2 weight decay 1e-4), the learning rate divided by 10
after --step epochs, --epochs epochs of batches of 100 in a fresh random order each epoch; the input ordering
natural or a random permutation (--order, seeded by --seed). Prints one JSON line per epoch (validation and
test log p(x), nats per image) and writes them all to --json.

    VAEKIT_DATA=../shared/data python benchmarks/made_minimal.py --order random --json made_minimal.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def load(split: str) -> Tensor:
    """One split of the .amat.gz files (one image per line, 784 values 0/1) as a float32 tensor [N, 784]."""
    root = Path(os.environ.get("VAEKIT_DATA", "../shared/data"))
    path = root / "binarized-mnist" / f"binarized_mnist_{split}.amat.gz"
    with gzip.open(path, "rb") as f:
        digits = f.read().replace(b" ", b"").replace(b"\n", b"")
    return (torch.frombuffer(bytearray(digits), dtype=torch.uint8) - ord("0")).float().reshape(-1, 784)


class Made(nn.Module):
    """p(x) = prod_d p(x_o(d) | x_o(<d)) with every conditional's logit from one masked hidden layer."""

    def __init__(self, d: int, hidden: int, order: Tensor, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed + 1)
        rank = torch.empty(d, dtype=torch.long)
        rank[order] = torch.arange(d)  # rank[i]: position of input i in the ordering, 0..d-1
        m = torch.randint(0, d - 1, (hidden,), generator=g)  # each hidden unit sees inputs of rank <= m
        self.register_buffer("mask_in", (m[:, None] >= rank[None, :]).float())  # [hidden, d]
        self.register_buffer("mask_out", (rank[:, None] > m[None, :]).float())  # [d, hidden]
        self.inp, self.out = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def logits(self, x: Tensor) -> Tensor:
        h = F.relu(F.linear(x, self.inp.weight * self.mask_in, self.inp.bias))
        return F.linear(h, self.out.weight * self.mask_out, self.out.bias)

    def log_prob(self, x: Tensor) -> Tensor:
        return -F.binary_cross_entropy_with_logits(self.logits(x), x, reduction="none").sum(1)


@torch.no_grad()
def score(model: Made, x: Tensor) -> float:
    return float(torch.cat([model.log_prob(b) for b in x.split(1000)]).double().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--order", choices=("natural", "random"), default="random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=500)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--step", type=int, default=45, help="divide the learning rate by 10 after this many epochs")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    train, valid, test = load("train"), load("valid"), load("test")
    d = train.shape[1]
    order = torch.randperm(d, generator=torch.Generator().manual_seed(args.seed)) if args.order == "random" else \
        torch.arange(d)
    model = Made(d, args.hidden, order, args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=args.step, gamma=0.1)
    rows, started = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for index in torch.randperm(len(train)).split(args.batch_size):
            loss = -model.log_prob(train[index]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(index)
        sched.step()
        model.eval()
        rows.append({"epoch": epoch, "train_nats": -total / len(train), "valid_nats": score(model, valid),
                     "test_nats": score(model, test), "seconds": time.perf_counter() - started})
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "epochs": rows}, indent=1))


if __name__ == "__main__":
    main()
