"""Nothing lost, nothing hangs: training killed (SIGKILL) at chosen file operations and at random moments, then
resumed, ends bit-identical to an uninterrupted run; every command meets failing writes (injected at every file
operation, and for real on a small tmpfs) with one line and a non-zero exit, and loses nothing."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import vaekit.files
from vaekit.cli import EXIT_IO, main

# Tiny data and model: an epoch takes milliseconds, so a run is mostly Python's start-up.
TRAIN = ["--hidden", "8", "--latent-dim", "2", "--batch-size", "16", "--seed", "3", "--epochs", "3"]
TIMING = ("train_seconds", "epoch_seconds", "images_per_second")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "binary.npy"
    np.save(path, (np.random.default_rng(0).random((60, 12)) < 0.3).astype(np.float32))
    return path


def _command(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), *TRAIN, *extra]


def _subprocess(args: list[str], fault: str | None = None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(vaekit.files.FAULT_ENV, None)
    if fault:
        env[vaekit.files.FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-m", "vaekit", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _finish(args: list[str], fault: str | None = None) -> tuple[int, str]:
    proc = _subprocess(args, fault)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def _without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def _snapshot(run: Path) -> dict:
    """Everything a run holds, less wall times: every tensor, the checkpoint's state, the exports."""
    checkpoint = load_file(run / "checkpoint.safetensors")
    with safe_open(run / "checkpoint.safetensors", "np") as f:
        state = json.loads(f.metadata()["state"])
    state["history"] = _without_timing(state["history"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {"checkpoint": checkpoint, "state": state, "model": load_file(run / "model.safetensors"),
            "metrics": _without_timing(rows)}


def _assert_identical(got: dict, want: dict, label: str) -> None:
    for part in ("checkpoint", "model"):
        assert got[part].keys() == want[part].keys(), f"{label}: {part} tensors differ in names"
        for key in want[part]:
            np.testing.assert_array_equal(got[part][key], want[part][key], err_msg=f"{label}: {part} {key}")
    assert got["state"] == want["state"], f"{label}: checkpoint state differs"
    assert got["metrics"] == want["metrics"], f"{label}: metrics.jsonl differs"


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> dict:
    run = tmp_path_factory.mktemp("reference") / "run"
    code, err = _finish(_command(data, run))
    assert code == 0, err
    return _snapshot(run)


def _resume_until_done(data: Path, run: Path, kills: list[str], label: str) -> list[str]:
    """Run the command with each fault in turn (each a new process, resuming), then once without; returns what
    each killed process left (for the assertion messages)."""
    seen = []
    for fault in [*kills, None]:
        args = _command(data, run, "--resume") if run.is_dir() else _command(data, run)
        code, err = _finish(args, fault)
        left = sorted(p.name for p in run.iterdir()) if run.is_dir() else []
        seen.append(f"{fault}: exit {code}, left {left}")
        if fault is None:
            assert code == 0, f"{label}: {seen}: {err}"
        else:
            assert code == -signal.SIGKILL, f"{label}: {fault} did not kill the process: {err[-2000:]}"
    return seen


# Op numbers count each process's file operations (`VAEKIT_FAULT=trace` prints them). A new run: mkdir 1, lock 2,
# write check 3, config.json 4-6 (create, write, rename), then per epoch the checkpoint (create, write, rename: the
# commit), model.safetensors (when the best epoch changes: epochs 1 and 3 here) and metrics.jsonl, 3 each. A
# resumed one: lock 1, check 2, [leftover temps removed], the exports again, then its epochs.
KILL_CHAINS = {
    # killed after the commit of epoch 1 and before its exports; then with epoch 2's checkpoint written but not
    # renamed; then between epoch 2's commit and its exports
    "between the writes of one checkpoint": ["kill@10", "kill@11", "kill@13"],
    # killed while writing config.json (only a temp file is left); restarted by --resume (from the command line),
    # killed with epoch 1's checkpoint written but not renamed (no epoch completed); restarted again (from the
    # saved config.json), killed as it replaces config.json
    "before the first checkpoint": ["kill@5", "kill@9", "kill@6"],
}


@pytest.mark.parametrize("chain", list(KILL_CHAINS))
def test_killed_training_resumes_bit_identical(chain, data, reference, tmp_path):
    run = tmp_path / "run"
    seen = _resume_until_done(data, run, KILL_CHAINS[chain], chain)
    _assert_identical(_snapshot(run), reference, f"{chain}: {seen}")
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")], "leftover temp files were not removed"


def test_training_killed_at_random_moments_resumes_bit_identical(data, reference, tmp_path):
    rng = random.Random(11)
    run = tmp_path / "run"
    kills = []
    for attempt in range(6):
        args = _command(data, run, "--resume") if run.is_dir() else _command(data, run)
        proc = _subprocess(args, "trace")
        # Wait for the first file operation (start-up is over), then kill at a random moment of the training.
        first = proc.stderr.readline()
        delay = rng.uniform(0.0, 0.2)
        time.sleep(delay)
        if attempt < 5:
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        ops = [line.split()[2] for line in [first, *err.splitlines()] if line.startswith("vaekit-file-op")]
        kills.append(f"after {delay:.2f} s and {len(ops)} file operations (last: {ops[-1:]}), exit {proc.returncode}")
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err[-2000:]
    _assert_identical(_snapshot(run), reference, f"random kills: {kills}")


def test_resume_with_a_stale_export_uses_the_checkpoint(data, reference, tmp_path, capsys):
    """Killed between the commit and the exports of the last epoch: opening the run sees the lag."""
    run = tmp_path / "run"
    code, err = _finish(_command(data, run), "kill@25")  # epoch 3 (the best) committed, its weights not exported
    assert code == -signal.SIGKILL, err
    with safe_open(run / "model.safetensors", "np") as exported, safe_open(run / "checkpoint.safetensors", "np") as c:
        assert exported.metadata()["best_epoch"] == "1" and c.metadata()["best_epoch"] == "3"
    from vaekit.runs import open_run

    opened = open_run(run)
    for key, value in opened.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), reference["model"][key], err_msg=key)


