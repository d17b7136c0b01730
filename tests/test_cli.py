"""The command line end to end on tiny data: a table of runs, exact resume, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from vaekit.cli import main

TINY = ["--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--batch-size", "32"]
EVAL_KEYS = {"dataset", "split", "n", "elbo", "reconstruction", "kl", "log_likelihood", "log_likelihood_stderr",
             "importance_samples", "gap", "bits_per_dim", "active_units", "latent_dim"}


def _binary_npy(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "binary.npy"
    np.save(path, (rng.random((80, 6, 6)) < 0.3).astype(np.float32))
    return path


def _table_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "table.csv"
    rows = rng.normal(size=(90, 4)) @ rng.normal(size=(4, 4))
    path.write_text("a,b,c,d\n" + "\n".join(",".join(f"{v:.5f}" for v in row) for row in rows) + "\n")
    return path


def _png_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    folder = tmp_path / "pngs"
    for label in ("cats", "dogs"):
        (folder / label).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(folder / label / f"{i}.png")
    return folder


CASES = {
    "digits-mlp-bernoulli": (lambda tmp: "digits", []),
    "npy-conv-bernoulli": (_binary_npy, ["--network", "conv"]),
    "csv-gaussian": (_table_csv, ["--likelihood", "gaussian"]),
    "png-continuous-bernoulli": (_png_folder, ["--likelihood", "continuous-bernoulli"]),
    "png-conv-gaussian-fixed": (_png_folder, ["--likelihood", "gaussian-fixed", "--network", "conv"]),
    "digits-bf16": (lambda tmp: "digits", ["--precision", "bf16"]),
    "digits-autograd": (lambda tmp: "digits", ["--gradients", "autograd"]),
    "digits-hvae-iwae": (lambda tmp: "digits", ["--model", "hvae", "--latent-dim2", "2", "--hidden2", "8",
                                                "--objective", "iwae", "--iw-samples", "3"]),
    "digits-hvae-elbo": (lambda tmp: "digits", ["--model", "hvae", "--latent-dim2", "2", "--hidden2", "8"]),
    "digits-vamp": (lambda tmp: "digits", ["--prior", "vamp", "--prior-components", "10"]),
    "csv-mixture-warmup-free-bits": (_table_csv, ["--likelihood", "gaussian", "--prior", "mixture", "--warmup-epochs",
                                                  "2", "--free-bits", "0.1", "--beta", "0.8"]),
}


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", list(CASES))
def test_train_evaluate_sample_reconstruct_encode(case, tmp_path, capsys):
    make_data, options = CASES[case]
    data = str(make_data(tmp_path))
    run = tmp_path / "run"
    code, out, err = _run(["train", "--data", data, "--out", str(run), *TINY, *options, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["epochs"] == 2
    for name in ("config.json", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl"):
        assert (run / name).is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(np.isfinite(r["valid_elbo_nats"]) for r in rows)

    code, out, err = _run(["evaluate", str(run), "--importance-samples", "20", "--json"], capsys)
    assert code == 0, err
    figures = json.loads(out)
    assert EVAL_KEYS <= set(figures)
    assert figures["log_likelihood"] >= figures["elbo"] - 1.0  # the estimate sits above the bound (up to noise)
    assert (figures["bits_per_dim"] is None) == case.startswith("csv")

    is_image = not case.startswith("csv")
    code, out, err = _run(["sample", str(run), "-n", "6"], capsys)
    assert code == 0, err
    assert Path(out.strip()).is_file() and Path(out.strip()).suffix == (".png" if is_image else ".csv")
    if is_image:
        code, out, err = _run(["reconstruct", str(run), "-n", "4"], capsys)
        assert code == 0, err
        with Image.open(out.strip()) as picture:
            assert picture.format == "PNG"

    code, out, err = _run(["encode", str(run), "--out", str(tmp_path / "z.npz")], capsys)
    assert code == 0, err
    z = np.load(tmp_path / "z.npz")
    assert (z["test_variance"] > 0).all()
    assert ("test_labels" in z) == case.startswith(("digits", "png"))
    latent = 4 if "hvae" in case else 2  # z = [z1, z2] for the hierarchy
    assert z["test_loc"].shape[1] == latent

    code, out, err = _run(["report", str(run)], capsys)
    assert code == 0, err
    assert Path(out.strip()).is_file()


def _labelled_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / "labelled.csv"
    y = np.arange(90) % 3
    x = rng.normal(size=(90, 4)) + y[:, None]
    path.write_text("a,b,label,c,d\n" + "\n".join(f"{r[0]:.4f},{r[1]:.4f},{c},{r[2]:.4f},{r[3]:.4f}"
                                                    for r, c in zip(x, y)) + "\n")
    return path


SMALL = ["--epochs", "2", "--hidden", "16", "--batch-size", "32"]
#: case -> (data, options, what the model offers: "latent" (q(z|x) and log p(x) or log p(x|y)), "classifier", "exact")
KINDS = {
    "classifier": (lambda tmp: "digits", ["--model", "classifier"], {"classifier"}),
    "classifier-conv-labelled": (lambda tmp: "digits", ["--model", "classifier", "--network", "conv", "--labelled",
                                                        "30"], {"classifier"}),
    "csv-label-column-classifier": (_labelled_csv, ["--model", "classifier", "--label-column", "label"], {"classifier"}),
    "cvae": (lambda tmp: "digits", ["--model", "cvae", "--latent-dim", "2"], {"latent", "conditional"}),
    "cvae-iwae-labelled": (lambda tmp: "digits", ["--model", "cvae", "--latent-dim", "2", "--objective", "iwae",
                                                  "--labelled", "40"], {"latent", "conditional"}),
    "m2-labelled": (lambda tmp: "digits", ["--model", "m2", "--latent-dim", "2", "--classifier-hidden", "8",
                                           "--labelled", "40", "--labelled-batch", "8"],
                    {"latent", "conditional", "classifier", "marginal"}),
    "made": (_binary_npy, ["--model", "made"], {"exact"}),
    "made-gaussian-csv": (_table_csv, ["--model", "made", "--likelihood", "gaussian"], {"exact"}),
    "vae-encoder-none": (lambda tmp: "digits", ["--encoder", "none", "--latent-dim", "2", "--inference-steps", "5"],
                         {"latent"}),
}


@pytest.mark.parametrize("case", list(KINDS))
def test_every_kind_trains_evaluates_samples_and_reports(case, tmp_path, capsys):
    make_data, options, offers = KINDS[case]
    data = str(make_data(tmp_path))
    run = tmp_path / "run"
    code, out, err = _run(["train", "--data", data, "--out", str(run), *SMALL, *options, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["epochs"] == 2
    code, out, err = _run(["evaluate", str(run), "--importance-samples", "10", "--json"], capsys)
    assert code == 0, err
    f = json.loads(out)
    if "classifier" in offers:
        assert 0 <= f["accuracy"] <= 1 and 0 <= f["calibration_error"] <= 1 and f["label_log_likelihood"] < 0
    if "latent" in offers:
        assert f["log_likelihood"] >= f["elbo"] - 1.0 and f["log_likelihood_method"].startswith("importance")
        assert f.get("conditioned_on_labels", False) == ("conditional" in offers and "marginal" not in offers)
    if "marginal" in offers:  # log p(x) summed over classes; log p(x|y) at the true label lies below it
        assert f["conditional_log_likelihood"] <= f["log_likelihood"] + 1.0 and f["labelled_bound"] < f["log_likelihood"]
    if "exact" in offers:
        assert f["log_likelihood_method"] == "exact" and f["importance_samples"] is None and "elbo" not in f
    assert ("log_likelihood" in f) == bool(offers - {"classifier"})
    code, out, err = _run(["evaluate", str(run), "--importance-samples", "5"], capsys)  # the text, too
    assert code == 0 and "written:" in out, err

    image = data == "digits" or data.endswith(".npy")
    label = ["--label", "1"] if "conditional" in offers else []
    code, out, err = _run(["sample", str(run), "-n", "4", *label], capsys)
    if "classifier" in offers and not offers - {"classifier"}:
        assert code == 2 and "nothing to sample" in err
    else:
        assert code == 0, err
        assert Path(out.strip()).suffix == (".png" if image else ".csv")
    if "latent" in offers:
        code, out, err = _run(["reconstruct", str(run), "-n", "4"], capsys)
        assert code == 0, err
        code, out, err = _run(["encode", str(run), "--out", str(tmp_path / "z.npz"), "--refine", "3"], capsys)
        assert code == 0, err
        assert np.load(tmp_path / "z.npz")["test_loc"].shape[1] == 2
    code, out, err = _run(["report", str(run)], capsys)
    assert code == 0, err
    pictures = {p.name for p in (run / "report_files").iterdir()}
    assert ("reliability.png" in pictures) == ("classifier" in offers)
    assert ("samples_per_class.png" in pictures) == ("conditional" in offers)


def test_the_probe_uses_the_labelled_rows_only(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    code, out, err = _run(["evaluate", str(run), "--importance-samples", "5", "--probe", "--labelled", "20", "--json"],
                          capsys)
    assert code == 0, err
    assert json.loads(out)["probe"]["n_train"] == 20


def test_sample_by_label_is_checked(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    code, _, err = _run(["sample", str(run), "--label", "1"], capsys)
    assert code == 2 and "--label applies to conditional models" in err and len(err.strip().splitlines()) == 1
    cvae = tmp_path / "cvae"
    assert _run(["train", "--out", str(cvae), "--model", "cvae", *TINY], capsys)[0] == 0
    code, _, err = _run(["sample", str(cvae), "--label", "10"], capsys)
    assert code == 2 and "classes 0..9" in err
    code, _, err = _run(["sample", str(cvae)], capsys)
    assert code == 2 and "give --label" in err


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, capsys):
    common = ["--data", "digits", "--hidden", "16", "--latent-dim", "3", "--batch-size", "64", "--seed", "5"]
    assert _run(["train", *common, "--epochs", "4", "--out", str(tmp_path / "full")], capsys)[0] == 0
    assert _run(["train", *common, "--epochs", "2", "--out", str(tmp_path / "part")], capsys)[0] == 0
    code, _, err = _run(["train", "--out", str(tmp_path / "part"), "--resume", "--epochs", "4"], capsys)
    assert code == 0, err
    for name in ("checkpoint.safetensors", "model.safetensors"):
        full, part = load_file(tmp_path / "full" / name), load_file(tmp_path / "part" / name)
        assert full.keys() == part.keys()
        for key in full:
            np.testing.assert_array_equal(full[key], part[key], err_msg=f"{name}:{key}")
    full_rows = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    part_rows = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if "second" not in k} for r in rows]
    assert strip(full_rows) == strip(part_rows)


def _corrupt_idx(tmp_path: Path) -> Path:
    path = tmp_path / "bad-idx"
    path.mkdir()
    (path / "x.npy").write_bytes(b"\x00\x00\x08\x03 not a real file")
    return path / "x.npy"


def _text_column_csv(tmp_path: Path) -> Path:
    path = tmp_path / "text.csv"
    path.write_text("a,b\n1,2\n3,cat\n" + "\n".join(f"{i},{i}" for i in range(20)) + "\n")
    return path


BAD = {
    "missing file": (lambda tmp: ["train", "--data", str(tmp / "nope.npy"), "--out", str(tmp / "r")], "nope.npy"),
    "corrupted array": (lambda tmp: ["train", "--data", str(_corrupt_idx(tmp)), "--out", str(tmp / "r")], "x.npy"),
    "csv with a text column": (lambda tmp: ["train", "--data", str(_text_column_csv(tmp)), "--out", str(tmp / "r"),
                                            "--likelihood", "gaussian"], "b"),
    "bernoulli on grey levels": (lambda tmp: ["train", "--binarize", "none", "--out", str(tmp / "r")], "--binarize"),
    "unknown option": (lambda tmp: ["train", "--latent", "3"], "--latent"),
    "bad value": (lambda tmp: ["train", "--epochs", "0", "--out", str(tmp / "r")], "epochs"),
    "not a run": (lambda tmp: ["evaluate", str(tmp)], "config.json"),
    "derived gradients for a conv net": (lambda tmp: ["train", "--network", "conv", "--gradients", "derived",
                                                      "--out", str(tmp / "r")], "--gradients"),
    "hvae option with a vae": (lambda tmp: ["train", "--latent-dim2", "3", "--out", str(tmp / "r")],
                               "--latent-dim2 applies to --model hvae only, not --model vae"),
    "prior with an hvae": (lambda tmp: ["train", "--model", "hvae", "--prior", "vamp", "--out", str(tmp / "r")],
                           "--prior applies to --model vae only"),
    "iwae option with the elbo": (lambda tmp: ["train", "--iw-samples", "5", "--out", str(tmp / "r")],
                                  "--iw-samples applies to --objective iwae only"),
    "beta with iwae": (lambda tmp: ["train", "--objective", "iwae", "--beta", "2", "--out", str(tmp / "r")],
                       "--beta applies to --objective elbo only"),
    "components of a normal prior": (lambda tmp: ["train", "--prior-components", "5", "--out", str(tmp / "r")],
                                     "--prior-components applies only with --prior mixture or vamp, not --prior normal"),
    "fixed scale of a bernoulli": (lambda tmp: ["train", "--fixed-scale", "0.2", "--out", str(tmp / "r")],
                                   "--fixed-scale applies only with --likelihood gaussian-fixed"),
    "negative seed": (lambda tmp: ["train", "--seed", "-1", "--out", str(tmp / "r")], "--seed: must be at least 0"),
    "a device that is not one": (lambda tmp: ["train", "--device", "tpu", "--out", str(tmp / "r")], "tpu"),
    "three image sizes": (lambda tmp: ["train", "--image-size", "8", "8", "8", "--out", str(tmp / "r")], "image_size"),
    "negative beta": (lambda tmp: ["train", "--beta", "-0.5", "--out", str(tmp / "r")], "--beta: must be at least 0"),
    "label column of an array": (lambda tmp: ["train", "--data", str(_binary_npy(tmp)), "--label-column", "y",
                                              "--out", str(tmp / "r")], "--label-column y: applies to CSV files only"),
    "a misspelt label column": (lambda tmp: ["train", "--data", str(_labelled_csv(tmp)), "--label-column", "lable",
                                             "--model", "classifier", "--out", str(tmp / "r")], "did you mean 'label'"),
    "a classifier without labels": (lambda tmp: ["train", "--model", "classifier", "--data", str(_binary_npy(tmp)),
                                                 "--out", str(tmp / "r")], "--model classifier models class labels"),
    "more labels than rows": (lambda tmp: ["train", "--model", "classifier", "--labelled", "5000", "--out",
                                           str(tmp / "r")],
                              "--labelled 5000: the training split has only 1294 rows"),
    "labels kept of unlabelled data": (lambda tmp: ["train", "--model", "m2", "--labelled", "5", "--data",
                                                    str(_binary_npy(tmp)),
                                                    "--out", str(tmp / "r")], "has no labels"),
    "m2's objective for a vae": (lambda tmp: ["train", "--objective", "m2", "--out", str(tmp / "r")],
                                 "--objective m2 trains a model with p(y)"),
    "maximum likelihood for a vae": (lambda tmp: ["train", "--objective", "likelihood", "--out", str(tmp / "r")],
                                     "--objective likelihood fits fully observed models"),
    "the elbo for a classifier": (lambda tmp: ["train", "--model", "classifier", "--objective", "elbo",
                                               "--out", str(tmp / "r")], "has none; use --objective likelihood"),
    "a vampprior without an encoder": (lambda tmp: ["train", "--encoder", "none", "--prior", "vamp",
                                                    "--out", str(tmp / "r")],
                                       "a VampPrior (vamp) is built from the encoder"),
    "inference steps with an encoder": (lambda tmp: ["train", "--inference-steps", "5", "--out", str(tmp / "r")],
                                        "--inference-steps applies only with --encoder none"),
    "alpha with the elbo": (lambda tmp: ["train", "--alpha", "1", "--out", str(tmp / "r")],
                            "--alpha applies to --objective m2 only"),
    "a mask seed for a vae": (lambda tmp: ["train", "--mask-seed", "1", "--out", str(tmp / "r")],
                              "--mask-seed applies to --model made only"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    make_args, mentioned = BAD[case]
    code, _, err = _run(make_args(tmp_path), capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and mentioned in lines[0] and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_run_that_does_not_match_its_config_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    config = json.loads((run / "config.json").read_text())
    config["model"]["latent_dim"] = 5
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = _run(["evaluate", str(run)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "model.safetensors" in err


def test_existing_run_directory_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = _run(["train", "--out", str(run), *TINY], capsys)
    assert code == 2 and "--resume" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    (tmp_path / "z.npz").write_bytes(b"precious")
    code, _, err = _run(["encode", str(run), "--out", str(tmp_path / "z.npz")], capsys)
    assert code == 2 and (tmp_path / "z.npz").read_bytes() == b"precious"


def test_real_subprocess(tmp_path):
    run = tmp_path / "run"
    ok = subprocess.run([sys.executable, "-m", "vaekit", "train", "--out", str(run), *TINY],
                        capture_output=True, text=True, timeout=300, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "best validation ELBO" in ok.stdout and "nats" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "vaekit", "evaluate", str(tmp_path / "missing")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_evaluate_with_gaps_probe_and_baselines(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    code, out, err = _run(["evaluate", str(run), "--importance-samples", "50", "--gaps", "5", "--gap-steps", "20",
                           "--probe", "--baselines", "--json"], capsys)
    assert code == 0, err
    f = json.loads(out)
    assert f["gap_points"] == 5
    assert abs(f["approximation_gap"] + f["amortization_gap"] - f["total_gap"]) < 1e-9
    assert 0 <= f["probe"]["latent_accuracy"] <= 1 and f["probe"]["raw_accuracy"] > 0.5  # digits: linearly easy
    assert {row["name"] for row in f["baselines"]} >= {"factorised Bernoulli", "mixture of Bernoullis", "binary KDE"}
    saved = json.loads((run / "evaluation.json").read_text())
    assert len(saved["per_datapoint"]["gap"]) == f["n"]
    code, out, err = _run(["baselines", "--data", "digits", "--json"], capsys)
    assert code == 0, err
    # Without binarization, 17-level digits get the continuous estimators on dequantized data.
    assert {row["name"] for row in json.loads(out)["baselines"]} >= {"factorised Gaussian", "Gaussian KDE"}


def test_resume_refuses_options_that_would_change_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    code, _, err = _run(["train", "--out", str(run), "--resume", "--lr", "0.1", "--hidden", "16"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--lr 0.001 -> 0.1" in err and "--hidden" not in err  # only what changes, with old and new values
    # The very same command line as the original run, plus --resume (and a longer --epochs), continues it.
    code, _, err = _run(["train", "--out", str(run), *TINY, "--resume", "--epochs", "3"], capsys)
    assert code == 0, err
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    code, _, err = _run(["train", "--out", str(run), "--resume", "--epochs", "4"], capsys)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 4


MISSPELT = {  # a misspelt option or choice -> the one line: the subcommand, the closest valid name, its --help
    "option": (["train", "--latnet-dim", "3"], ("vaekit train: error: unrecognized arguments: --latnet-dim 3 (did "
                                                "you mean '--latent-dim'?) (see `vaekit train --help`)")),
    "option=value": (["evaluate", "RUN", "--importance-sample=3"], ("vaekit evaluate: error: unrecognized arguments: "
                     "--importance-sample=3 (did you mean '--importance-samples'?) (see `vaekit evaluate --help`)")),
    "flag": (["compare", "RUN", "--jsn"], "(did you mean '--json'?) (see `vaekit compare --help`)"),
    "choice": (["train", "--model", "cvea"], "(did you mean 'cvae'?) (see `vaekit train --help`)"),
    "command": (["trian"], "(did you mean 'train'?) (see `vaekit --help`)"),
}


@pytest.mark.parametrize("case", list(MISSPELT))
def test_a_misspelt_option_gets_the_closest_and_its_commands_help(case, tmp_path, capsys):
    argv, expected = MISSPELT[case]
    code, out, err = _run([str(tmp_path) if arg == "RUN" else arg for arg in argv], capsys)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert err.strip().endswith(expected), err


def test_every_option_states_one_default():
    from vaekit.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for name, command in commands.items():
        for action in command._actions:
            assert (action.help or "").count("default:") <= 1, (name, action.option_strings, action.help)
    labelled = next(a for a in commands["train"]._actions if "--labelled" in a.option_strings)
    assert labelled.help.endswith("(default: keep every label)"), labelled.help


def test_train_help_groups_options_by_what_they_configure(capsys):
    with pytest.raises(SystemExit):
        __import__("vaekit.cli", fromlist=["build_parser"]).build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    sections = ["data:", "model: the architecture (--model):", "prior p(z) (--model vae):",
                "second stochastic layer z2 (--model hvae):", "objective: what training maximises (--objective):",
                "training:"]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    for option in ("--model", "--prior", "--prior-components", "--objective", "--iw-samples", "--beta",
                   "--warmup-epochs", "--free-bits", "--latent-dim2", "--hidden2"):
        assert option in text
    assert "default: --model vae 8, --model hvae 100" in " ".join(text.split())  # per-kind defaults


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_requested_without_cuda_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    assert _run(["train", "--out", str(run), *TINY], capsys)[0] == 0
    for args in (["evaluate", str(run), "--device", "cuda"], ["train", "--out", str(tmp_path / "r2"), "--device", "cuda"]):
        code, _, err = _run(args, capsys)
        assert code == 2 and "CUDA is not available" in err and len(err.strip().splitlines()) == 1
