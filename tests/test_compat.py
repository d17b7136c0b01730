"""A run directory written by vaekit 0.1.0 (tests/fixtures/run-0.1.0, trained by that release: no "kind", the
ELBO's settings under "train") still opens, and evaluates to the very figures that release computed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vaekit.cli import main
from vaekit.runs import open_run
from vaekit.runs.evaluate import evaluate_run

FIXTURE = Path(__file__).parent / "fixtures" / "run-0.1.0"


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run-0.1.0"
    shutil.copytree(FIXTURE, run)
    return run


def test_an_old_run_evaluates_identically(old_run):
    run = open_run(old_run)
    assert run.kind == "vae" and run.objective.name == "elbo" and run.best_by == "valid_elbo_nats"
    figures = evaluate_run(run, num_samples=50, seed=0)
    expected = json.loads((FIXTURE.parent / "run-0.1.0.evaluation.json").read_text())
    assert {k: figures[k] for k in expected} == expected


def test_an_old_run_samples_reports_and_resumes(old_run, capsys):
    assert main(["sample", str(old_run), "-n", "4"]) == 0
    assert main(["report", str(old_run)]) == 0
    assert main(["train", "--out", str(old_run), "--resume", "--epochs", "4"]) == 0
    capsys.readouterr()
    rows = (old_run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3, 4]
