"""log p(x) in bounded memory: resident memory must not grow with the number of images evaluated.

The estimator runs in a child process (its own allocator, two threads, as on a 2-core laptop) over 1,500 images;
its resident memory after the first 100 images may grow by `ALLOWED_MIB` at most (12 KiB per further image).
The bound is loose (a chunk's temporaries are about 6 MiB); what breaks it is memory kept per image, directly or
through the allocator's fragmentation: evaluating a VampPrior VAE once grew 5.5 MiB per image with two threads
(per-batch result tensors kept between multi-MB temporaries). The second test checks the check: the same run with
a deliberate leak of 64 KiB per image fails the bound. No timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("memory_worker.py")
IMAGES, SAMPLES = 1500, 200
#: Growth of resident memory allowed from the 100th image to the last, MiB.
ALLOWED_MIB = 16

pytestmark = pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc/self/statm (Linux)")


def _growth_mib(leak_kib: int = 0) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, str(WORKER), str(IMAGES), str(SAMPLES), str(leak_kib)], env=env,
                          capture_output=True, text=True, check=True, timeout=600)
    marks = {int(k): v for k, v in json.loads(done.stdout)["resident_mib"].items()}
    return marks[IMAGES] - marks[100]


def test_log_likelihood_memory_does_not_grow_with_the_images():
    assert _growth_mib() < ALLOWED_MIB


def test_the_bound_catches_memory_kept_per_image():
    assert _growth_mib(leak_kib=64) > ALLOWED_MIB
