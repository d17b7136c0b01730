"""`vaekit train --log tensorboard --log mlflow`, read back with each tool's own reader (TensorBoard's
EventAccumulator, MLflow's MlflowClient); the hook in `fit`; and the one-line error when an extra is missing.

The tracker tests need the `tensorboard` and `mlflow` extras (`make setup-dev` installs them); without them
they are skipped, with the reason in pytest's summary.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from vaekit.cli import EXIT_IO, main
from vaekit.data import load
from vaekit.models import VAE, VAEConfig
from vaekit.runs import open_run
from vaekit.train.config import TrainConfig
from vaekit.train.loggers import TIMINGS, TensorBoardLogger, flatten, sample_grid
from vaekit.train.loop import fit

TINY = ["--epochs", "3", "--hidden", "16", "--latent-dim", "2", "--batch-size", "64", "--seed", "2"]
# MLflow's SQL store uses a loader strategy that SQLAlchemy 2.1 deprecates: MLflow's warning, not vaekit's.
MLFLOW_WARNING = "The ``noload`` loader strategy is deprecated"
#: A local store the installed MLflow takes (MLflow 3 refuses a folder): errors and --help name it.
WORKING_STORE = "sqlite:///mlflow.db"


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> dict:
    """One run trained with both trackers, one without, and a resumed continuation of the first."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (make setup-dev installs it)")
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (make setup-dev installs it)")
    root = tmp_path_factory.mktemp("trackers")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", MLFLOW_WARNING, DeprecationWarning)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(root)  # MLflow keeps a new experiment's artifacts under ./mlruns, as for a user
        assert main(["train", "--out", str(root / "plain"), *TINY]) == 0
        assert main(["train", "--out", str(root / "logged"), *TINY, "--log", "tensorboard", "--log", "mlflow",
                     "--mlflow-uri", uri, "--mlflow-experiment", "tests"]) == 0
        rows_before_resume = _rows(root / "logged")
        weights_before_resume = load_file(root / "logged" / "model.safetensors")
        assert main(["train", "--out", str(root / "logged"), "--resume", "--epochs", "4", "--log", "tensorboard",
                     "--log", "mlflow", "--mlflow-uri", uri, "--mlflow-experiment", "tests"]) == 0
    return {"root": root, "uri": uri, "rows_before_resume": rows_before_resume, "weights": weights_before_resume}


def test_logging_does_not_change_the_run(logged):
    root = logged["root"]
    plain = load_file(root / "plain" / "model.safetensors")
    assert plain.keys() == logged["weights"].keys()
    assert all(torch.equal(plain[k], logged["weights"][k]) for k in plain)
    untimed = [[{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]
               for rows in (_rows(root / "plain"), logged["rows_before_resume"])]
    assert untimed[0] == untimed[1] and len(untimed[0]) == 3


def test_tensorboard_events_hold_the_metrics_and_the_samples(logged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = logged["root"] / "logged"
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    rows = _rows(run)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    scalars = set(events.Tags()["scalars"])
    expected = {TensorBoardLogger.tag(key) for key in rows[0] if key != "epoch"}
    assert {"train/elbo_nats", "valid/elbo_nats", "valid/active_units", "time/images_per_second"} <= expected
    assert scalars == expected
    for key in rows[0]:
        if key == "epoch":
            continue
        logged_values = events.Scalars(TensorBoardLogger.tag(key))
        assert [e.step for e in logged_values] == [1, 2, 3, 4], key
        np.testing.assert_allclose([e.value for e in logged_values], [row[key] for row in rows], rtol=1e-6,
                                   atol=1e-6, err_msg=key)
    # Samples at epoch 1, at the last epoch of each session (3, then 4): the grid drawn from the weights of
    # that epoch; at epoch 4 those are in checkpoint.safetensors.
    images = events.Images("samples")
    assert [image.step for image in images] == [1, 3, 4]
    last = images[-1]
    with Image.open(io.BytesIO(last.encoded_image_string)) as picture:
        shown = np.asarray(picture.convert("L"), dtype=np.float64) / 255
    model = open_run(run).model
    state = load_file(run / "checkpoint.safetensors")
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")})
    grid = sample_grid(model.eval(), 64, seed=2, levels=17)
    assert shown.shape == (last.height, last.width) == tuple(grid.shape[1:]) == (64, 64)
    assert np.abs(shown - grid[0].numpy()).max() <= 1 / 255 + 1e-6  # TensorBoard stores 8-bit pixels
    assert "config" in "".join(events.Tags()["tensors"])


@pytest.mark.filterwarnings(f"ignore:{MLFLOW_WARNING}:DeprecationWarning")
def test_mlflow_holds_the_params_metrics_and_artifacts(logged):
    from mlflow.tracking import MlflowClient

    run_dir = logged["root"] / "logged"
    client = MlflowClient(logged["uri"])
    experiment = client.get_experiment_by_name("tests")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # the resumed session continued the MLflow run it started
    run = runs[0]
    config = json.loads((run_dir / "config.json").read_text())
    assert run.info.status == "FINISHED" and run.info.run_name == "logged"
    assert run.data.tags["vaekit.run_dir"] == str(run_dir.resolve())
    started = {**config, "train": {**config["train"], "epochs": 3}}  # the params of the session that started it
    assert run.data.params == flatten(started)
    assert run.data.params["model.hidden"] == "[16]" and run.data.params["kind"] == "vae"
    rows = _rows(run_dir)
    for key in rows[0]:
        if key == "epoch":
            continue
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2, 3, 4], key
        np.testing.assert_allclose([m.value for m in history], [row[key] for row in rows], rtol=1e-12, err_msg=key)
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(logged["root"] / "mlruns")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "metrics.jsonl", "model.safetensors", "checkpoint.safetensors", "tensorboard"} <= artifacts
    local = Path(client.download_artifacts(run.info.run_id, "metrics.jsonl", str(logged["root"] / "download")))
    assert local.read_text() == (run_dir / "metrics.jsonl").read_text()


