"""Hostile and clumsy input: run directories read as untrusted input (config.json, the checkpoint, the weights),
bounded resources (FIFOs, devices, gzip bombs, headers claiming terabytes, sizes the user asks for), one writer per
run, restartable unstarted runs, and evaluations that are never overwritten silently."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from vaekit.cli import main
from vaekit.data import load
from vaekit.errors import DataError, RunError, VaekitError
from vaekit.files import atomic_write, lock_folder, read_regular
from vaekit.models import MODELS, default_objective
from vaekit.objectives import build_objective
from vaekit.runs import open_run
from vaekit.train.footprint import check_training, meta_model

TINY = ["--hidden", "8", "--latent-dim", "2", "--batch-size", "32", "--epochs", "2"]


def _error(args: list[str], capsys, code: int = 2) -> str:
    assert main(args) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


# ------------------------------------------------------------------------------- validated run directories

CONFIG_EDITS = {  # (section, field, value) -> what the one line must name
    "unknown likelihood": ("model", "likelihood", "poisson", "model.likelihood"),
    "unknown network": ("model", "network", "transformer", "model.network"),
    "unknown prior": ("model", "prior", "flow", "model.prior"),
    "unknown binarize": ("train", "binarize", "sometimes", "train.binarize"),
    "unknown pipeline binarize": ("pipeline", "binarize", "sometimes", "pipeline.binarize"),
    "wrong type": ("model", "latent_dim", "two", "model.latent_dim"),
    "negative size": ("model", "hidden", [-3], "model.hidden"),
    "absurd size": ("model", "hidden", [10**12], "parameters"),
    "absurd data shape": ("model", "data_shape", [1, 10**6, 10**6], "parameters"),
    "infinite size": ("model", "latent_dim", float("inf"), "model.latent_dim"),
    "negative seed": ("train", "seed", -1, "train.seed"),
    "unknown device": ("train", "device", "tpu", "device"),
    "negative scale": ("model", "min_scale", -0.1, "model.min_scale"),
    "negative levels": ("pipeline", "levels", -2, "pipeline.levels"),
    "three image sizes": ("data", "image_size", [8, 8, 8], "image_size"),
}


@pytest.mark.parametrize("case", list(CONFIG_EDITS))
def test_a_bad_config_json_is_one_line_naming_the_file_and_field(case, run, capsys):
    section, key, value, named = CONFIG_EDITS[case]
    config = json.loads((run / "config.json").read_text())
    config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))
    for args in (["evaluate", str(run)], ["sample", str(run)], ["train", "--out", str(run), "--resume"]):
        line = _error(args, capsys)
        assert "config.json" in line and named in line, line


def _edit_checkpoint(run: Path, edit) -> None:
    from safetensors import safe_open

    with safe_open(run / "checkpoint.safetensors", "pt") as f:
        metadata = f.metadata()
    tensors = load_file(run / "checkpoint.safetensors")
    state = json.loads(metadata["state"])
    edit(tensors, state)
    save_file(tensors, run / "checkpoint.safetensors", {**metadata, "state": json.dumps(state)})


def _drop(key):
    return lambda tensors, state: state.pop(key)


def _tensor(name, value):
    def edit(tensors, state):
        tensors[name] = value(tensors[name]) if callable(value) else value
    return edit


CHECKPOINT_EDITS = {
    "missing epoch": (_drop("epoch"), "epoch"),
    "missing history": (_drop("history"), "history"),
    "missing optimizer": (_drop("optimizer"), "optimizer"),
    "history of another length": (lambda t, s: s["history"].pop(), "history"),
    "best epoch after the last": (lambda t, s: s.update(best_epoch=9), "best_epoch"),
    "NaN weights": (_tensor("model.encoder.net.0.weight", lambda v: v.fill_(float("nan"))), "NaN"),
    "NaN best weights": (_tensor("best.encoder.net.0.bias", lambda v: v.fill_(float("inf"))), "best.encoder"),
    "integer weights": (_tensor("model.encoder.net.0.weight", lambda v: v.long()), "int64"),
    "wrong shape": (_tensor("model.encoder.net.0.weight", lambda v: v[:, :3].contiguous()), "shape"),
    "wrong Adam shape": (_tensor("optim.0.exp_avg", lambda v: v[:1].contiguous()), "optim.0.exp_avg"),
    "unknown tensor": (_tensor("model.encoder.net.9.weight", torch.zeros(2)), "unexpected tensor"),
    "missing tensor": (lambda t, s: t.pop("model.decoder.net.0.bias"), "model.decoder.net.0.bias"),
    "missing RNG": (lambda t, s: t.pop("rng.data"), "rng.data"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_EDITS))
def test_a_bad_checkpoint_is_one_line_naming_the_file_and_field(case, run, capsys):
    edit, named = CHECKPOINT_EDITS[case]
    _edit_checkpoint(run, edit)
    line = _error(["train", "--out", str(run), "--resume", "--epochs", "3"], capsys)
    assert "checkpoint.safetensors" in line and named in line, line


WEIGHT_EDITS = {
    "NaN": (lambda t: t["encoder.net.0.weight"].fill_(float("nan")), "NaN"),
    "integer dtype": (lambda t: t.update({"encoder.net.0.bias": t["encoder.net.0.bias"].int()}), "int32"),
    "wrong name": (lambda t: t.update({"encoder.net.7.bias": t.pop("encoder.net.0.bias")}), "encoder.net.0.bias"),
    "wrong shape": (lambda t: t.update({"decoder.net.0.bias": torch.zeros(3)}), "shape"),
}


@pytest.mark.parametrize("case", list(WEIGHT_EDITS))
def test_bad_weights_are_one_line_naming_the_file_and_tensor(case, run, capsys):
    edit, named = WEIGHT_EDITS[case]
    (run / "checkpoint.safetensors").unlink()  # as in a run of vaekit 0.1: the weights are read from this file
    tensors = load_file(run / "model.safetensors")
    edit(tensors)
    save_file(tensors, run / "model.safetensors")
    line = _error(["evaluate", str(run)], capsys)
    assert "model.safetensors" in line and named in line, line


def test_a_legacy_state_json_with_a_missing_key_is_one_line(tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "fixtures" / "run-0.1.0", old)
    state = json.loads((old / "state.json").read_text())
    del state["best_epoch"]
    (old / "state.json").write_text(json.dumps(state))
    line = _error(["train", "--out", str(old), "--resume", "--epochs", "4"], capsys)
    assert "state.json" in line and "best_epoch" in line and "missing" in line, line


# ------------------------------------------------------------------------------------ bounded resources


def test_only_regular_files_are_read(tmp_path, capsys):
    fifo = tmp_path / "data.npy"
    os.mkfifo(fifo)
    # A reader that blocked on the FIFO would hang this test: the timer writes to it to free such a reader.
    opener = threading.Timer(20, lambda: open(fifo, "wb").close())
    opener.start()
    try:
        assert "FIFO" in _error(["train", "--data", str(fifo), "--out", str(tmp_path / "r")], capsys)
        for name in ("zero.npy", "zero.csv", "zero.npz"):
            (tmp_path / name).symlink_to("/dev/zero")
            assert "device" in _error(["train", "--data", str(tmp_path / name), "--out", str(tmp_path / "r")], capsys)
        with pytest.raises(RunError, match="FIFO"):
            read_regular(fifo)
    finally:
        opener.cancel()


def test_a_gzip_bomb_is_refused_before_it_inflates(tmp_path):
    csv = tmp_path / "table.csv"
    csv.write_bytes(gzip.compress(b"0," * (64 << 20) + b"0\n", compresslevel=9))  # 128 MiB of text in ~130 KiB
    with pytest.raises(DataError, match="inflates to more than"):
        load(str(csv))
    idx = tmp_path / "bomb" / "train-images-idx3-ubyte.gz"
    idx.parent.mkdir()
    header = struct.pack(">4B3I", 0, 0, 8, 3, 10, 28, 28)  # declares 7840 bytes, holds 512 MiB
    idx.write_bytes(gzip.compress(header + bytes(512 << 20), compresslevel=9))
    from vaekit.data.readers import read_amat, read_idx

    with pytest.raises(DataError, match="declares shape"):
        read_idx(idx)
    amat = tmp_path / "bomb.amat"
    amat.write_bytes(gzip.compress(b"0 " * (64 << 20), compresslevel=9))
    with pytest.raises(DataError, match="inflates to more than"):
        read_amat(amat, width=784, max_rows=10)


def test_headers_claiming_terabytes_are_refused_before_allocating(tmp_path):
    from vaekit.data.readers import read_idx, read_npy, read_npz

    npy = tmp_path / "huge.npy"
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 3), dtype=np.float32))
    npy.write_bytes(buffer.getvalue().replace(b"(2, 3)", b"(10000000, 10000000)"))
    with pytest.raises(DataError, match="declares shape"):
        read_npy(npy)
    npz = tmp_path / "huge.npz"
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("x.npy", npy.read_bytes())
    with pytest.raises(DataError, match="declares shape"):
        read_npz(npz)
    idx = tmp_path / "huge.idx"
    idx.write_bytes(struct.pack(">4B3I", 0, 0, 8, 3, 4_000_000_000, 1_000_000, 1_000_000))
    with pytest.raises(DataError, match="declares shape"):
        read_idx(idx)
    idx.write_bytes(struct.pack(">4B", 0, 0, 8, 40) + b"\xff" * 160)  # 40 dimensions of 2^32 - 1 (found by fuzzing)
    with pytest.raises(DataError, match="declares shape"):
        read_idx(idx)
    png = tmp_path / "pngs" / "big.png"
    png.parent.mkdir()
    Image.new("L", (4, 4)).save(png)
    raw = bytearray(png.read_bytes())
    raw[16:24] = struct.pack(">II", 100_000, 100_000)  # IHDR width and height: 10^10 pixels ...
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))  # ... with a valid checksum
    png.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="pixels"):
        load(str(png.parent))


def test_sizes_the_user_asks_for_are_refused_with_an_estimate(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "r")
    for option in (["--hidden", "2000000000"], ["--latent-dim", "3000000000"], ["--num-samples", "1000000000"],
                   ["--objective", "iwae", "--iw-samples", "1000000000"], ["--batch-size", "4096", "--hidden",
                                                                            "100000000"]):
        line = _error(["train", "--out", out, *option], capsys)
        assert "needs about" in line and "of memory" in line and "available here" in line, (option, line)
    assert not Path(out).exists()
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (4, 4)).save(folder / f"{i}.png")
    line = _error(["train", "--data", str(folder), "--image-size", "100000", "100000", "--out", out], capsys)
    assert "--image-size" in line and "needs about" in line, line


def test_sample_n_in_the_billions_is_refused_with_an_estimate(trained, capsys):
    line = _error(["sample", str(trained), "-n", "5000000000"], capsys)
    assert "sample -n 5000000000" in line and "needs about" in line, line


def test_every_model_kind_and_prior_is_sized_on_the_meta_device():
    for kind, cls in MODELS.items():
        objective = build_objective(default_objective(kind), {})
        for extra in ({}, {"prior": "mixture"}, {"prior": "vamp"}, {"network": "conv", "data_shape": (1, 28, 28)}):
            fields = {f for f in cls.Config.__dataclass_fields__}
            if not set(extra) <= fields:
                continue
            config = cls.Config(**{"data_shape": (1, 8, 8), **extra})
            model = meta_model(kind, config)
            assert model is not None, (kind, extra)
            real = cls(config)
            assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in real.parameters())
            check_training(kind, config, objective, batch_size=8192, num_rows=100)  # runs the dry run; fits


def test_memory_limit_refusals_name_the_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("VAEKIT_MEMORY_LIMIT", "1M")
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((600, 600), dtype=np.float32))  # 1.4 MiB
    with pytest.raises(VaekitError, match="available here|it may take"):
        load(str(path))


# ------------------------------------------------------------------------------ writers and run directories


def test_one_writer_at_a_time(run, capsys):
    with lock_folder(run):
        line = _error(["train", "--out", str(run), "--resume", "--epochs", "3"], capsys)
    assert "another vaekit process" in line and str(os.getpid()) in line
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 0  # released with its holder


def test_a_run_with_no_completed_epoch_restarts_with_the_same_command(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--out", str(out), *TINY, "--lr", "1e30"]
    assert "diverged" in _error(args, capsys)
    assert sorted(p.name for p in out.iterdir()) == [".lock", "config.json"]
    atomic_write(out / "config.json", (out / "config.json").read_bytes())  # a finished write ...
    (out / ".checkpoint.safetensors.abcd1234.tmp").write_bytes(b"killed write")  # ... and a killed one
    fixed = ["train", "--out", str(out), *TINY]
    assert main(fixed) == 0
    assert not list(out.glob(".*.tmp"))
    assert "--resume" in _error(fixed, capsys)  # now it has epochs: never overwritten
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    (tmp_path / "other" / ".draft.abcd1234.tmp").write_text("also mine")
    assert "notes.txt" in _error(["train", "--out", str(tmp_path / "other"), *TINY], capsys)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == [".draft.abcd1234.tmp", "notes.txt"]


def test_default_run_names_are_unique(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda *a: "20260101-000000")  # two runs in the same second
    for _ in range(2):
        assert main(["train", "--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--json"]) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["digits-20260101-000000", "digits-20260101-000000-2"]
    summaries = [json.loads(s) for s in capsys.readouterr().out.split("}\n") if s.strip() and not s.startswith("{\n}")
                 for s in [s + "}"]]
    assert len({s["run"] for s in summaries}) == 2


def test_evaluations_are_kept_and_never_overwritten_silently(run, capsys):
    assert main(["evaluate", str(run), "--importance-samples", "5", "--json"]) == 0
    assert main(["evaluate", str(run), "--importance-samples", "7", "--split", "valid", "--json"]) == 0
    capsys.readouterr()
    kept = sorted(p.name for p in (run / "evaluations").iterdir())
    assert kept == ["test-K5.json", "valid-K7.json"]
    latest = json.loads((run / "evaluation.json").read_text())
    assert (latest["split"], latest["importance_samples"]) == ("valid", 7)
    before = (run / "evaluations" / "test-K5.json").read_bytes()
    line = _error(["evaluate", str(run), "--importance-samples", "5"], capsys)
    assert "--force" in line and "test-K5.json" in line
    assert (run / "evaluations" / "test-K5.json").read_bytes() == before
    assert main(["evaluate", str(run), "--importance-samples", "5", "--force", "--json"]) == 0
    # An evaluation.json from before evaluations/ existed is kept under its own name before it is replaced.
    shutil.rmtree(run / "evaluations")
    old = json.loads((run / "evaluation.json").read_text())
    assert main(["evaluate", str(run), "--importance-samples", "3", "--json"]) == 0
    kept = json.loads((run / "evaluations" / f"{old['split']}-K{old['importance_samples']}.json").read_text())
    assert kept == old


def test_an_old_run_opens_after_its_state_is_converted(tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "fixtures" / "run-0.1.0", old)
    assert main(["train", "--out", str(old), "--resume", "--epochs", "4"]) == 0
    names = sorted(p.name for p in old.iterdir())
    assert "checkpoint.safetensors" in names and "state.json" not in names and "state.safetensors" not in names
    assert open_run(old).kind == "vae"


# ------------------------------------------------------------------------------ runs opened and continued


@pytest.mark.parametrize("device", ["meta", "mps", "cuda:x", "tpu"])
def test_evaluate_refuses_a_device_as_train_does(device, run, capsys):
    assert "--device" in _error(["evaluate", str(run), "--device", device, "--importance-samples", "2"], capsys)
    assert device in _error(["train", "--out", str(run.parent / "new"), "--device", device], capsys)
    assert not (run / "evaluation.json").exists() and not (run.parent / "new").exists()


def test_resume_with_fewer_epochs_than_done_is_refused_and_the_record_kept(run, capsys):
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    line = _error(["train", "--out", str(run), "--resume", "--epochs", "1"], capsys)
    assert "--epochs 1" in line and "completed 2 epochs" in line, line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # config.json still says 2
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0  # the same command: nothing to do
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2


@pytest.mark.parametrize("damage", ["truncated", "header only", "garbage"])
def test_a_damaged_export_is_rebuilt_from_the_checkpoint(damage, run, capsys):
    export = run / "model.safetensors"
    raw = export.read_bytes()
    export.write_bytes({"truncated": raw[: len(raw) // 2], "header only": raw[:100], "garbage": b"\0" * 64}[damage])
    best = {k.removeprefix("best."): v for k, v in load_file(run / "checkpoint.safetensors").items()
            if k.startswith("best.")}
    opened = open_run(run)  # evaluate, sample, report read the checkpoint's best weights meanwhile
    assert all(torch.equal(opened.model.state_dict()[k], v) for k, v in best.items())
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 0, capsys.readouterr().err
    rebuilt = load_file(export)
    best = {k.removeprefix("best."): v for k, v in load_file(run / "checkpoint.safetensors").items()
            if k.startswith("best.")}
    assert rebuilt.keys() == best.keys() and all(torch.equal(rebuilt[k], best[k]) for k in best)


def test_a_killed_write_leaves_no_temp_file_after_the_next_success(run, tmp_path, capsys):
    """A temp file of a killed write of X (unlocked: its writer is gone) is removed by the next write of X, whatever
    command makes it; other files' temps are left alone."""
    leftovers = [run / ".report.html.k1lled00.tmp", run / ".evaluation.json.k1lled00.tmp",
                 tmp_path / ".compare.html.k1lled00.tmp"]
    others = [tmp_path / ".notes.txt.abcd1234.tmp", tmp_path / ".compare.html.tmp"]
    for path in leftovers + others:
        path.write_bytes(b"a killed write")
    assert main(["evaluate", str(run), "--importance-samples", "2"]) == 0
    assert main(["report", str(run)]) == 0
    assert main(["compare", str(run), "--html", str(tmp_path / "compare.html")]) == 0
    capsys.readouterr()
    assert [p for p in leftovers if p.exists()] == []
    assert all(p.exists() for p in others)


