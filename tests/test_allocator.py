"""vaekit's commands keep freed memory in the process (vaekit.allocator): without it, an importance-sampled log p(x)
after the diagnostics grew resident memory by MBs per datapoint with no tensor kept (glibc's adaptive thresholds).
Both runs are fresh processes; the control shows the growth, so the test can fail."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
from vaekit.estimate import summarize
from vaekit.models import build_model
from vaekit.estimate import log_likelihood
torch.set_num_threads(1)
if sys.argv[1] == "kept":
    from vaekit.allocator import keep_freed_memory
    assert keep_freed_memory()
torch.manual_seed(0)
model = build_model("vae", {"data_shape": (784,), "hidden": (400,), "latent_dim": 20, "prior": "vamp"})
summarize(model, torch.bernoulli(torch.full((2048, 784), 0.3)))  # large blocks first, as `vaekit evaluate` does
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
log_likelihood(model, torch.bernoulli(torch.full((100, 784), 0.3)), 1000)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)  # MB
"""


def _growth_mb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the thresholds are glibc's (Linux)")
def test_log_likelihood_memory_stays_flat_with_the_commands_allocator_settings():
    assert _growth_mb("default") > 200  # about 4 MB per datapoint here
    assert _growth_mb("kept") < 50