@pytest.mark.parametrize(("tracker", "module", "extra"), [
    ("tensorboard", "torch.utils.tensorboard", "tensorboard"),
    ("mlflow", "mlflow", "mlflow"),
])
def test_a_missing_extra_is_one_line_naming_it(tracker, module, extra, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail, as when it is not installed
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY, "--log", tracker]) == 2
    err = capsys.readouterr().err
    assert err == (f"vaekit train: error: --log {tracker} needs the {extra} package, which is not installed; "
                   f"install it with `pip install 'vaekit[{extra}]'`\n")
    assert not out.exists()  # refused before the run directory was made


def test_mlflow_options_need_log_mlflow(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), "--mlflow-uri", "http://127.0.0.1:5000"]) == 2
    assert "--mlflow-uri and --mlflow-experiment apply only with --log mlflow" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


class _Recorder:
    """A logger of the `Logger` protocol that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_start(self, config):
        self.calls.append(("start", config))

    def on_epoch(self, row, model):
        self.calls.append(("epoch", (dict(row), model.training, sum(p.numel() for p in model.parameters()))))

    def on_end(self, run_dir):
        self.calls.append(("end", run_dir))


@pytest.mark.parametrize("with_run_dir", [True, False], ids=["run-dir", "in-memory"])
def test_fit_tells_loggers_of_the_start_every_epoch_and_the_end(with_run_dir, tmp_path):
    splits = load("digits")
    model = VAE(VAEConfig(data_shape=splits.data_shape, latent_dim=2, hidden=(8,)))
    recorder = _Recorder()
    run_dir = tmp_path / "run" if with_run_dir else None
    result = fit(model, splits, TrainConfig(epochs=2, batch_size=256), run_dir=run_dir, loggers=[recorder])
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds == ["start", "epoch", "epoch", "end"]
    config = recorder.calls[0][1]
    if with_run_dir:
        assert config == json.loads((run_dir / "config.json").read_text())
    else:
        assert config["train"]["epochs"] == 2 and config["objective"]["name"] == "elbo"
    rows = [value[0] for kind, value in recorder.calls if kind == "epoch"]
    assert rows == result.history
    assert all(not training for kind, (_, training, _) in recorder.calls[1:3])  # the model as validated: eval mode
    assert recorder.calls[-1] == ("end", run_dir)


def test_sample_grid_tiles_the_samples():
    model = VAE(VAEConfig(data_shape=(1, 4, 5), latent_dim=2, hidden=(8,)))
    grid = sample_grid(model, 10, seed=0, levels=2)
    assert grid.shape == (1, 3 * 4, 4 * 5)  # 10 samples in rows of ceil(sqrt(10)) = 4, 3 rows
    samples = model.decode(torch.zeros(1, 2)).mean  # shape check of one tile against the generator itself
    assert samples.shape == (1, 1, 4, 5)
    from vaekit.models import generate

    drawn = generate(model, 10, mean=True, seed=0)
    assert torch.equal(grid[:, 4:8, 5:10], drawn[5, :, :, :].clamp(0, 1))  # row 1, column 1 is sample 5
    assert torch.equal(grid[:, 8:12, 10:20], torch.zeros(1, 4, 10))  # the two empty tiles
    table = VAE(VAEConfig(data_shape=(5,), latent_dim=2, hidden=(8,), likelihood="gaussian"))
    assert sample_grid(table, 4, seed=0, levels=None) is None  # not images


# ------------------------------------------------------------------------------ MLflow stores that fail


class _Hung(BaseException):  # not an Exception: nothing on the way may turn it into vaekit's one line
    pass


@contextlib.contextmanager
def _hang_guard(seconds: int = 90):
    """Fail a test that waits far beyond vaekit's bounded MLflow requests (MLflow's own wait up to 120 s each)."""
    def ring(signum, frame):
        raise _Hung(f"still waiting for the MLflow store after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _mlflow_error(tmp_path: Path, capsys, *options: str, code: int = 2) -> str:
    """`vaekit train --log mlflow OPTIONS`: one line and exit `code`, before the run directory is made."""
    out = tmp_path / "run"
    with _hang_guard():
        assert main(["train", "--out", str(out), *TINY, "--log", "mlflow", *options]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()
    return err.strip()


@pytest.fixture
def mlflow_env(monkeypatch):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (make setup-dev installs it)")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "MLFLOW_HTTP_REQUEST_TIMEOUT",
                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.filterwarnings(f"ignore:{MLFLOW_WARNING}:DeprecationWarning")
@pytest.mark.parametrize("store", ["file-uri", "folder", "unknown-scheme"])
def test_a_store_mlflow_refuses_is_one_line_naming_one_that_works(store, mlflow_env, tmp_path, monkeypatch, capsys):
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = {"file-uri": f"file://{tmp_path / 'mlruns'}", "folder": "my runs", "unknown-scheme": "bogus://host"}[store]
    if store != "unknown-scheme" and int(mlflow.__version__.split(".")[0]) < 3:
        pytest.skip(f"MLflow {mlflow.__version__} takes a file store (MLflow 3 refuses one)")
    line = _mlflow_error(tmp_path, capsys, "--mlflow-uri", uri)
    assert line.startswith(f"vaekit train: error: --mlflow-uri {uri}: ") and WORKING_STORE in line, line
    # The store the message and --help name works with the installed MLflow.
    assert main(["train", "--help"]) == 0
    assert f"a database such as {WORKING_STORE}" in " ".join(capsys.readouterr().out.split())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", MLFLOW_WARNING, DeprecationWarning)
        assert main(["train", "--out", str(tmp_path / "run"), *TINY, "--log", "mlflow", "--mlflow-uri",
                     WORKING_STORE]) == 0
    assert (tmp_path / "mlflow.db").is_file()


@pytest.mark.filterwarnings(f"ignore:{MLFLOW_WARNING}:DeprecationWarning")
@pytest.mark.parametrize("server", ["silent", "nothing listening"])
def test_a_dead_server_is_one_line_within_a_bounded_wait(server, mlflow_env, tmp_path, capsys):
    """A server that accepts connections and never answers (a listening socket nobody reads), or a port where
    nothing listens: one line, without MLflow's waits of 120 s per request, retried."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        if server == "silent":
            listener.listen(8)
            line = _mlflow_error(tmp_path, capsys, "--mlflow-uri", f"http://127.0.0.1:{port}")
    if server == "nothing listening":  # the port was closed with the socket
        line = _mlflow_error(tmp_path, capsys, "--mlflow-uri", f"http://127.0.0.1:{port}")
    assert f"--mlflow-uri http://127.0.0.1:{port}: reaching the store failed" in line, line
    assert ("no answer within 5 s" if server == "silent" else "connection was refused") in line, line


