"""Experiments as files: `vaekit config` writes a complete TOML that `vaekit train --config` reads back to the
same configuration, a run's config.json repeats the run exactly, the command line overrides the file, and a
bad file is one line naming the file and the key."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaekit.cli import build_parser, main
from vaekit.cli.experiment import read_experiment, resolve, toml_value, tomllib
from vaekit.cli.options import config_from, given
from vaekit.config import field_types
from vaekit.data.config import DataConfig
from vaekit.errors import VaekitError
from vaekit.models import MODELS
from vaekit.objectives import OBJECTIVES
from vaekit.train.config import TrainConfig

FIXTURE = Path(__file__).parent / "fixtures" / "run-0.1.0"
TINY = ["--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--batch-size", "64"]
OPTION_SETS = {
    "defaults": [],
    "vamp": ["--prior", "vamp", "--prior-components", "20", "--hidden", "32", "16"],
    "hvae-iwae": ["--model", "hvae", "--latent-dim2", "3", "--hidden2", "8", "--objective", "iwae",
                  "--iw-samples", "4"],
    "schedules": ["--lr-schedule", "cosine", "--lr-final", "1e-4", "--likelihood", "gaussian-fixed",
                  "--fixed-scale", "0.05", "--patience", "3", "--binarize", "static", "--no-dequantize",
                  "--ema-decay", "0.99", "--beta", "0.5", "--warmup-epochs", "2", "--lr", "3e-4"],
}
TIMING = ("train_seconds", "epoch_seconds", "images_per_second")


def _configs(argv: list[str]) -> tuple[str, str, list[object]]:
    """The kind, objective and config dataclasses `vaekit train ARGV` would train with."""
    args = build_parser().parse_args(["train", *argv])
    kind, objective, values, _, _ = resolve(args, given(args, args.option_names))
    classes = (MODELS[kind].Config, OBJECTIVES[objective].Config, DataConfig, TrainConfig)
    return kind, objective, [config_from(cls, values) for cls in classes]


def _config_text(argv: list[str], capsys) -> str:
    assert main(["config", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _fail(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("case", list(OPTION_SETS))
def test_config_prints_a_complete_file_that_reads_back_to_the_same_configuration(case, tmp_path, capsys):
    options = OPTION_SETS[case]
    text = _config_text(options, capsys)
    table = tomllib.loads(text)  # valid TOML
    exp = tmp_path / "exp.toml"
    exp.write_text(text)

    assert _configs(["--config", str(exp)]) == _configs(options)
    kind, objective, configs = _configs(options)
    assert table["kind"] == kind and table["objective"]["name"] == objective
    # Complete: every option of the chosen kind and objective is there, as a key or as a commented key.
    for config, section in zip(configs, ("model", "objective", "data", "train")):
        for f in dataclasses.fields(config):
            if f.metadata.get("cli", True):
                value = getattr(config, f.name)
                assert f"{f.name} = " in text, f.name
                if f.name in table[section]:
                    assert table[section][f.name] == (list(value) if isinstance(value, tuple) else value)
    # Reading it back and printing again gives the same file (apart from the line naming the command).
    again = _config_text(["--config", str(exp)], capsys)
    assert [line for line in again.splitlines() if "Made by" not in line] == \
        [line for line in text.splitlines() if "Made by" not in line]


def test_training_from_the_file_is_training_from_the_options(tmp_path, capsys):
    options = [*TINY, "--prior", "mixture", "--prior-components", "3", "--seed", "4", "--lr-schedule", "cosine"]
    exp = tmp_path / "exp.toml"
    exp.write_text(_config_text(options, capsys))
    assert main(["train", "--out", str(tmp_path / "options"), *options]) == 0
    assert main(["train", "--out", str(tmp_path / "file"), "--config", str(exp)]) == 0
    _assert_same_run(tmp_path / "options", tmp_path / "file")


def _assert_same_run(a: Path, b: Path) -> None:
    config_a, config_b = (json.loads((run / "config.json").read_text()) for run in (a, b))
    for key in ("kind", "model", "objective", "data", "train", "pipeline", "dataset", "best_by"):
        assert config_a[key] == config_b[key], key
    weights_a, weights_b = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    rows_a, rows_b = ([{k: v for k, v in json.loads(line).items() if k not in TIMING}
                       for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (a, b))
    assert rows_a == rows_b and len(rows_a) == config_a["train"]["epochs"]


def test_config_json_repeats_a_run_exactly(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "--out", str(first), *TINY, "--seed", "5", "--prior", "vamp", "--prior-components", "7",
                 "--lr-schedule", "exponential", "--lr-decay", "0.9", "--beta", "0.7"]) == 0
    assert main(["train", "--config", str(first / "config.json"), "--out", str(tmp_path / "again")]) == 0
    assert main(["train", "--config", str(first), "--out", str(tmp_path / "from-dir")]) == 0
    _assert_same_run(first, tmp_path / "again")
    _assert_same_run(first, tmp_path / "from-dir")
    command = json.loads((tmp_path / "again" / "config.json").read_text())["command"]
    assert command[:3] == ["vaekit", "train", "--config"]


def test_a_run_of_vaekit_0_1_serves_as_an_experiment(tmp_path):
    # Its config.json kept the ELBO's settings under "train" and has no "kind": read as a "vae" with the ELBO.
    kind, objective, (model, elbo, _, train) = _configs(["--config", str(FIXTURE / "config.json")])
    saved = json.loads((FIXTURE / "config.json").read_text())
    assert (kind, objective) == ("vae", "elbo")
    assert model.latent_dim == saved["model"]["latent_dim"] and list(model.hidden) == saved["model"]["hidden"]
    assert elbo.num_samples == saved["train"]["num_samples"] and elbo.analytic_kl == saved["train"]["analytic_kl"]
    assert (train.seed, train.epochs, train.batch_size) == (3, 3, 64)
    assert main(["train", "--config", str(FIXTURE), "--epochs", "1", "--out", str(tmp_path / "run")]) == 0


def test_the_command_line_overrides_the_file(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text('kind = "vae"\n[model]\nlatent_dim = 3\nprior = "mixture"\n[train]\nepochs = 7\nlr = 0.01\n'
                   '[objective]\nname = "elbo"\nbeta = 0.5\n')
    _, _, (model, elbo, _, train) = _configs(["--config", str(exp), "--latent-dim", "4", "--lr", "0.002"])
    assert (model.latent_dim, model.prior, train.epochs, train.lr, elbo.beta) == (4, "mixture", 7, 0.002, 0.5)
    with pytest.raises(VaekitError, match=r"objective.beta \(.*exp.toml\) applies to --objective elbo only"):
        _configs(["--config", str(exp), "--objective", "iwae"])  # the file's beta belongs to the ELBO
    exp.write_text(exp.read_text().replace("beta = 0.5\n", ""))
    _, objective, (_, iwae, _, _) = _configs(["--config", str(exp), "--objective", "iwae"])
    assert objective == "iwae" and iwae.iw_samples == 5
    _, _, (_, _, _, train) = _configs(["--config", str(exp), "--epochs", "300"])
    assert train.epochs == 300  # given, even at its default, the option wins


BAD_FILES = {
    "unknown-key": ("[model]\nlatnt_dim = 3\n", [], (r"exp.toml: model: unknown key 'latnt_dim' \(did you mean "
                                                   r"'latent_dim'\?\)")),
    "unknown-section": ("[modle]\nlatent_dim = 3\n", [], r"exp.toml: unknown key 'modle' \(did you mean 'model'\?\)"),
    "wrong-type": ('[train]\nepochs = "ten"\n', [], r"exp.toml: train.epochs: must be a whole number, got 'ten'"),
    "above-maximum": ("[train]\nlr_decay = 1.5\n", ["--lr-schedule", "exponential"],
                      r"exp.toml: train.lr_decay: must be at most 1, got 1.5"),
    "below-minimum": ("[model]\nlatent_dim = 0\n", [], r"exp.toml: model.latent_dim: must be at least 1, got 0"),
    "not-a-choice": ('[model]\nprior = "vamp2"\n', [], r"exp.toml: model.prior: 'vamp2' is not one of normal, "),
    "kind": ('kind = "hvea"\n', [], r"exp.toml: kind 'hvea' is not one of vae, hvae, .*\(did you mean 'hvae'\?\)"),
    "objective": ('[objective]\nname = "iwea"\n', [], r"objective.name 'iwea' is not one of elbo, iwae"),
    "section-not-a-table": ("model = 3\n", [], r"exp.toml: model must be a table of keys"),
    "cross-field": ("[data]\nimage_size = [3]\n", [], r"exp.toml: data: image_size takes two sizes"),
    "other-kind": ("[model]\nlatent_dim2 = 3\n", [], (r"model.latent_dim2 \(.*exp.toml\) applies to --model hvae "
                                                     r"only, not --model vae")),
    "kind-overridden": ('kind = "hvae"\n[model]\nlatent_dim2 = 3\n', ["--model", "vae"],
                        r"model.latent_dim2 \(.*exp.toml\) applies to --model hvae only, not --model vae"),
    "other-objective": ("[objective]\niw_samples = 3\n", [], (r"objective.iw_samples \(.*exp.toml\) applies to "
                                                           r"--objective iwae only, not --objective elbo")),
    "does-not-apply": ("[model]\nprior_components = 3\n", [], (r"model.prior_components \(.*exp.toml\) applies only "
                                                             r"with --prior mixture or vamp, not --prior normal")),
    "does-not-apply-in-file": ('[model]\nlikelihood = "gaussian"\nfixed_scale = 0.2\n', [],
                               (r"model.fixed_scale \(.*exp.toml\) applies only with model.likelihood \(.*exp.toml\) "
                               r"gaussian-fixed, not model.likelihood \(.*exp.toml\) gaussian")),
    "does-not-apply-after-override": ('[model]\nprior = "vamp"\nprior_components = 30\n', ["--prior", "normal"],
                                      (r"model.prior_components \(.*exp.toml\) applies only with --prior mixture or "
                                      r"vamp, not --prior normal")),
    "option-does-not-apply": ('[train]\nlr_schedule = "cosine"\n', ["--lr-decay", "0.5"],
                              (r"--lr-decay applies only with train.lr_schedule \(.*exp.toml\) exponential or step, not "
                              r"train.lr_schedule \(.*exp.toml\) cosine")),
    "toml-syntax": ("[model\nlatent_dim = 3\n", [], r"exp.toml: not valid TOML \(.*line 1"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(case, tmp_path, capsys):
    content, options, message = BAD_FILES[case]
    exp = tmp_path / "exp.toml"
    exp.write_text(content)
    err = _fail(["train", "--config", str(exp), "--out", str(tmp_path / "run"), *options], capsys)
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert _fail(["config", "--config", str(exp), *options], capsys) == err.replace("vaekit train", "vaekit config")


def test_file_problems_that_need_the_data_or_the_run(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "--out", str(first), *TINY]) == 0
    capsys.readouterr()
    saved = json.loads((first / "config.json").read_text())
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**saved, "model": {**saved["model"], "data_shape": [1, 7, 7]}}))
    err = _fail(["train", "--config", str(edited), "--out", str(tmp_path / "run")], capsys)
    assert "edited.json: model.data_shape [1, 7, 7] does not match the data's shape [1, 8, 8]" in err
    # Other data chosen on the command line: the recorded shape is that of the old data, and is not held against it.
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n" + "\n".join(f"{i},{i % 3},{i % 5}" for i in range(60)) + "\n")
    assert main(["train", "--config", str(first), "--data", str(other), "--likelihood", "gaussian", "--epochs", "1",
                 "--out", str(tmp_path / "csv")]) == 0
    assert json.loads((tmp_path / "csv" / "config.json").read_text())["model"]["data_shape"] == [3]
    capsys.readouterr()
    err = _fail(["train", "--config", str(first), "--out", str(first), "--resume"], capsys)
    assert "--config starts a new run" in err
    assert _fail(["train", "--config", str(tmp_path / "none.toml")], capsys).endswith(
        "none.toml: not found; `vaekit config > exp.toml` writes an experiment file to start from\n")
    edited.write_text(json.dumps({**saved, "train": {**saved["train"], "lr_final": 0.5}}))
    assert "train.lr_final (" in _fail(["train", "--config", str(edited)], capsys)
    edited.write_text(json.dumps({**saved, "format": 99}))
    assert "format 99 is not one this vaekit reads" in _fail(["train", "--config", str(edited)], capsys)


def test_the_sections_share_no_key():
    """The command line and an experiment file name fields without their section, so no two sections may share
    a field name."""
    sections = {
        "model": {n for cls in MODELS.items() for n in field_types(cls[1].Config)},
        "objective": {n for cls in OBJECTIVES.items() for n in field_types(cls[1].Config)},
        "data": set(field_types(DataConfig)),
        "train": set(field_types(TrainConfig)),
    }
    names = list(sections)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not sections[a] & sections[b], (a, b)


def test_toml_values_read_back_exactly():
    rng = random.Random(0)
    floats = [0.1, 1e-5, 1e-300, 5e-324, 1e22, 123456789.125, -0.0, 1.0, 3.0] + [
        math.ldexp(rng.random(), rng.randint(-60, 60)) for _ in range(200)]
    texts = ["plain", 'quote " and backslash \\', "line\nbreak\ttab", "bell \x07 del \x7f", "ünïcödé ✓ 😀", ""]
    values = floats + texts + [True, False, 0, -7, 2**62, (1, 2, 3), (), ("a", "b")]
    for value in values:
        read = tomllib.loads(f"v = {toml_value(value)}")["v"]
        expected = list(value) if isinstance(value, tuple) else value
        assert read == expected and type(read) is type(expected), value
        if isinstance(value, float):
            assert math.copysign(1, read) == math.copysign(1, value)


def test_read_experiment_reports_what_it_kept(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text('kind = "hvae"\n[model]\nlatent_dim = 100\nlatent_dim2 = 7\ndata_shape = [1, 8, 8]\n'
                   '[train]\nseed = 0\nepochs = 3\n')
    experiment = read_experiment(exp)
    # Values at their defaults (hvae's latent_dim is 100, the seed 0) are the same as keys left out.
    assert experiment.values == {"latent_dim2": 7, "epochs": 3}
    assert experiment.sections == {"latent_dim2": "model", "epochs": "train"}
    assert experiment.kind == "hvae" and experiment.objective is None and experiment.data_shape == (1, 8, 8)