# ------------------------------------------------------------------------------------ failing writes


def _inject(monkeypatch, code: int, at: int | None = None, where: str = "") -> list[str]:
    """Make the `at`-th file operation (every one when None) whose path contains `where` raise OSError `code`."""
    ops: list[str] = []

    def failing(op: str, path) -> None:
        if where not in str(path):
            return
        ops.append(f"{op} {path}")
        if at is None or len(ops) == at:
            raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(vaekit.files, "file_operation", failing)
    return ops


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(_command(data, run)) == 0
    return run


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


ERRNOS = [errno.ENOSPC, errno.EROFS, errno.EACCES]
COMMANDS = {
    "train": lambda run, data, tmp: _command(data, tmp / "new"),
    "resume": lambda run, data, tmp: ["train", "--out", str(run), "--resume", "--epochs", "4"],
    "evaluate": lambda run, data, tmp: ["evaluate", str(run), "--importance-samples", "5"],
    "sample": lambda run, data, tmp: ["sample", str(run), "-n", "4"],
    "sample --out": lambda run, data, tmp: ["sample", str(run), "-n", "4", "--out", str(tmp / "out" / "s.npy")],
    "encode": lambda run, data, tmp: ["encode", str(run), "--out", str(tmp / "out" / "z.npz")],
    "report": lambda run, data, tmp: ["report", str(run)],
}


@pytest.mark.parametrize("code", ERRNOS, ids=[errno.errorcode[c] for c in ERRNOS])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_reports_a_failing_write_in_one_line(command, code, trained, data, tmp_path, monkeypatch,
                                                           capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = _files(run)
    _inject(monkeypatch, code)
    assert main(COMMANDS[command](run, data, tmp_path)) == EXIT_IO
    line = _one_line(capsys.readouterr().err)
    assert os.strerror(code) in line and str(tmp_path) in line, line
    assert _files(run) == before  # nothing the run had was changed or lost


def test_reconstruct_reports_a_failing_write_in_one_line(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "1", "--hidden", "8", "--latent-dim", "2"]) == 0
    before = _files(run)
    _inject(monkeypatch, errno.ENOSPC)
    assert main(["reconstruct", str(run), "-n", "2"]) == EXIT_IO
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert _files(run) == before


