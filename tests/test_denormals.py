"""Flush-to-zero reaches torch's worker threads (vaekit.train.denormals), checked by arithmetic on denormal floats
split across two threads in a fresh process whose thread team started before flush-to-zero was asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

SCRIPT = """
import sys, torch
torch.set_num_threads(2)
x = torch.full((4_000_000,), 1e-39)  # float32 denormals
(x * 2.0).sum()  # a parallel operator: the worker threads start here, with denormals on
if sys.argv[1] == "calling-thread":
    torch.set_flush_denormal(True)
else:
    from vaekit.train.denormals import flush_denormals
    assert flush_denormals(), "the worker threads were not reached"
print(int(((x * 1.0) != 0).sum()))
"""


def _denormals_left(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not torch.backends.openmp.is_available() or sys.platform != "linux",
                    reason="reaching the worker threads needs torch's GNU OpenMP runtime (Linux wheels)")
def test_flush_denormals_reaches_the_worker_threads():
    # The control: torch.set_flush_denormal alone leaves the other thread's share denormal (so the check can fail).
    assert _denormals_left("calling-thread") > 0
    assert _denormals_left("every-thread") == 0
