"""Data-parallel training across processes started by `torchrun` (PyTorch's `torch.distributed`).

Every process holds the whole model and the whole training split, and walks the same shuffled order of global
batches; each takes its share of every batch, computes the gradient of its rows, and the gradients are averaged
(one all-reduce per step, weighted by rows) so that every step applies the gradient of the whole global batch,
as a single process would. Backends: gloo on CPU, NCCL on CUDA (`torch.distributed`'s defaults).

    torchrun --nproc-per-node 2 -m vaekit train --data fashion-mnist --out runs/fm   # two processes

Outside `torchrun` (or with one process) every function here is a no-op and `fit` runs as a single process.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import torch
from torch import Tensor, nn

from vaekit.data.batch import Batch


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0


def launched() -> bool:
    """Whether this process was started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """Whether this process is rank 0 of torchrun's processes, or runs alone (before any group exists too)."""
    return os.environ.get("RANK", "0") == "0"


def wait_for_main_to_report(seconds: float = 3.0) -> None:
    """On a failure that every process meets alike, give rank 0 time to print it before this process ends:
    torchrun stops all workers as soon as the first one exits, and the first must be the one that reports."""
    time.sleep(seconds)


def current() -> Group:
    """The process group `fit` trains in: the initialised default group, else a single process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return Group()
    return Group(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                 int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def from_environment() -> Iterator[Group]:
    """Join the process group that torchrun describes in the environment, for the duration of the block."""
    if not launched() or torch.distributed.is_initialized():
        yield current()
        return
    torch.distributed.init_process_group()  # env:// rendezvous; gloo for CPU tensors, NCCL for CUDA ones
    try:
        yield current()
        torch.distributed.barrier()  # tear the group down together: gloo aborts if a peer leaves mid-teardown
    finally:
        torch.distributed.destroy_process_group()


def share(rows: Tensor, group: Group) -> Tensor:
    """This process's part of a global batch of row indices: contiguous, sizes differing by at most one."""
    return rows.tensor_split(group.world)[group.rank] if group.world > 1 else rows


def share_batch(batch: Batch, group: Group) -> Batch:
    """This process's part of a global batch: the same contiguous rows of x, y and the row indices."""
    if group.world == 1:
        return batch
    return Batch(share(batch.x, group), *(None if t is None else share(t, group) for t in (batch.y, batch.index)))


def broadcast_parameters(model: nn.Module, group: Group) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if group.world > 1:
        for tensor in (*model.parameters(), *model.buffers()):
            torch.distributed.broadcast(tensor.data, src=0)


def average_gradients(params: Iterable[nn.Parameter], rows: int, total_rows: int, group: Group) -> None:
    """Replace each process's gradient of its mean loss over `rows` rows by the gradient of the mean over all
    `total_rows` rows of the global batch: sum_r (rows_r / total_rows) grad_r, in one all-reduce."""
    if group.world == 1:
        return
    params = list(params)
    grads = []
    for p in params:
        if p.grad is None:  # unreached by this batch (or no rows here): every process must send the same sizes
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads]).mul_(rows / total_rows)
    torch.distributed.all_reduce(flat)
    for g, part in zip(grads, flat.split([p.numel() for p in params])):
        g.copy_(part.view_as(g))


def all_sum(tensor: Tensor, group: Group) -> Tensor:
    """The elementwise sum of `tensor` over processes (in place; returned for chaining)."""
    if group.world > 1:
        torch.distributed.all_reduce(tensor)
    return tensor


def from_main(tensor: Tensor, group: Group) -> Tensor:
    """Rank 0's value of `tensor` on every process (in place)."""
    if group.world > 1:
        torch.distributed.broadcast(tensor, src=0)
    return tensor


def all_ok(ok: bool, group: Group, device: torch.device | None = None) -> bool:
    """Whether `ok` holds on every process (a collective: every process must call it)."""
    if group.world == 1:
        return ok
    failures = torch.tensor([0 if ok else 1], device=device)
    torch.distributed.all_reduce(failures)
    return int(failures) == 0


def exit_process(code: int) -> NoReturn:
    """End a torchrun worker, once its process group is destroyed, without the interpreter's shutdown.

    After a clean run, gloo's transport sometimes aborts in C++ destructors at interpreter exit ("terminate
    called without an active exception", SIGABRT with no Python frame: about 1 run in 40 here, gloo issue 155),
    and torchrun then reports the whole run as failed. Every file is written and closed by then, so the worker
    flushes its output and leaves directly.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
