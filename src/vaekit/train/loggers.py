"""Experiment trackers: the hook `fit` calls on rank 0, and loggers for TensorBoard and MLflow.

    fit(model, splits, config, run_dir="runs/x", loggers=[TensorBoardLogger("runs/x/tensorboard")])

A `Logger` hears when training starts (the run's config, as config.json holds it), after every epoch (the row
of metrics.jsonl, and the model in eval mode with the weights validation saw) and when training ends (the run
directory, or None). Under torchrun only rank 0's loggers are called. A logger must not change the run: it
draws pictures on a forked RNG, so a run trained with loggers has the weights of one trained without.

TensorBoard and MLflow are optional extras (`pip install 'vaekit[tensorboard]'`, `pip install 'vaekit[mlflow]'`),
imported when a logger is made, so that a missing one is a one-line error before training starts.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import math
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from torch import Tensor, nn

from vaekit.errors import VaekitError
from vaekit.models import LatentVariableModel, generate, generates
from vaekit.registry import Registry
from vaekit.version import __version__

#: metrics.jsonl keys that are timings, shown under "time/" in TensorBoard.
TIMINGS = ("train_seconds", "epoch_seconds", "images_per_second")


class Logger(Protocol):
    """What the training loop calls; every method may be a no-op."""

    def on_start(self, config: dict[str, Any]) -> None:
        """Training starts (or resumes): `config` is the run's config.json (or, without a run directory, its
        "train" and "objective" sections)."""

    def on_epoch(self, row: dict[str, Any], model: nn.Module) -> None:
        """An epoch ended and was saved: `row` is its metrics.jsonl row; `model` holds the validated weights."""

    def on_end(self, run_dir: Path | None) -> None:
        """Training ended normally; `run_dir` holds the run's files (None when training kept none)."""


def _require(module: str, extra: str, option: str) -> Any:
    """Import an optional tracker package, or a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise VaekitError(f"{option} needs the {extra} package, which is not installed; install it with "
                          f"`pip install 'vaekit[{extra}]'`") from None


def flatten(config: dict[str, Any]) -> dict[str, str]:
    """A run's settings as `section.key` -> text: kind, and the model, objective, data and train sections."""
    flat = {"kind": str(config.get("kind", ""))} if "kind" in config else {}
    for section in ("model", "objective", "data", "train"):
        for key, value in (config.get(section) or {}).items():
            flat[f"{section}.{key}"] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return flat


def sample_grid(model: nn.Module, n: int, seed: int, levels: int | None) -> Tensor | None:
    """n samples of an image model (the mean of p(x|z)) tiled into one [C, H, W] picture in [0, 1], or None when
    the model's data are not images or it does not draw x on its own (a classifier; a conditional model without
    p(y)). Drawn on a forked RNG: the caller's random state is left as it was."""
    if not generates(model):
        return None
    samples = generate(cast(LatentVariableModel, model), n, mean=True, seed=seed).detach().float().cpu()
    if samples.dim() != 4 or samples.shape[1] not in (1, 3):
        return None
    if levels is None:  # real-valued images: show the samples' own range
        low, high = samples.min(), samples.max()
        samples = (samples - low) / (high - low) if high > low else samples - low
    samples = samples.clamp(0, 1)
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    c, h, w = samples.shape[1:]
    padded = torch.cat([samples, samples.new_zeros(rows * columns - n, c, h, w)])
    return padded.reshape(rows, columns, c, h, w).permute(2, 0, 3, 1, 4).reshape(c, rows * h, columns * w)


