"""Every registered model kind (`vaekit.models.MODELS`) through every command that opens a run: a tiny run of each
kind on digits (labels from digits where the kind models them), then compare, report, evaluate, sample,
reconstruct, encode, config and resume. Each command either does its job or, where the kind cannot (a classifier
has nothing to sample), refuses in one line with exit 2; none shows a traceback. What a kind supports is read from
its model's capabilities (the protocols), never from its name."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vaekit.cli import main
from vaekit.models import MODELS, ConditionalModel, LatentVariableModel, config_class, generates, latent_dim
from vaekit.runs import open_run

#: Tiny sizes for whichever of these fields a kind's config has.
SIZES = {"hidden": ["8"], "latent_dim": ["2"], "latent_dim2": ["2"], "hidden2": ["4"], "classifier_hidden": ["8"]}


def _tiny(kind: str) -> list[str]:
    fields = {f.name for f in dataclasses.fields(config_class(kind))}
    return [arg for name, values in SIZES.items() if name in fields for arg in ["--" + name.replace("_", "-"), *values]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One evaluated run of every registered kind, one epoch each."""
    root = tmp_path_factory.mktemp("kinds")
    made = {}
    for kind in MODELS.names():
        run = root / kind
        assert main(["train", "--model", kind, "--out", str(run), "--epochs", "1", "--batch-size", "128",
                     *_tiny(kind)]) == 0, kind
        assert main(["evaluate", str(run), "--importance-samples", "3"]) == 0, kind
        made[kind] = run
    return made


def _command(args: list[str], capsys) -> tuple[int, str, str]:
    """Run one command: it succeeds, or refuses in one line with exit 2; never a traceback."""
    code = main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, (args, err)
    if code != 0:
        assert code == 2 and len(err.strip().splitlines()) == 1, (args, code, err)
        assert err.startswith(f"vaekit {args[0]}: error: "), err
    return code, out, err


def test_compare_puts_every_kind_side_by_side(runs, tmp_path, capsys):
    paths = [str(runs[kind]) for kind in MODELS.names()]
    code, out, err = _command(["compare", *paths, "--json", "--html", str(tmp_path / "all.html")], capsys)
    assert code == 0, err
    rows = {row["kind"]: row for row in json.loads(out)["runs"]}
    assert set(rows) == set(MODELS.names())
    for kind, row in rows.items():
        model = open_run(runs[kind]).model
        if isinstance(model, LatentVariableModel):
            assert row["latent_dim"] == latent_dim(model), kind
        assert (row["latent_dim"] is None) == (not isinstance(model, (LatentVariableModel, ConditionalModel))), kind
        assert row["evaluation"]["n"] == 359
    assert (tmp_path / "all.html").is_file()
    code, out, err = _command(["compare", *paths], capsys)  # the text table, too
    assert code == 0 and "latent dimensions" in out, err
    # log p(x|y) of a conditional model is not ranked against anyone's log p(x).
    conditioned = [kind for kind, row in rows.items() if row["evaluation"].get("conditioned_on_labels")]
    assert conditioned and all(rows[kind]["rank"] is None for kind in conditioned)


@pytest.mark.parametrize("kind", MODELS.names())
def test_every_command_opens_every_kind(kind, runs, tmp_path, capsys):
    run = runs[kind]
    model = open_run(run).model
    latent = isinstance(model, (LatentVariableModel, ConditionalModel))

    assert _command(["compare", str(run)], capsys)[0] == 0
    code, out, err = _command(["report", str(run)], capsys)
    assert code == 0 and Path(out.strip()).is_file(), err
    code, out, err = _command(["evaluate", str(run), "--importance-samples", "3", "--limit", "40", "--gaps", "2",
                               "--gap-steps", "2", "--probe", "--json"], capsys)
    assert code == 0 and json.loads(out)["n"] == 40, err

    code, out, err = _command(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")], capsys)
    assert code == (0 if generates(model) else 2), err
    if isinstance(model, ConditionalModel):
        code, out, err = _command(["sample", str(run), "-n", "4", "--label", "1", "--out", str(tmp_path / "c.png")],
                                  capsys)
        assert code == 0 and (tmp_path / "c.png").is_file(), err

    code, out, err = _command(["reconstruct", str(run), "-n", "4", "--out", str(tmp_path / "r.png")], capsys)
    assert code == (0 if latent else 2), err
    assert latent or "no latent variables" in err
    code, out, err = _command(["encode", str(run), "--out", str(tmp_path / "z.npz")], capsys)
    assert code == (0 if latent else 2), err
    assert latent or "no latent variables" in err

    code, out, err = _command(["config", "--config", str(run)], capsys)
    assert code == 0 and f'kind = "{kind}"' in out, err
    code, out, err = _command(["train", "--out", str(run), "--resume", "--epochs", "1"], capsys)  # nothing left to do
    assert code == 0, err