LABELS = {  # options about training labels, with model kinds that do not use labels
    "--labelled with a vae": ["--labelled", "50"],
    "--label-seed with an hvae": ["--model", "hvae", "--label-seed", "3"],
    "--labelled with made": ["--model", "made", "--labelled", "50"],
    "--labelled-batch with a vae": ["--labelled-batch", "8"],
}


@pytest.mark.parametrize("case", list(LABELS))
def test_label_options_are_refused_for_models_without_labels(case, tmp_path, capsys):
    flag = case.split()[0]
    line = _error(["train", "--out", str(tmp_path / "r"), *LABELS[case]], capsys)
    assert line.startswith(f"vaekit train: error: {flag} applies to --model classifier or --model cvae or --model m2 "
                           "only, not --model"), line
    assert not (tmp_path / "r").exists()
    experiment = tmp_path / "exp.toml"
    experiment.write_text('[data]\nlabelled = 50\n')
    line = _error(["train", "--config", str(experiment), "--out", str(tmp_path / "r")], capsys)
    assert f"data.labelled ({experiment}) applies to" in line, line
    assert main(["config", "--model", "m2", "--labelled", "50"]) == 0  # a kind that models labels takes them


# ----------------------------------------------------------------------- baselines beside the model


def test_baselines_are_scored_on_the_models_points(run, capsys):
    """`--limit N --baselines`: the baselines score exactly the model's N points (the first N of the test split, as
    the model sees them); another split is refused; the report says which points, and leaves out baselines an
    older evaluation scored on other points."""
    from vaekit.runs.evaluate import baseline_rows

    assert main(["evaluate", str(run), "--importance-samples", "3", "--limit", "40", "--baselines", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["n"] == 40 and figures["baselines"]
    opened = open_run(run)
    splits = opened.load_splits()
    assert figures["baselines"] == baseline_rows(splits, opened.pipeline, seed=0, limit=40)
    assert all(row["n_test"] == 40 for row in figures["baselines"])
    line = _error(["evaluate", str(run), "--split", "valid", "--baselines", "--importance-samples", "3"], capsys)
    assert "--baselines scores the test split" in line, line
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "the first 40 points of the test split" in page
    assert "baselines are scored on the same 40 points" in page and "factorised Bernoulli" in page
    # An evaluation.json made before this fix: baselines of the whole test split beside 40 points are not shown.
    evaluation = json.loads((run / "evaluation.json").read_text())
    for row in evaluation["baselines"]:
        row["n_test"] = 359
    (run / "evaluation.json").write_text(json.dumps(evaluation))
    assert main(["report", str(run)]) == 0
    capsys.readouterr()
    page = (run / "report.html").read_text()
    assert "factorised Bernoulli" not in page and "scored on other points than the model" in page


# ------------------------------------------------------------------- config files, sizes, paths and messages


def _opened_later(fifo: Path) -> threading.Timer:
    """A timer that opens `fifo` for writing after 20 s, to free a reader that blocked on it (which would hang)."""
    timer = threading.Timer(20, lambda: open(fifo, "wb").close())
    timer.start()
    return timer


def test_config_files_are_read_as_bounded_regular_files(tmp_path, capsys):
    """--config FILE is read as every file is (`vaekit.files.read_regular`): a FIFO, a device (also through a
    symbolic link) or a file above the config cap is one line naming what it is, before anything is read."""
    from vaekit.files import CONFIG_LIMIT

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * CONFIG_LIMIT + b"\n")
    opener = _opened_later(fifo)
    try:
        for path, named in ((fifo, "FIFO"), (Path("/dev/zero"), "device"), (tmp_path / "zero.toml", "device"),
                            (big, "MiB")):
            for command in (["config"], ["train", "--out", str(tmp_path / "r")]):
                line = _error([*command, "--config", str(path)], capsys)
                assert str(path) in line and named in line, line
    finally:
        opener.cancel()
    assert not (tmp_path / "r").exists()


def test_run_files_that_compare_reads_are_bounded(run, tmp_path, capsys):
    """compare reads metrics.jsonl and evaluation.json of every run: a device in their place is named, not read."""
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to("/dev/zero")
    (run / "evaluation.json").symlink_to("/dev/zero")
    assert main(["compare", str(run), "--json"]) == 0
    flags = " ".join(json.loads(capsys.readouterr().out)["flags"])
    assert "evaluation.json could not be read" in flags and "device" in flags, flags


def test_a_byte_order_mark_is_not_an_error(tmp_path, capsys):
    for name, text in (("exp.toml", "[train]\nepochs = 7\n"), ("exp.json", json.dumps({"train": {"epochs": 7}}))):
        path = tmp_path / name
        path.write_bytes("\ufeff".encode() + text.encode())
        assert main(["config", "--config", str(path)]) == 0, capsys.readouterr().err
        assert "\nepochs = 7\n" in capsys.readouterr().out


HUGE = "99999999999999999999999"
#: case -> (experiment file, option on the command line, what the one line names)
BEYOND = {
    "epochs beyond 64 bits": (f"[train]\nepochs = {HUGE}\n", ["--epochs", HUGE], "64 bits"),
    "epochs above the most": ("[train]\nepochs = 100001\n", ["--epochs", "100001"], "at most 100000"),
    "a seed beyond 64 bits": (f"[train]\nseed = {2**64}\n", ["--seed", str(2**64)], "64 bits"),
    "a width beyond 64 bits": (f"[model]\nhidden = [8, {HUGE}]\n", ["--hidden", "8", HUGE], "64 bits"),
    "patience beyond 64 bits": (f"[train]\npatience = {HUGE}\n", ["--patience", HUGE], "64 bits"),
    "warm-up above the most": ("[objective]\nwarmup_epochs = 100001\n", ["--warmup-epochs", "100001"], "at most"),
}


@pytest.mark.parametrize("case", list(BEYOND))
def test_whole_numbers_beyond_their_range_are_one_line(case, tmp_path, capsys):
    text, option, named = BEYOND[case]
    experiment = tmp_path / "exp.toml"
    experiment.write_text(text)
    key = text.split("\n")[1].split(" = ")[0]
    for args in (["train", "--config", str(experiment), "--out", str(tmp_path / "r")], ["config", "--config",
                                                                                     str(experiment)]):
        line = _error(args, capsys)
        assert f".{key}" in line and str(experiment) in line and named in line, line
    line = _error(["train", *option, "--out", str(tmp_path / "r")], capsys)
    assert option[0] in line and named in line, line
    assert not (tmp_path / "r").exists()


def test_counts_of_other_commands_beyond_64_bits_are_one_line(trained, capsys):
    for args in (["evaluate", str(trained), "--importance-samples", HUGE], ["sample", str(trained), "-n", HUGE],
                 ["evaluate", str(trained), "--limit", HUGE], ["baselines", "--split-seed", HUGE]):
        line = _error(args, capsys)
        assert "64 bits" in line and HUGE in line, (args, line)


def test_the_labelled_batch_enters_the_memory_estimate(tmp_path, capsys, monkeypatch):
    """Each batch takes --labelled-batch labelled rows more: with 30 labels and a million a batch, the estimate
    refuses it before anything is allocated (it used to count the batch alone, and training grew without bound)."""
    monkeypatch.setenv("VAEKIT_MEMORY_LIMIT", "512M")
    out = tmp_path / "r"
    line = _error(["train", "--model", "m2", "--labelled", "30", "--labelled-batch", "1000000", "--out", str(out)],
                  capsys)
    assert "needs about" in line and "1000128 rows a step" in line and "--labelled-batch" in line, line
    assert not out.exists()


def test_values_quoted_in_messages_are_cut_to_a_readable_length(tmp_path, capsys):
    """A 5 MB value (or key) in an experiment file is quoted by its start and its length, not whole."""
    long = "x" * 5_000_000
    for text, named in ((f'[train]\nseed = "{long}"\n', "train.seed"), (f'[model]\nprior = "{long}"\n', "prior"),
                        (f'[train]\n{long} = 1\n', "unknown key"), (f'kind = "{long}"\n', "kind"),
                        (f"train = [{', '.join(['1'] * 1_000_000)}]\n", "train must be a table")):
        experiment = tmp_path / "exp.toml"
        experiment.write_text(text)
        line = _error(["config", "--config", str(experiment)], capsys)
        assert named in line and len(line) < 400, line[:400]
        if long[:40] in line:
            assert "5,000,000 characters" in line, line
    line = _error(["train", "--latent-dim", "y" * 100_000], capsys)
    assert "--latent-dim" in line and "characters)" in line and len(line) < 300, line[:300]


def test_an_unusable_out_path_is_bad_input_not_a_filesystem_fault(trained, tmp_path, capsys):
    """--out naming an existing file (or a link to one, or a folder below a file) or a name too long for the
    filesystem is exit 2, bad input, and the file is left as it was."""
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    (tmp_path / "link").symlink_to(mine)
    for out in (mine, tmp_path / "link", mine / "run", tmp_path / ("n" * 300)):
        line = _error(["train", "--out", str(out), *TINY], capsys, code=2)
        assert "failed" in line or "exists" in line, line
        assert mine.read_text() == "mine"
    for args in (["sample", str(trained), "--out", str(mine / "s.png")],
                 ["encode", str(trained), "--out", str(tmp_path / ("n" * 300 + ".npz"))]):
        line = _error(args, capsys, code=2)
        assert "failed" in line, line
    assert mine.read_text() == "mine"
