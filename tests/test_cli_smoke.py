"""The command line smoke-tested from one table (as pyro's tests/test_examples.py does): every subcommand and its
main options on tiny data, in-process through `main([...])`: the exit code, the outputs it must leave, what it
prints; and bad input of every kind: exit 2 and one line on stderr. Two tiny digits runs are trained once for the
whole table; a case that writes into a run works on its own copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from vaekit.cli import build_parser, main

TINY = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--batch-size", "128"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Two runs on digits: `vae` (the default model) and `iwae` (the IWAE objective), one epoch each."""
    root = tmp_path_factory.mktemp("trained")
    for name, extra in (("vae", []), ("iwae", ["--objective", "iwae", "--iw-samples", "2"])):
        assert main(["train", "--out", str(root / name), *TINY, *extra]) == 0
    return root


def _json(out: str) -> object:
    return json.loads(out)


#: case -> (arguments, files it must leave, a check of its stdout). In arguments and files, {run} and {run2} are the
#: trained runs (read only), {copy} a fresh copy of {run} (for commands that write into it), {tmp} a fresh folder.
CASES = {
    "datasets": (["datasets"], [], lambda out: "digits" in out and "available" in out),
    "datasets --json": (["datasets", "--json"], [], lambda out: "digits" in [d["name"] for d in _json(out)]),
    "train --json": (["train", "--out", "{tmp}/new", *TINY, "--json"],
                     ["{tmp}/new/config.json", "{tmp}/new/model.safetensors", "{tmp}/new/metrics.jsonl"],
                     lambda out: _json(out)["epochs"] == 1),
    "train a mixture prior, iwae": (["train", "--out", "{tmp}/mix", *TINY, "--prior", "mixture", "--prior-components",
                                     "3", "--objective", "iwae", "--iw-samples", "2"],
                                    ["{tmp}/mix/checkpoint.safetensors"], lambda out: "IWAE bound" in out),
    "train --resume": (["train", "--out", "{copy}", "--resume", "--epochs", "2", "--json"], ["{copy}/metrics.jsonl"],
                       lambda out: _json(out)["epochs"] == 2),
    "train --config RUN": (["train", "--config", "{run}", "--out", "{tmp}/again"], ["{tmp}/again/config.json"],
                           lambda out: "best validation ELBO" in out),
    "config": (["config", "--prior", "vamp", "--epochs", "3"], [],
               lambda out: 'prior = "vamp"' in out and "epochs = 3" in out),
    "evaluate --json": (["evaluate", "{copy}", "--importance-samples", "5", "--limit", "20", "--json"],
                        ["{copy}/evaluation.json"], lambda out: {"elbo", "log_likelihood", "gap"} <= set(_json(out))),
    "evaluate --gaps": (["evaluate", "{copy}", "--importance-samples", "5", "--limit", "10", "--gaps", "4",
                         "--gap-steps", "3", "--json"], [], lambda out: "approximation_gap" in _json(out)),
    "baselines --json": (["baselines", "--json"], [], lambda out: len(_json(out)["baselines"]) > 0),
    "sample": (["sample", "{copy}", "-n", "4"], ["{copy}/samples.png"], lambda out: out.strip().endswith(".png")),
    "sample --out .npy": (["sample", "{run}", "-n", "3", "--out", "{tmp}/x.npy"], ["{tmp}/x.npy"], None),
    "reconstruct": (["reconstruct", "{copy}", "-n", "4"], ["{copy}/reconstructions.png"], None),
    "encode": (["encode", "{run}", "--out", "{tmp}/z.npz"], ["{tmp}/z.npz"], None),
    "report": (["report", "{copy}"], ["{copy}/report.html"], lambda out: out.strip().endswith("report.html")),
    "compare --json": (["compare", "{run}", "{run2}", "--json"], [], lambda out: len(_json(out)["runs"]) == 2),
    "compare --html": (["compare", "{run}", "{run2}", "--html", "{tmp}/c.html"], ["{tmp}/c.html"], None),
}

#: case -> (arguments, what the one line on stderr must say). Every case exits 2 and writes nothing.
BAD = {
    "unknown command": (["nonsense"], "invalid choice"),
    "datasets: an unknown option": (["datasets", "--bogus"], "unrecognized arguments"),
    "train: an impossible value": (["train", "--epochs", "0", "--out", "{tmp}/r"], "--epochs"),
    "train: an option of another kind": (["train", "--latent-dim2", "3", "--out", "{tmp}/r"], "--model hvae"),
    "train: no such data": (["train", "--data", "{tmp}/none.csv", "--out", "{tmp}/r"], "no dataset or file"),
    "train --resume without a run": (["train", "--resume", "--out", "{tmp}/r"], "no such run directory"),
    "config: an option that does not apply": (["config", "--prior-components", "3"], "applies only with --prior"),
    "evaluate: not a run": (["evaluate", "{tmp}"], "config.json"),
    "evaluate: K of 0": (["evaluate", "{run}", "--importance-samples", "0"], "must be at least 1"),
    "baselines: no such data": (["baselines", "--data", "{tmp}/none.npy"], "no dataset or file"),
    "sample: no samples": (["sample", "{run}", "-n", "0"], "-n: must be at least 1"),
    "reconstruct: an unknown split": (["reconstruct", "{run}", "--split", "nope"], "invalid choice"),
    "encode: not .npz": (["encode", "{run}", "--out", "{tmp}/z.txt"], ".npz"),
    "report: no such run": (["report", "{tmp}/missing"], "no such run directory"),
    "compare: no runs": (["compare"], "the following arguments are required"),
}


def _subcommands() -> set[str]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_the_table_covers_every_subcommand():
    assert {args[0] for args, _, _ in CASES.values()} == _subcommands()
    assert {args[0] for args, _ in BAD.values()} - {"nonsense"} == _subcommands()


def _fill(items: list[str], trained: Path, tmp: Path) -> list[str]:
    places = {"{run}": trained / "vae", "{run2}": trained / "iwae", "{copy}": tmp / "copy", "{tmp}": tmp}
    filled = []
    for item in items:
        for key, value in places.items():
            item = item.replace(key, str(value))
        filled.append(item)
    return filled


@pytest.mark.parametrize("case", list(CASES))
def test_each_subcommand_with_its_main_options(case, trained, tmp_path, capsys):
    args, outputs, check = CASES[case]
    shutil.copytree(trained / "vae", tmp_path / "copy")
    code = main(_fill(args, trained, tmp_path))
    out, err = capsys.readouterr()
    assert code == 0, err
    for path in _fill(outputs, trained, tmp_path):
        assert Path(path).is_file(), path
    assert check is None or check(out), out


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_each_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args([command, "--help"])
    assert stopped.value.code == 0 and f"usage: vaekit {command}" in capsys.readouterr().out


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, trained, tmp_path, capsys):
    args, says = BAD[case]
    before = sorted(tmp_path.rglob("*"))
    code = main(_fill(args, trained, tmp_path))
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in err, err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
