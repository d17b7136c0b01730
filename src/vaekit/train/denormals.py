"""Flush denormal floats to zero in every CPU thread that torch computes on.

Late in training, Adam's second moments and the gradients of nearly dead units sink below float32's smallest
normal number (1.2e-38), and arithmetic on such denormal values is many times slower on x86 CPUs.
`torch.set_flush_denormal(True)` sets the flush-to-zero and denormals-are-zero bits of the calling thread only.
torch's intra-op worker threads (an OpenMP team) copy the floating-point environment of the thread that creates
them, when the first parallel operator runs; a process that loaded and preprocessed data before training has
already started them, with denormals on. Their share of every parallel operator (matrix products, the fused
Adam update) then slows down as training goes on (benchmarks/epoch_drift.py measures it).

`flush_denormals` sets the bits in the calling thread and then, where torch runs on GNU OpenMP (the runtime of
torch's Linux wheels), in every thread of the calling thread's team, by running one empty parallel region of
`torch.get_num_threads()` threads that sets them. Elsewhere it sets the calling thread's bits only.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

_REGION = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _set_bits(_: int | None) -> None:
    torch.set_flush_denormal(True)


_SET_BITS = _REGION(_set_bits)  # kept alive for the life of the process


def _loaded_gomp() -> ctypes.CDLL | None:
    """The GNU OpenMP runtime this process has loaded (torch's own copy), or None (not Linux, or another runtime)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "libgomp" in line and line.split()[-1].startswith("/")}
    if len(paths) != 1:
        return None  # none, or two runtimes: which one torch's team uses is not known
    try:
        library = ctypes.CDLL(paths.pop())  # already loaded: the same handle, so the same thread team
    except OSError:
        return None
    return library if hasattr(library, "GOMP_parallel") else None


def flush_denormals() -> bool:
    """Flush denormals to zero in this thread and in torch's intra-op worker threads.

    Returns:
        True where every worker thread was reached (GNU OpenMP, or a single thread), False where only the calling
        thread's bits could be set.
    """
    torch.set_flush_denormal(True)
    threads = torch.get_num_threads()
    if threads <= 1:
        return True
    gomp = _loaded_gomp()
    if gomp is None:
        return False
    gomp.GOMP_parallel.argtypes = [_REGION, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    gomp.GOMP_parallel.restype = None
    gomp.GOMP_parallel(_SET_BITS, None, threads, 0)  # releases the GIL; each thread takes it to run _set_bits
    return True


__all__ = ["flush_denormals"]