class TensorBoardLogger:
    """Scalars per epoch and a grid of samples every few epochs, as TensorBoard event files in `log_dir`.

    Tags: `train/<term>_nats` and `valid/<figure>_nats` (nats per datapoint), `valid/active_units`,
    `time/<timing>`, `objective/<setting>` (a KL weight under warm-up); `samples` (image data only) at epoch 1,
    every `image_every` epochs and the last; the run's config as text under `config`. Steps are epochs, so a
    resumed run continues its curves.
    """

    def __init__(self, log_dir: str | Path, *, image_every: int = 10, num_images: int = 64) -> None:
        module = _require("torch.utils.tensorboard", "tensorboard", "--log tensorboard")
        self._writer_class = module.SummaryWriter
        self.log_dir = Path(log_dir)
        self.image_every, self.num_images = image_every, num_images
        self._writer: Any = None
        self._last_epoch = 0
        self._seed = 0
        self._levels: int | None = None

    def on_start(self, config: dict[str, Any]) -> None:
        # Made here, not in __init__: SummaryWriter creates the folder, and the run directory must not exist
        # before `fit` makes it.
        self._writer = self._writer_class(log_dir=str(self.log_dir))
        train = config.get("train") or {}
        self._last_epoch, self._seed = int(train.get("epochs", 0)), int(train.get("seed", 0))
        self._levels = (config.get("pipeline") or {}).get("levels")
        self._writer.add_text("config", "```json\n" + json.dumps(config, indent=2) + "\n```")

    @staticmethod
    def tag(key: str) -> str:
        """The TensorBoard tag of a metrics.jsonl key."""
        if key in TIMINGS:
            return f"time/{key}"
        for split in ("train", "valid"):
            if key.startswith(split + "_"):
                return f"{split}/{key.removeprefix(split + '_')}"
        return f"objective/{key}"

    def on_epoch(self, row: dict[str, Any], model: nn.Module) -> None:
        epoch = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(self.tag(key), value, epoch)
        if epoch == 1 or epoch % self.image_every == 0 or epoch == self._last_epoch:
            grid = sample_grid(model, self.num_images, self._seed, self._levels)
            if grid is not None:
                self._writer.add_image("samples", grid, epoch)
        self._writer.flush()  # a run stopped later keeps its curves up to here

    def on_end(self, run_dir: Path | None) -> None:
        self._writer.close()


def default_experiment() -> str:
    """The MLflow experiment runs are logged to: $MLFLOW_EXPERIMENT_NAME, else "vaekit"."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or "vaekit"


#: A local store every MLflow from 2.12 on takes (MLflow 3 refuses a file store such as ./mlruns unless told to).
MLFLOW_LOCAL_STORE = "sqlite:///mlflow.db"
#: MLflow's HTTP settings for vaekit's first request to a tracking server, and for the requests after it, where the
#: environment does not set them: MLflow's own (120 s per request, 7 retries with backoff) make a dead server a
#: silent wait of many minutes. The first request is the check that the server answers at all.
FIRST_REQUEST = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
LATER_REQUESTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}


@contextlib.contextmanager
def _http_limits(limits: dict[str, str]) -> Iterator[None]:
    """MLflow's HTTP settings `limits` for the block (it reads them per request), where the environment has none;
    MLflow's log quiet but for errors (its notes and retry warnings would add lines to vaekit's one-line errors)."""
    added = {key: value for key, value in limits.items() if key not in os.environ}
    os.environ.update(added)
    log = logging.getLogger("mlflow")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
        for key in added:
            os.environ.pop(key, None)


def _local_path(uri: str) -> Path | None:
    """The file or folder of a local store or artifact location (`sqlite:///PATH`, `file://PATH`, a plain path);
    None for anything else (a server, an in-memory database, a cloud bucket)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "sqlite":
        path = uri[len("sqlite:///"):].split("?", 1)[0] if uri.startswith("sqlite:///") else ""
        return Path(path) if path and path != ":memory:" else None
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    return Path(uri) if parsed.scheme == "" or len(parsed.scheme) == 1 else None  # a path (C: on Windows)


def _reason(e: BaseException, timeout: str) -> str:
    """What went wrong, in a few words: a server's silence or refusal as such (MLflow wraps them in a paragraph on
    retries), else the first line of the message, shortened."""
    text = str(e)
    if "timed out" in text.lower():
        return f"no answer within {timeout} s"
    if "connection refused" in text.lower():
        return "the connection was refused: no server listens there"
    line = next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)
    return line if len(line) <= 200 else line[:197] + "..."


