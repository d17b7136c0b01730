"""Keep freed memory in the process: glibc malloc settings for vaekit's commands.

glibc's malloc serves blocks above a threshold with mmap and returns the top of its heap to the system when more
than a threshold is free there; both thresholds adapt as the process frees large blocks. An importance-sampled
log p(x) allocates and frees a few multi-MB blocks per chunk of samples, tens of thousands of times. After an
earlier pass with larger blocks (the diagnostics over 1,024 rows) has moved the thresholds, that pattern made the
resident memory of `vaekit evaluate` grow by a few MB per datapoint with no tensor kept (measured: a VampPrior VAE,
K = 1000, 3.9 MB per test image, so 39 GB for the 10,000 MNIST test images: killed on a 24 GB machine; the plain
VAE grew more slowly). The same blocks, mapped afresh each time, cost page faults in multi-sample training
(BENCHMARKS.md, "Where each step's time goes").

`keep_freed_memory` fixes both thresholds: blocks up to 32 MiB come from the heap (the largest mmap threshold glibc
accepts), and the heap is trimmed only when 1 GiB is free at its top. Measured on that evaluation (400 test
images, K = 1000, one thread): resident memory 2.58 GB -> 0.55 GB, time 22.6 s -> 22.3 s; pinning the mmap
threshold at glibc's default 128 KiB instead also bounds the memory but takes 52 s (every block is mapped afresh).
The cost: up to 1 GiB of freed memory stays with the process until it exits. The vaekit command line sets it at
start; a program of your own can call it, or set MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Fix glibc malloc's mmap and trim thresholds (see the module); True where they were set (Linux with glibc),
    False elsewhere (another C library or system: nothing is changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


__all__ = ["keep_freed_memory"]
