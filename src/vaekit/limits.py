"""Bounded resources: how much memory vaekit may ask for, and refusals that say how much a request needs; how many
CPU threads it computes with.

Every size that comes from a file header or from the user (an array's shape, an image's pixels, a gzip stream,
`--hidden`, `sample -n`) is compared with `memory_budget()` before anything of that size is allocated, so that
hostile or mistaken input ends in one line with an estimate instead of an allocation error or a swapping machine.

The budget is the memory available to this process: the smaller of MemAvailable (/proc/meminfo) and the
cgroup's limit less its usage (containers), or `$VAEKIT_MEMORY_LIMIT` (bytes; suffixes K, M, G, T) when set.

Threads (`--threads`): OpenMP threads spin at their barriers, so on a machine whose cores are taken by other work
more threads can be many times slower than one. `--threads auto` (`auto_threads`) takes the cores this process may
use less the other work running on the machine when it starts.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from vaekit.errors import VaekitError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def parse_bytes(text: str, what: str = "VAEKIT_MEMORY_LIMIT") -> int:
    """'512M' -> 536870912, '1GiB' -> 1073741824; plain digits are bytes. `what` names the setting in the error."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise VaekitError(f"{what} {text[:40]!r} is not a size; give bytes, or a number with K, M, G or T (1G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def memory_budget() -> int:
    """Bytes this process may allocate for one request (see the module docstring)."""
    override = os.environ.get("VAEKIT_MEMORY_LIMIT")
    if override:
        return parse_bytes(override)
    candidates = [_meminfo_available()]
    limit, usage = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and usage is not None:
        candidates.append(max(0, limit - usage))
    known = [c for c in candidates if c is not None]
    return min(known) if known else 1 << 34  # 16 GiB where nothing can be read


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; sizes in binary units, three significant digits (header sizes can be astronomical)."""
    if n >= 1 << 70:  # beyond floats' comfort: whole PiB as an integer
        pib = int(n) >> 50
        return f"{pib:.3g} PiB" if pib < 10**300 else f"about 10^{len(str(pib)) - 1} PiB"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # unreachable


def ensure_fits(needed: float, what: str, fix: str, error: type[VaekitError] = VaekitError) -> None:
    """Refuse a request of `needed` bytes that exceeds `memory_budget()`: one line naming what asked for it,
    the estimate, the budget and the fix."""
    budget = memory_budget()
    if needed > budget:
        raise error(f"{what}: needs about {format_bytes(needed)} of memory, more than the {format_bytes(budget)} "
                    f"available here; {fix}")


def tensor_bytes(run: Callable[[], object]) -> int:
    """Bytes of every tensor that `run()` makes, counted operator by operator (nothing freed is subtracted, so
    it bounds what `run` holds at once from above). Runs on real or meta tensors alike."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    total = 0

    class Count(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # Not wrapped in torch._dynamo.disable: its first use imports torch._dynamo, about 1 s, which was the
            # whole of a one-time cost of `log_likelihood` (its chunk plan probes the model with this mode).
            # Nothing here runs under torch.compile. (A torch without this hook only pays the import again.)
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            nonlocal total
            out = func(*args, **(kwargs or {}))
            total += sum(t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor))
            return out

    with Count():
        run()
    return total


# ------------------------------------------------------------------------------------------- threads

#: How `--threads auto` chooses, as --help, the README and `auto_threads` say it.
AUTO_THREADS_RULE = ("the cores this process may use (its CPU affinity and cgroup quota) less the other tasks "
                     "running or waiting for a core when it starts (the kernel's run queue, averaged over 50 ms), "
                     "at least 1")

#: Reads of the run queue that `busy_elsewhere` averages, and the seconds between two of them.
RUN_QUEUE_READS, RUN_QUEUE_INTERVAL = 6, 0.01


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (os.sched_getaffinity), or os.cpu_count(), and no more
    than the cgroup's CPU quota (cpu.max, rounded up) where it has one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError, ZeroDivisionError):
        pass
    return max(1, cores)


def _procs_running() -> int | None:
    """Tasks running or ready to run on the machine now (/proc/stat's procs_running, this one included), or None."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def busy_elsewhere() -> float:
    """Cores' worth of other work now: the tasks running or waiting for a core besides this one, averaged over
    `RUN_QUEUE_READS` reads of the run queue `RUN_QUEUE_INTERVAL` s apart. Where the kernel does not say (no
    /proc/stat), the 1-minute load average, which also counts work that has just ended; 0 where neither is known.

    The run queue, not the load average, because the load average lags by a minute: right after a run ends (a
    script that trains twice, a benchmark's arms) it still counts that run, and a quiet machine got 1 thread where
    2 were 1.6x faster (BENCHMARKS.md, `benchmarks/threads.py`)."""
    reads: list[int] = []
    for i in range(RUN_QUEUE_READS):
        if i:
            time.sleep(RUN_QUEUE_INTERVAL)
        running = _procs_running()
        if running is None:
            break
        reads.append(max(0, running - 1))
    if reads:
        return sum(reads) / len(reads)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def auto_threads() -> int:
    """`--threads auto`: `AUTO_THREADS_RULE`, so that a busy machine gets fewer threads than a quiet one."""
    return max(1, usable_cores() - math.floor(busy_elsewhere() + 0.5))


def resolve_threads(value: int | str, what: str = "--threads") -> int:
    """The number of threads `value` (a whole number, or "auto") asks for; a number above `usable_cores()` (or
    below 1) is a `VaekitError` naming `what` (the option, or the file and key it came from)."""
    if value == "auto":
        return auto_threads()
    cores = usable_cores()
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cores:
        raise VaekitError(f"{what} {value}: this process may use {cores} CPU core{'s' * (cores != 1)} here; give 1 "
                          f"to {cores}, or auto")
    return value


@contextlib.contextmanager
def using_threads(value: int | str, what: str = "--threads") -> Iterator[int]:
    """Compute with `resolve_threads(value)` threads (torch.set_num_threads) for the block, then as before."""
    import torch

    threads = resolve_threads(value, what)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


__all__ = ["AUTO_THREADS_RULE", "auto_threads", "busy_elsewhere", "ensure_fits", "format_bytes", "memory_budget",
           "parse_bytes", "resolve_threads", "tensor_bytes", "usable_cores", "using_threads"]