class MLflowLogger:
    """Params (the run's settings), metrics per epoch and, at the end, the run directory's files as artifacts,
    to an MLflow tracking store.

    `tracking_uri` None follows MLflow's own resolution: $MLFLOW_TRACKING_URI, else MLflow's default local store
    in the working directory (`mlflow.db` with artifacts under `mlruns/` since MLflow 3; `mlruns/` before), which
    `mlflow ui` started there shows. A server is `http://host:port`. Metric keys are metrics.jsonl's, with the
    epoch as the step. A resumed run continues the MLflow run it started (found by the tag `vaekit.run`, the
    run directory and its creation time); its params are those it started with.

    The store is checked when the logger is made, before training starts: a local store's database and artifact
    folders must be writable (`FileError` otherwise), and a server must answer within seconds (`FIRST_REQUEST`);
    a store MLflow refuses, and any later failure of the store, is a one-line `VaekitError` naming it.
    """

    def __init__(self, run_dir: str | Path | None, tracking_uri: str | None = None, experiment: str | None = None,
                 run_name: str | None = None) -> None:
        mlflow = _require("mlflow", "mlflow", "--log mlflow")
        from mlflow.tracking import MlflowClient

        self.experiment = experiment or default_experiment()
        self.run_dir = Path(run_dir).resolve() if run_dir is not None else None
        self.run_name = run_name or (self.run_dir.name if self.run_dir is not None else None)
        self.run_id: str | None = None
        uri = tracking_uri or mlflow.get_tracking_uri()
        self.where = (f"--mlflow-uri {uri}" if tracking_uri else f"$MLFLOW_TRACKING_URI {uri}"
                      if os.environ.get("MLFLOW_TRACKING_URI") else f"MLflow's default store {uri}")
        database = _local_path(uri) if uri.startswith("sqlite:") else None
        if database is not None:
            self._check_local(database.parent, "its database folder")
            if database.exists():
                self._check_local(database, "its database")
            # Absolute: MLflow keeps a store per URI for the process, which a relative one would outlive a chdir.
            _, query, options = uri.partition("?")
            uri = f"sqlite:///{database.resolve()}{query}{options}"
        folder = _local_path(uri) if database is None else None  # a file store: MLflow 3 refuses one by default
        opening = (f"opening a file store (a folder), which MLflow {mlflow.__version__} may refuse," if folder else
                   "opening the store")
        with self._store(opening):
            self.client = MlflowClient(uri)
        if folder is not None:
            self._check_local(folder, "its folder")
        with self._store("reaching the store", FIRST_REQUEST):
            self.experiment_id = self._experiment_id()
            location = self.client.get_experiment(self.experiment_id).artifact_location
        artifacts = _local_path(location) if location else None
        if artifacts is not None:
            self._check_local(artifacts, f"its artifact folder (experiment {self.experiment!r})")
        atexit.register(self._stopped)

    def _check_local(self, path: Path, what: str) -> None:
        """A `FileError` naming the store where `path` (a folder, or a database file) cannot be written."""
        from vaekit.errors import FileError
        from vaekit.files import check_writable, file_error

        try:
            if path.is_file():
                with open(path, "r+b"):  # opened for writing, not written
                    pass
            else:
                check_writable(path)
        except FileError as e:
            raise FileError(f"{self.where}: {what} cannot be written: {e}") from None
        except OSError as e:
            raise FileError(f"{self.where}: {what} cannot be written: {file_error(e, 'opening', path)}") from None

    @contextlib.contextmanager
    def _store(self, doing: str, limits: dict[str, str] = LATER_REQUESTS, kept: str = "") -> Iterator[None]:
        """MLflow calls, with bounded HTTP waits; whatever fails is one line naming the store, what was done and what
        was `kept`."""
        try:
            with _http_limits(limits):
                yield
        except VaekitError:
            raise
        except Exception as e:  # noqa: BLE001 - MLflow, requests, SQLAlchemy: their errors have no common base
            timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", limits["MLFLOW_HTTP_REQUEST_TIMEOUT"])
            raise VaekitError(f"{self.where}: {doing} failed ({_reason(e, timeout)}); {kept}check that the store is "
                              f"reachable and writable, or use another (--mlflow-uri {MLFLOW_LOCAL_STORE} or a "
                              "server http://host:port)") from None

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        return found.experiment_id if found is not None else self.client.create_experiment(self.experiment)

    def _existing(self, experiment_id: str, key: str) -> str | None:
        if "'" in key:  # cannot be quoted in a filter string: start a new MLflow run
            return None
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`vaekit.run` = '{key}'", max_results=1)
        return runs[0].info.run_id if runs else None

    def on_start(self, config: dict[str, Any]) -> None:
        from mlflow.entities import Param

        with self._store("starting the MLflow run"):
            key = f"{self.run_dir}@{config['created']}" if self.run_dir is not None and "created" in config else None
            self.run_id = self._existing(self.experiment_id, key) if key else None
            if self.run_id is not None:
                self.client.update_run(self.run_id, status="RUNNING")
                return
            tags = {"vaekit.version": __version__}
            if key:
                tags.update({"vaekit.run": key, "vaekit.run_dir": str(self.run_dir)})
            self.run_id = self.client.create_run(self.experiment_id, run_name=self.run_name, tags=tags).info.run_id
            params = [Param(k, v) for k, v in flatten(config).items()]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params per call
                self.client.log_batch(self.run_id, params=params[i : i + 100])

    def _run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("MLflowLogger: on_start was not called")
        return self.run_id

    def on_epoch(self, row: dict[str, Any], model: nn.Module) -> None:
        from mlflow.entities import Metric

        step, now = int(row["epoch"]), _milliseconds()
        metrics = [Metric(k, float(v), now, step) for k, v in row.items()
                   if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)]
        kept = (f"{self.run_dir} keeps epoch {step}: `vaekit train --out {self.run_dir} --resume` continues it; "
                if self.run_dir is not None else "")
        with self._store(f"logging epoch {step}", kept=kept):
            self.client.log_batch(self._run(), metrics=metrics)

    def on_end(self, run_dir: Path | None) -> None:
        with self._store("logging the run's files as artifacts"):
            if run_dir is not None:
                self.client.log_artifacts(self._run(), str(run_dir))
            self.client.set_terminated(self._run(), "FINISHED")
        self.run_id = None

    def _stopped(self) -> None:
        """At exit, a run that did not end normally is marked KILLED rather than left RUNNING."""
        if self.run_id is not None:
            with contextlib.suppress(Exception), _http_limits(FIRST_REQUEST):  # exiting; the store may be gone
                self.client.set_terminated(self.run_id, "KILLED")