@pytest.mark.filterwarnings(f"ignore:{MLFLOW_WARNING}:DeprecationWarning")
@pytest.mark.parametrize("where", ["database", "artifacts"])
def test_an_unwritable_store_is_one_line(where, mlflow_env, tmp_path, monkeypatch, capsys):
    """The store's database folder, or the folder MLflow keeps the experiment's artifacts in (./mlruns under a
    database store), refuses writes (injected: the tests run as root): one line, exit 74, before training."""
    import vaekit.files

    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    refused = store if where == "database" else work / "mlruns"

    def failing(op: str, path) -> None:
        if Path(path).is_relative_to(refused):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(vaekit.files, "file_operation", failing)
    line = _mlflow_error(tmp_path, capsys, "--mlflow-uri", f"sqlite:///{store / 'mlflow.db'}", code=EXIT_IO)
    assert "Read-only file system" in line and str(refused) in line, line
    assert ("database folder" if where == "database" else "artifact folder") in line, line


@pytest.mark.filterwarnings(f"ignore:{MLFLOW_WARNING}:DeprecationWarning")
def test_the_default_store_in_a_read_only_working_directory_is_one_line(mlflow_env, tmpfs, tmp_path, monkeypatch,
                                                                        capsys):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    monkeypatch.chdir(tmpfs)
    line = _mlflow_error(tmp_path, capsys, code=EXIT_IO)
    assert f"MLflow's default store sqlite:///{tmpfs / 'mlflow.db'}" in line and "Read-only file system" in line, line


@pytest.mark.filterwarnings(f"ignore:{MLFLOW_WARNING}:DeprecationWarning")
def test_a_store_failing_during_training_is_one_line_saying_what_the_run_keeps(mlflow_env, tmp_path, monkeypatch,
                                                                               capsys):
    from mlflow.tracking import MlflowClient

    logged = MlflowClient.log_batch

    def log_batch(self, run_id, metrics=(), **kwargs):
        if metrics:  # the params went in; the store goes away before the first epoch's metrics
            raise ConnectionError("the store went away")
        return logged(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY, "--log", "mlflow", "--mlflow-uri",
                 f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "logging epoch 1 failed (the store went away)" in err and f"{out} keeps epoch 1" in err, err
    monkeypatch.setattr(MlflowClient, "log_batch", logged)
    assert main(["train", "--out", str(out), *TINY, "--resume", "--log", "mlflow", "--mlflow-uri",
                 f"sqlite:///{tmp_path / 'mlflow.db'}"]) == 0