@pytest.mark.parametrize("code", ERRNOS, ids=[errno.errorcode[c] for c in ERRNOS])
def test_an_unstarted_run_resumed_on_a_failing_disk_is_one_line(code, data, tmp_path, monkeypatch, capsys):
    """A run with no completed epoch is started afresh by --resume; where that start fails, the failure is the one
    line (no notice of the restart before it), and the run is left as it was."""
    run = tmp_path / "run"
    _inject(monkeypatch, errno.ENOSPC, where="checkpoint")
    assert main(_command(data, run)) == EXIT_IO  # epoch 1 is never committed: config.json, no checkpoint
    capsys.readouterr()
    before = _files(run)
    _inject(monkeypatch, code)
    assert main(["train", "--out", str(run), "--resume"]) == EXIT_IO
    line = _one_line(capsys.readouterr().err)
    assert os.strerror(code) in line and "nothing was written" in line, line
    assert _files(run) == before
    monkeypatch.setattr(vaekit.files, "file_operation", lambda op, path: None)
    assert main(["train", "--out", str(run), "--resume"]) == 0
    assert "started afresh" in capsys.readouterr().err  # said once it is done


def test_a_failing_write_at_any_moment_of_training_loses_nothing(data, reference, tmp_path, monkeypatch, capsys):
    """Every file operation of a training run fails in turn (the errors rotate); each time the message is one line
    saying what the run keeps, and the same command, once the fault is gone, ends with the uninterrupted result."""
    counting = _inject(monkeypatch, errno.ENOSPC, at=10**9)
    assert main(_command(data, tmp_path / "count")) == 0
    total = len(counting)
    capsys.readouterr()
    codes = [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EIO]
    for at in range(1, total + 1):
        run = tmp_path / f"run{at}"
        code = codes[at % len(codes)]
        ops = _inject(monkeypatch, code, at=at)
        assert main(_command(data, run)) == EXIT_IO, f"op {at} ({ops[-1]})"
        line = _one_line(capsys.readouterr().err)
        assert os.strerror(code) in line, line
        assert "keeps epoch" in line or "no completed epoch" in line or "nothing was written" in line, line
        monkeypatch.setattr(vaekit.files, "file_operation", lambda op, path: None)
        again = _command(data, run, "--resume") if run.is_dir() else _command(data, run)
        assert main(again) == 0, capsys.readouterr().err
        capsys.readouterr()
        _assert_identical(_snapshot(run), reference, f"failure at op {at}: {ops[-1]}")


# ------------------------------------------------------------------------------------------- tmpfs


def test_a_real_full_disk_and_a_read_only_one(tmpfs, data, tmp_path, capsys, monkeypatch):
    run = tmpfs / "run"
    assert main(_command(data, run, "--epochs", "1")) == 0
    capsys.readouterr()
    before = _files(run)
    # Fill the disk, then resume: the checkpoint of epoch 2 cannot be written, and epoch 1 is kept.
    ballast = tmpfs / "ballast"
    with open(ballast, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    code = main(["train", "--out", str(run), "--resume", "--epochs", "2"])
    line = _one_line(capsys.readouterr().err)
    assert code == EXIT_IO and "No space left on device" in line and str(run) in line, line
    assert _files(run) == {**before, ".lock": _files(run)[".lock"]}
    ballast.unlink()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    # Read-only: evaluate, sample and report say so before computing, and the run is left as it is.
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    capsys.readouterr()
    for args in (["evaluate", str(run), "--importance-samples", "5"], ["sample", str(run)], ["report", str(run)],
                 ["train", "--out", str(run), "--resume", "--epochs", "3"]):
        assert main(args) == EXIT_IO, args
        assert "Read-only file system" in _one_line(capsys.readouterr().err)
