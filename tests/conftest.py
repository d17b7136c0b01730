"""Shared test setup: fixed seeds, distribution validation on, warnings as errors (pyproject), clocks that never
say training is starved; a small tmpfs for real filesystem faults."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch.distributions import Distribution


@pytest.fixture(autouse=True)
def _seeded_and_validated():
    torch.manual_seed(0)
    np.random.seed(0)
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(True)
    yield
    Distribution.set_default_validate_args(previous)


@pytest.fixture(autouse=True)
def _quiet_clocks(monkeypatch):
    """Training's starvation warning (`vaekit.train.threads`) reads clocks that say "not starved", so that no test
    depends on how busy the machine is; tests/test_threads.py injects its own."""
    from vaekit.train import threads

    monkeypatch.setattr(threads, "usage", lambda: threads.Usage(cpu=0.0, wall=0.0, waited=None))


@pytest.fixture
def tmpfs(tmp_path):
    """A 3 MiB tmpfs, where this machine lets the test mount one (root, outside a locked-down container)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here: the real-filesystem fault tests need a tmpfs (the injected-fault tests "
                    "cover the same paths)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}: it needs root outside a "
                    "locked-down container); the injected-fault tests cover the same paths")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