def _milliseconds() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class TrackerSettings:
    """What a tracker may be made from: the run directory (None: training keeps none) and the MLflow options."""

    run_dir: Path | None
    mlflow_uri: str | None = None
    mlflow_experiment: str | None = None


#: What `--log` accepts: tracker name -> a function making its logger. A new tracker is one registered function.
TRACKERS: Registry[Callable[[TrackerSettings], Logger]] = Registry("tracker")


@TRACKERS.register("tensorboard")
def _tensorboard(settings: TrackerSettings) -> Logger:
    if settings.run_dir is None:
        raise VaekitError("--log tensorboard writes into the run directory; give one with --out")
    return TensorBoardLogger(settings.run_dir / "tensorboard")


@TRACKERS.register("mlflow")
def _mlflow(settings: TrackerSettings) -> Logger:
    return MLflowLogger(settings.run_dir, settings.mlflow_uri, settings.mlflow_experiment)


def make_loggers(names: Sequence[str], run_dir: Path | None, *, mlflow_uri: str | None = None,
                 mlflow_experiment: str | None = None) -> list[Logger]:
    """The loggers `--log` names (each once, from `TRACKERS`): TensorBoard events in RUN/tensorboard, MLflow as
    `MLflowLogger`."""
    settings = TrackerSettings(run_dir, mlflow_uri, mlflow_experiment)
    for name in names:
        if name not in TRACKERS:
            raise VaekitError(f"--log {name}: not a tracker; choose from {', '.join(TRACKERS.names())}")
    return [TRACKERS[name](settings) for name in dict.fromkeys(names)]


__all__ = ["TRACKERS", "Logger", "MLflowLogger", "TensorBoardLogger", "TrackerSettings", "flatten", "make_loggers",
           "sample_grid"]
