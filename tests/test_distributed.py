"""Data-parallel training: two CPU processes under torchrun (gloo) against one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed_worker import BATCH, SEED, batch_and_model

from vaekit.train import distributed
from vaekit.train.fast import step_gradients

HERE = Path(__file__).resolve().parent


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_share_splits_a_batch_into_contiguous_parts():
    rows = torch.arange(7)
    parts = [distributed.share(rows, distributed.Group(rank, 3)) for rank in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4], [5, 6]]
    assert distributed.share(rows, distributed.Group()) is rows


@pytest.fixture(scope="module")
def worker_results(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp") / "result"
    proc = _torchrun([str(HERE / "distributed_worker.py"), str(out)], HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [torch.load(f"{out}.{rank}.pt", weights_only=True) for rank in range(2)]


def test_gradients_are_averaged_by_rows(worker_results):
    for result in worker_results:  # (3 rows x 1 + 1 row x 2) / 4 rows, on both processes
        for grad in result["constant"]:
            torch.testing.assert_close(grad, torch.full_like(grad, 1.25), rtol=0, atol=1e-7)


def test_two_processes_take_the_single_process_step(worker_results):
    x, model = batch_and_model()
    torch.manual_seed(SEED)
    sums = step_gradients(model, x)
    assert [r["rows"] for r in worker_results] == [BATCH // 2, BATCH // 2]
    for result in worker_results:
        torch.testing.assert_close(result["sums"], sums, rtol=1e-12, atol=1e-12)
        for got, want in zip(result["grads"], (p.grad for p in model.parameters())):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def _binary_npy(tmp_path: Path) -> Path:
    path = tmp_path / "binary.npy"
    np.save(path, (np.random.default_rng(0).random((150, 12)) < 0.3).astype(np.float32))
    return path


def test_torchrun_trains_one_run(tmp_path):
    data, run = _binary_npy(tmp_path), tmp_path / "run"
    train = ["-m", "vaekit", "train", "--data", str(data), "--hidden", "16", "--latent-dim", "2", "--batch-size",
             "25", "--epochs", "3", "--out", str(run), "--json"]
    proc = _torchrun(train, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # rank 0 alone reports
    assert summary["epochs"] == 3 and np.isfinite(summary["best_valid_elbo"])
    assert json.loads((run / "config.json").read_text())["processes"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_elbo_nats"] > rows[0]["train_elbo_nats"]

    # The run directory now exists: every process refuses it, and only rank 0 says so, on one line.
    proc = _torchrun(train, tmp_path)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("vaekit train: error:")]
    assert len(errors) == 1 and str(run) in errors[0] and "--resume" in errors[0]
    assert "Traceback" not in proc.stderr.split("vaekit train: error:")[0]

    # --resume continues it under torchrun.
    proc = _torchrun(["-m", "vaekit", "train", "--out", str(run), "--resume", "--epochs", "4"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize(("args", "mentioned"), [
    (["train", "--epochs", "1"], "--out"),                    # every process must train the same run
    (["evaluate", "runs/missing"], "only `vaekit train`"),   # the other commands run as one process
])
def test_torchrun_misuse_is_a_clear_error(args, mentioned, tmp_path):
    proc = _torchrun(["-m", "vaekit", *args], tmp_path)
    errors = [line for line in proc.stderr.splitlines() if line.startswith(f"vaekit {args[0]}: error:")]
    assert proc.returncode != 0 and len(errors) == 1 and mentioned in errors[0]
    assert not (tmp_path / "runs").exists()


def test_torchrun_with_a_last_batch_smaller_than_the_processes(tmp_path):
    # 108 training rows in global batches of 107: the last batch has one row, so rank 1's share is empty.
    run = tmp_path / "run"
    proc = _torchrun(["-m", "vaekit", "train", "--data", str(_binary_npy(tmp_path)), "--hidden", "16", "--latent-dim",
                      "2", "--batch-size", "107", "--epochs", "2", "--out", str(run)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run / "config.json").read_text())["dataset"]["splits"]["train"] == 108
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["train_elbo_nats"]) for r in rows)


@pytest.mark.parametrize("options", [
    ["--model", "hvae", "--latent-dim2", "2", "--hidden2", "8", "--objective", "iwae", "--iw-samples", "3"],
    ["--prior", "vamp", "--prior-components", "5", "--warmup-epochs", "2", "--free-bits", "0.05"],
], ids=["hvae-iwae", "vamp-warmup-free-bits"])
def test_torchrun_trains_every_kind_prior_and_objective(options, tmp_path):
    run = tmp_path / "run"
    proc = _torchrun(["-m", "vaekit", "train", "--data", str(_binary_npy(tmp_path)), "--hidden", "16", "--latent-dim",
                      "2", "--batch-size", "25", "--epochs", "2", "--out", str(run), *options], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["processes"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["train_reconstruction_nats"]) and np.isfinite(r[config["best_by"]])
                                  for r in rows)


@pytest.mark.parametrize("options", [
    ["--model", "m2", "--latent-dim", "2", "--classifier-hidden", "8", "--labelled", "40", "--labelled-batch", "8"],
    ["--encoder", "none", "--latent-dim", "2", "--inference-steps", "3"],
    ["--model", "classifier", "--labelled", "60"],
], ids=["m2-labelled", "vae-encoder-none", "classifier-labelled"])
def test_torchrun_trains_the_labelled_and_per_datapoint_kinds(options, tmp_path):
    run = tmp_path / "run"
    proc = _torchrun(["-m", "vaekit", "train", "--data", "digits", "--hidden", "16", "--batch-size", "50",
                      "--epochs", "2", "--out", str(run), *options], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["processes"] == 2 and config["dataset"]["labelled"] == int(options[options.index("--labelled") + 1]
                                                                               if "--labelled" in options else 1294)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r[config["best_by"]]) for r in rows)
    assert all(np.isfinite(v) for r in rows for k, v in r.items() if k.startswith("train_"))
