"""CPU threads (issue 21, item 8): `--threads N|auto` for train (an option and a config key, through the schema) and
the other commands that compute, applied before any work; the rule of auto; the once-per-run warning when other
work starves training's threads. No test times anything: the clocks the warning reads are injected."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from vaekit import limits
from vaekit.cli import main
from vaekit.train import threads as training_threads

TINY = ["--hidden", "8", "--latent-dim", "2", "--batch-size", "32", "--epochs", "2"]


def _error(args: list[str], capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def four_cores(monkeypatch):
    """This process may use 4 cores, whatever the machine has."""
    monkeypatch.setattr(limits, "usable_cores", lambda: 4)


@pytest.mark.parametrize(("queue", "threads"), [([1] * 6, 4), ([1, 1, 1, 1, 2, 2], 4), ([2, 3, 3, 2, 3, 3], 2),
                                                ([4, 3, 4, 3, 3, 4], 1), ([9] * 6, 1), ([60] * 6, 1)])
def test_auto_takes_the_usable_cores_less_the_other_work_in_the_run_queue(queue, threads, four_cores, monkeypatch):
    """The run queue counts this process's own thread: 1 is a quiet machine. The 1-minute load average, which
    still counts work that has just ended, does not decide where the run queue is known."""
    reads = iter(queue)
    monkeypatch.setattr(limits, "_procs_running", lambda: next(reads))
    monkeypatch.setattr(limits.os, "getloadavg", lambda: (40.0, 40.0, 40.0))
    assert limits.resolve_threads("auto") == threads
    assert limits.resolve_threads(3) == 3


@pytest.mark.parametrize(("load", "threads"), [(0.0, 4), (0.4, 4), (1.6, 2), (2.5, 1), (40.0, 1)])
def test_auto_falls_back_on_the_load_average_where_the_run_queue_is_unknown(load, threads, four_cores, monkeypatch):
    monkeypatch.setattr(limits, "_procs_running", lambda: None)
    monkeypatch.setattr(limits.os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert limits.resolve_threads("auto") == threads


def test_the_run_queue_of_this_machine_is_read():
    running = limits._procs_running()
    assert running is None or running >= 1  # this test's own thread is running


def test_usable_cores_are_the_affinity_within_the_cgroup_quota():
    import os

    assert 1 <= limits.usable_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("option", "named"), [(["--threads", "0"], "at least 1"), (["--threads", "5"], "4 CPU cores"),
                                               (["--threads", "two"], "a whole number or auto"),
                                               (["--threads", "-3"], "at least 1")])
def test_a_thread_count_out_of_range_is_one_line(option, named, four_cores, tmp_path, capsys):
    line = _error(["train", *option, "--out", str(tmp_path / "r"), *TINY], capsys)
    assert "--threads" in line and named in line, line
    line = _error(["evaluate", str(tmp_path), *option], capsys)  # refused before the run is opened
    assert "--threads" in line and (named in line or "give 1 to 4, or auto" in line), line
    assert not (tmp_path / "r").exists()


def test_threads_is_a_config_key_like_any_other(four_cores, tmp_path, capsys):
    experiment = tmp_path / "exp.toml"
    experiment.write_text("[train]\nthreads = 9\n")
    line = _error(["train", "--config", str(experiment), "--out", str(tmp_path / "r"), *TINY], capsys)
    assert f"train.threads ({experiment}) 9" in line and "4 CPU cores" in line, line
    experiment.write_text('[train]\nthreads = "many"\n')
    assert "train.threads" in _error(["config", "--config", str(experiment)], capsys)
    for value, written in (('"auto"', 'threads = "auto"'), ("2", "threads = 2")):
        experiment.write_text(f"[train]\nthreads = {value}\n")
        assert main(["config", "--config", str(experiment)]) == 0
        assert f"\n{written}\n" in capsys.readouterr().out
    assert main(["config", "--threads", "3"]) == 0
    assert "\nthreads = 3\n" in capsys.readouterr().out


def test_help_states_the_rule_of_auto(capsys):
    from vaekit.cli import build_parser

    for command in ("train", "evaluate", "sample"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse wraps lines at hyphens
        assert "--threads N|auto" in text and "less the other tasks running or waiting for a core" in text, (command, text)


def _record_threads(monkeypatch) -> list[int]:
    """The thread counts training computed with, epoch by epoch."""
    from vaekit.train import loop

    seen: list[int] = []
    original = loop.train_epoch

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "train_epoch", recording)
    return seen


def test_train_computes_with_the_threads_asked_for_and_restores_them(four_cores, tmp_path, monkeypatch, capsys):
    seen = _record_threads(monkeypatch)
    before = torch.get_num_threads()
    experiment = tmp_path / "exp.toml"
    experiment.write_text("[train]\nthreads = 3\n")
    assert main(["train", "--config", str(experiment), "--out", str(tmp_path / "r"), *TINY]) == 0
    assert seen == [3, 3] and torch.get_num_threads() == before
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["threads"] == 3
    # A resumed run may compute with other threads; config.json records the change.
    assert main(["train", "--out", str(tmp_path / "r"), "--resume", "--epochs", "3", "--threads", "1"]) == 0
    assert seen == [3, 3, 1] and torch.get_num_threads() == before
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["threads"] == 1
    capsys.readouterr()


def test_other_commands_compute_with_their_threads(four_cores, tmp_path, monkeypatch, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), *TINY]) == 0
    from vaekit.runs import evaluate

    seen: list[int] = []
    original = evaluate.evaluate_run
    monkeypatch.setattr(evaluate, "evaluate_run", lambda *a, **k: seen.append(torch.get_num_threads()) or
                        original(*a, **k))
    before = torch.get_num_threads()
    assert main(["evaluate", str(tmp_path / "r"), "--importance-samples", "2", "--threads", "3"]) == 0
    assert seen == [3] and torch.get_num_threads() == before
    capsys.readouterr()


def test_the_threads_do_not_change_what_is_computed(tmp_path, capsys):
    """`auto` may choose other threads for a resumed run than for its start: the weights must not depend on it
    (checked for the derived and autograd steps of an MLP VAE)."""
    if limits.usable_cores() < 2:
        pytest.skip("this process may use one core only")
    for gradients in ("derived", "autograd"):
        for threads in ("1", "2"):
            out = tmp_path / f"{gradients}-{threads}"
            assert main(["train", "--out", str(out), *TINY, "--hidden", "300", "--gradients", gradients,
                         "--threads", threads]) == 0
        one, two = (load_file(tmp_path / f"{gradients}-{n}" / "checkpoint.safetensors") for n in ("1", "2"))
        assert one.keys() == two.keys()
        for key in one:
            np.testing.assert_array_equal(one[key], two[key], err_msg=f"{gradients}: {key}")
    capsys.readouterr()


@pytest.mark.parametrize(("cpu", "threads", "waited", "starved"), [
    (0.4, 2, 0.6, True),     # less than half of 2 threads' time, and the threads waited for a core: other work
    (0.4, 2, 0.0, False),    # as little CPU, but no waiting: idle worker threads on a quiet machine
    (1.5, 2, 0.9, False),    # 3/4 of two threads: not starved
    (0.3, 1, 0.9, False),    # one thread has nothing to wait for
    (1.0, 4, 0.5, True),
])
def test_starved_needs_little_cpu_time_and_waiting_for_cores(cpu, threads, waited, starved):
    assert training_threads.starved(cpu, 1.0, threads, waited) is starved


def _clocks(monkeypatch, cpu_per_second: float, waited_per_second: float) -> None:
    """Clocks for `StarvationWatch`: every reading one second of wall time later."""
    ticks = iter(range(1, 10_000))

    def usage() -> training_threads.Usage:
        t = float(next(ticks))
        return training_threads.Usage(cpu=cpu_per_second * t, wall=t, waited=waited_per_second * t)

    monkeypatch.setattr(training_threads, "usage", usage)


def test_starved_training_is_said_once_per_run(four_cores, tmp_path, monkeypatch, capsys):
    _clocks(monkeypatch, cpu_per_second=0.3, waited_per_second=0.7)
    assert main(["train", "--out", str(tmp_path / "r"), *TINY, "--epochs", "3", "--threads", "2"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(lines) == 1 and "other work is taking the cores" in lines[0] and "--threads 1" in lines[0], lines
    assert "epoch 1" in lines[0] and "2 threads" in lines[0]


@pytest.mark.parametrize(("threads", "cpu", "waited"), [("2", 1.8, 0.1), ("2", 0.3, 0.0), ("1", 0.2, 0.8)],
                         ids=["busy threads", "idle workers on a quiet machine", "one thread"])
def test_no_warning_when_the_threads_are_not_starved(threads, cpu, waited, four_cores, tmp_path, monkeypatch, capsys):
    _clocks(monkeypatch, cpu_per_second=cpu, waited_per_second=waited)
    assert main(["train", "--out", str(tmp_path / "r"), *TINY, "--threads", threads]) == 0
    assert "warning" not in capsys.readouterr().err

