"""CPU threads while training: a watch that says, once per run, when training's threads are starved.

OpenMP threads spin at barriers: when other work takes some of the cores, every parallel operator waits for its
slowest thread, and two threads have run 10x slower than one (130 against 1,316 images/s, BENCHMARKS.md). After
each epoch `StarvationWatch` compares the CPU time the process used while training with the wall time and the
threads it computes with. It warns (one line on stderr, once per run) when both say that other work took the
cores: the CPU time is below `STARVED` times threads x wall time, and the threads waited for a core (their run-queue
time, /proc/self/task/*/schedstat) at least `WAITED` of the wall time. The second condition keeps a quiet machine
quiet, where a small model leaves its worker threads idle (little CPU time, but no waiting).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vaekit.limits import usable_cores

#: Starved: CPU time below this fraction of (threads x wall time) ...
STARVED = 0.5
#: ... while the threads waited for a core at least this fraction of the wall time.
WAITED = 0.25


@dataclass(frozen=True)
class Usage:
    """Clocks of this process at one moment, in seconds: CPU time (all threads), wall time, and the time its
    threads waited for a core (None where the kernel does not say)."""

    cpu: float
    wall: float
    waited: float | None


def _waited() -> float | None:
    """Seconds the threads of this process have waited on run queues (the second field of schedstat), or None."""
    total = 0
    try:
        for task in Path("/proc/self/task").iterdir():
            fields = (task / "schedstat").read_text().split()
            total += int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def usage() -> Usage:
    """The clocks of this process now."""
    return Usage(time.process_time(), time.perf_counter(), _waited())


def starved(cpu: float, wall: float, threads: int, waited: float | None) -> bool:
    """Whether `threads` threads that used `cpu` CPU-seconds in `wall` seconds, waiting `waited` seconds for a core
    (None: unknown), were kept from their cores by other work (see the module docstring). Where the wait is unknown,
    a 1-minute load average of at least the cores this process may use stands in for it."""
    if threads <= 1 or wall <= 0 or cpu >= STARVED * threads * wall:
        return False
    if waited is not None:
        return waited >= WAITED * wall
    try:
        return os.getloadavg()[0] >= usable_cores()
    except (AttributeError, OSError):
        return False


class StarvationWatch:
    """Measures each epoch's training (`start`, `check`) and warns once per run when its threads were starved."""

    def __init__(self, threads: int, enabled: bool) -> None:
        self.threads, self.enabled, self.warned = threads, enabled, False
        self.begun: Usage | None = None

    def start(self) -> None:
        if self.enabled and not self.warned:
            self.begun = usage()

    def check(self, epoch: int) -> bool:
        """After an epoch's training: warn if it was starved (once per run); whether it warned now."""
        if self.begun is None or self.warned:
            return False
        now = usage()
        cpu, wall = now.cpu - self.begun.cpu, now.wall - self.begun.wall
        waited = None if now.waited is None or self.begun.waited is None else now.waited - self.begun.waited
        self.begun = None
        if not starved(cpu, wall, self.threads, waited):
            return False
        self.warned = True
        print(f"vaekit train: warning: epoch {epoch} used {cpu / wall:.2f} CPU-seconds per second with "
              f"{self.threads} threads: other work is taking the cores, and threads that wait for each other slow "
              "down many times; `--threads 1` (or fewer threads) may be faster", file=sys.stderr, flush=True)
        return True


__all__ = ["STARVED", "WAITED", "StarvationWatch", "Usage", "starved", "usage"]
