"""The training loop: minibatch stochastic gradient ascent on the ELBO, with validation, best-weight keeping,
exact resume, atomic run directories and data-parallel training across processes (`vaekit.distributed`).

Batches are slices of one resident tensor (no per-item Python), the optimiser step is fused, and the loop never
synchronises with the host inside an epoch except to refresh the progress bar.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaekit import __version__, distributed
from vaekit import checkpoint as ckpt
from vaekit.bounds import elbo
from vaekit.data import Splits
from vaekit.errors import DataError, RunError, VaekitError
from vaekit.evaluate import summarize
from vaekit.gradients import applies, step_gradients
from vaekit.likelihoods import unchecked
from vaekit.model import VAE, check_support
from vaekit.pipeline import BINARIZE, Pipeline


@dataclass
class DataConfig:
    """Which data, split how; enough to load the same splits again."""

    data: str = field(default="digits", metadata={"help": "dataset name (see `vaekit datasets`) or a file/folder path"})
    # Fixed apart from the training seed, so that runs with different seeds see the same splits.
    split_seed: int = field(default=0, metadata={"help": "seed of the train/validation/test split"})
    image_size: tuple[int, ...] | None = field(default=None, metadata={"help": "resize images in a folder to H W"})

    def __post_init__(self) -> None:
        if self.image_size is not None:
            self.image_size = tuple(int(s) for s in self.image_size)


PRECISIONS = ("fp32", "bf16")
GRADIENTS = ("auto", "derived", "autograd")


@dataclass
class TrainConfig:
    """How to train; saved in config.json beside the weights."""

    epochs: int = field(default=300, metadata={"help": "passes over the training split"})
    batch_size: int = field(default=128, metadata={"help": "datapoints per gradient step"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, shuffling and sampling"})
    # None = the natural default for the likelihood and data (see vaekit.pipeline.Pipeline.resolve).
    binarize: str | None = field(default=None, metadata={"help": "binarize [0,1] data", "choices": BINARIZE})
    dequantize: bool | None = field(default=None, metadata={"help": "uniform dequantization of discrete data"})
    num_samples: int = field(default=1, metadata={"help": "samples of z per datapoint in the training ELBO"})
    # The analytic KL has lower variance; the Monte-Carlo form is there for priors without a closed form.
    analytic_kl: bool = field(default=True, metadata={"help": "closed-form KL(q || p) in the ELBO"})
    device: str = field(default="auto", metadata={"help": "cpu, cuda, cuda:N, or auto (cuda when available)"})
    # bf16 runs the training step's matrix products in bfloat16 (torch.autocast), weights and optimiser in
    # float32: about 1.2x on CPUs with avx512_bf16 (BENCHMARKS.md). Validation and evaluation stay float32.
    precision: str = field(default="fp32", metadata={"help": "training-step arithmetic", "choices": PRECISIONS})
    # derived: the hand-derived gradients of vaekit.gradients (MLP networks, Bernoulli or Gaussian likelihoods,
    # one sample, analytic KL, fp32), about 1.1x faster steps on CPU; auto uses them wherever they apply.
    gradients: str = field(default="auto", metadata={
        "help": "training-step gradients: derived by hand (MLP nets, bernoulli/gaussian likelihoods; faster on "
                "CPU), autograd, or auto (derived where it applies)", "choices": GRADIENTS})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.gradients not in GRADIENTS:
            raise ValueError(f"gradients must be one of {', '.join(GRADIENTS)}, got {self.gradients!r}")


@dataclass
class FitResult:
    """What `fit` returns. The model is left holding the weights of `best_epoch`."""

    history: list[dict]          # one row per epoch, as in metrics.jsonl
    best_epoch: int
    best_valid_elbo: float       # nats per datapoint
    pipeline: Pipeline
    run_dir: Path | None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DataError(f"--device {name!r} is not a device; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return device


def pipeline_for(model: VAE, splits: Splits, config: TrainConfig) -> Pipeline:
    """The preprocessing `fit` uses for this model, data and config (also used to evaluate a saved run)."""
    if tuple(splits.data_shape) != model.data_shape:
        raise DataError(f"{splits.name}: data shape {splits.data_shape} does not match the model's {model.data_shape}")
    pipeline = Pipeline.resolve(
        splits.name, model.config.likelihood, splits.levels,
        binarize=config.binarize, dequantize=config.dequantize, seed=config.seed,
    )
    if model.config.likelihood == "continuous-bernoulli" and splits.levels is None:
        low, high = float(splits.x_train.min()), float(splits.x_train.max())
        if low < 0 or high > 1:
            raise DataError(
                f"{splits.name}: continuous-bernoulli needs data in [0, 1], this data spans [{low:g}, {high:g}]; "
                "rescale it or use --likelihood gaussian"
            )
    return pipeline


def _objective(model: VAE, x: torch.Tensor, num_samples: int, analytic_kl: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss -mean ELBO, and the batch's sums of (elbo, reconstruction, kl) for the epoch's means."""
    terms = elbo(model, x, num_samples, analytic_kl)
    sums = torch.stack([terms.elbo.sum(), terms.reconstruction.sum(), terms.kl.sum()]).detach()
    return -terms.elbo.mean(), sums


def _state_tensors(model: VAE, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> tuple[dict, dict]:
    optim_tensors, optim_meta = ckpt.optimizer_to_tensors(optimizer)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.data"] = generator.get_state()
    if generator.device.type == "cuda":  # z ~ q(z|x) is drawn on the GPU there
        tensors["rng.cuda"] = torch.cuda.get_rng_state(generator.device)
    return tensors, optim_meta


def _restore(run_dir: Path, model: VAE, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict:
    """Load the training state of an interrupted run into model, optimizer and RNGs; return state.json."""
    meta = ckpt.read_json(run_dir / ckpt.STATE_JSON)
    tensors = ckpt.load_tensors(run_dir / ckpt.STATE)
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer.load_state_dict(ckpt.optimizer_from_tensors(tensors, meta["optimizer"]))
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.data"])
        if "rng.cuda" in tensors and generator.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], generator.device)
    except (RuntimeError, KeyError, ValueError) as e:
        first = str(e).strip().splitlines()[0]
        raise RunError(f"{run_dir / ckpt.STATE}: does not match {run_dir / ckpt.CONFIG} ({first}); train the run again") from None
    return meta


def fit(
    model: VAE,
    splits: Splits,
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    data_config: DataConfig | None = None,
    command: list[str] | None = None,
    progress: bool = False,
) -> FitResult:
    """Train `model` on `splits.x_train` by maximising the ELBO with Adam; validate every epoch.

    Args:
        model: the VAE to train (moved to `config.device`).
        splits: the data, as loaded by `vaekit.data.load`.
        config: optimiser, epochs, seed, preprocessing.
        run_dir: where to write config.json, model.safetensors (best validation ELBO), the resumable state and
            metrics.jsonl after every epoch; None trains in memory only. A non-empty directory is refused unless
            `resume` is set.
        resume: continue the run in `run_dir` from its last completed epoch up to `config.epochs`; on CPU with the
            same seed this ends with the same weights as an uninterrupted run.
        data_config: recorded in config.json so that the run's data can be loaded again.
        command: the command line, recorded in config.json.
        progress: show a progress bar on stderr.

    `fit` turns on `torch.set_flush_denormal(True)` for the process (denormals slow CPU arithmetic).

    In an initialised `torch.distributed` group (`torchrun`, see `vaekit.distributed`) every process trains on
    its share of each global batch of `config.batch_size` rows and the gradients are averaged, so a step is the
    single-process step; rank 0 validates, writes the run directory and shows the progress bar.

    Returns:
        `FitResult`; `history` rows hold nats per datapoint (`*_elbo`, `*_reconstruction`, `*_kl`), seconds and
        images per second.

    Example:
        >>> splits = vaekit.data.load("digits")
        >>> model = VAE(ModelConfig(data_shape=splits.data_shape))
        >>> result = fit(model, splits, TrainConfig(epochs=50))
    """
    group = distributed.current()
    device = resolve_device(config.device)
    if device.type == "cuda":
        if group.world > 1 and device.index is None:
            device = torch.device("cuda", group.local_rank)  # one GPU per process
        if (device.index or 0) >= torch.cuda.device_count():
            raise DataError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s); start at most "
                            "that many processes per machine, or use --device cpu")
        torch.cuda.set_device(device)
    pipeline = pipeline_for(model, splits, config)
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    model.to(device)
    distributed.broadcast_parameters(model, group)
    x_train = splits.x_train.to(device)
    # Deterministic pipelines are applied once, on the CPU so that every device sees the same draws;
    # stochastic ones draw fresh noise for every batch.
    train_view = None if pipeline.stochastic else pipeline.fixed(splits.x_train, "train").to(device)
    x_valid = pipeline.fixed(splits.x_valid, "valid").to(device)
    n = x_train.shape[0]
    steps = math.ceil(n / config.batch_size)
    # Check the data against the likelihood's support once, so the loop can run unchecked.
    sample_view = pipeline.fresh(x_train[:256], torch.Generator(device=device).manual_seed(0))
    for name, view in (("train", train_view if train_view is not None else sample_view), ("validation", x_valid)):
        check_support(model, view, f"{splits.name} ({name} split)")
    why_not = applies(model, config.num_samples, config.analytic_kl, config.precision)
    if config.gradients == "derived" and why_not is not None:
        raise VaekitError(f"--gradients derived does not apply here: {why_not}; use --gradients auto")
    derived = config.gradients != "autograd" and why_not is None
    # Fused Adam runs the whole update as one kernel per parameter group (CPU and CUDA since torch 2.4).
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)
    history: list[dict] = []
    best_epoch, best_valid, best_weights = 0, -math.inf, None
    run_path = Path(run_dir) if run_dir is not None else None
    writes = run_path is not None and group.is_main  # one process writes the run directory
    failure: VaekitError | None = None
    if run_path is not None and resume:
        meta = _restore(run_path, model, optimizer, generator)
        history, best_epoch, best_valid = meta["history"], meta["best_epoch"], meta["best_valid_elbo"]
        best_weights = ckpt.load_tensors(run_path / ckpt.WEIGHTS)
        saved = ckpt.read_json(run_path / ckpt.CONFIG)
        if writes and saved.get("train") != dataclasses.asdict(config):  # --epochs or --device changed: record it
            ckpt.write_json(run_path / ckpt.CONFIG, {**saved, "train": dataclasses.asdict(config)})
    elif writes:
        try:
            ckpt.new_run_dir(run_path)
            ckpt.write_json(run_path / ckpt.CONFIG, {
                "vaekit_version": __version__,
                "torch_version": torch.__version__,
                "command": command,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "model": dataclasses.asdict(model.config),
                "data": dataclasses.asdict(data_config or DataConfig(data=splits.name)),
                "train": dataclasses.asdict(config),
                "pipeline": dataclasses.asdict(pipeline),
                "dataset": {"name": splits.name, "source": splits.source, "levels": splits.levels,
                            "data_shape": list(splits.data_shape), "splits": splits.sizes()},
                "processes": group.world,
            })
        except VaekitError as e:  # the other processes must hear of it, or they would wait for rank 0
            failure = e
    if not distributed.all_ok(failure is None, group, device):
        raise failure or RunError(f"{run_path}: the main process (rank 0) could not start this run; see its message")
    if group.rank > 0:  # every other process draws its own z (rank 0 keeps the single-process stream)
        torch.manual_seed(config.seed + 7919 * group.rank + len(history))

    start = len(history) + 1
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    torch.set_flush_denormal(True)  # denormal floats in late training slow CPU matrix products several-fold
    params = [p for p in model.parameters() if p.requires_grad]
    with unchecked(), _progress(progress and group.is_main and start <= config.epochs, config.epochs, steps) as bar:
        for epoch in range(start, config.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            totals = torch.zeros(3, device=device)  # this process's sums of (elbo, reconstruction, kl)
            seen = 0  # rows of those sums
            order = torch.randperm(n, generator=generator, device=device)
            for step in range(steps):
                index = order[step * config.batch_size : (step + 1) * config.batch_size]
                # Every process draws the whole global batch's noise, so that the data generator stays in step.
                xb = distributed.share(
                    train_view[index] if train_view is not None else pipeline.fresh(x_train[index], generator), group
                )
                if xb.shape[0] == 0:  # a last global batch with fewer rows than processes: average_gradients
                    sums = torch.zeros(3, device=device)  # sends zeros for this process
                    optimizer.zero_grad(set_to_none=True)
                elif derived:
                    sums = step_gradients(model, xb)
                else:
                    with autocast:
                        loss, sums = _objective(model, xb, config.num_samples, config.analytic_kl)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                distributed.average_gradients(params, xb.shape[0], index.shape[0], group)
                optimizer.step()
                totals += sums
                seen += xb.shape[0]
                if bar is not None and (step % 20 == 0 or step == steps - 1):
                    rows = min(n, (step + 1) * config.batch_size)
                    bar.step(epoch, step + 1, totals / seen, rows / (time.perf_counter() - t0))
            train_seconds = time.perf_counter() - t0
            model.eval()
            # Rank 0 validates; the others take its figures, so that every process keeps the same best epoch.
            valid = summarize(model, x_valid, analytic_kl=config.analytic_kl) if group.is_main else None
            valid_figures = distributed.from_main(torch.tensor(
                [valid.elbo, valid.reconstruction, valid.kl, valid.active_units] if valid else [0.0] * 4,
                dtype=torch.float64, device=device), group).tolist()
            epoch_seconds = time.perf_counter() - t0
            train_means = (distributed.all_sum(totals, group).double() / n).tolist()
            row = {
                "epoch": epoch,
                "train_elbo_nats": train_means[0],
                "train_reconstruction_nats": train_means[1],
                "train_kl_nats": train_means[2],
                "valid_elbo_nats": valid_figures[0],
                "valid_reconstruction_nats": valid_figures[1],
                "valid_kl_nats": valid_figures[2],
                "valid_active_units": int(valid_figures[3]),
                "train_seconds": train_seconds,
                "epoch_seconds": epoch_seconds,
                "images_per_second": n / epoch_seconds,
            }
            history.append(row)
            if not math.isfinite(row["train_elbo_nats"]):
                kept = f"; {run_path} keeps epoch {epoch - 1}" if run_path else ""
                raise RunError(f"training diverged at epoch {epoch} (ELBO is {row['train_elbo_nats']}){kept}; "
                               "train again with a lower --lr")
            if row["valid_elbo_nats"] > best_valid:
                best_epoch, best_valid = epoch, row["valid_elbo_nats"]
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if writes:
                    ckpt.save_tensors(run_path / ckpt.WEIGHTS, best_weights)
            if writes:
                tensors, optim_meta = _state_tensors(model, optimizer, generator)
                ckpt.save_tensors(run_path / ckpt.STATE, tensors)
                ckpt.write_json(run_path / ckpt.STATE_JSON, {
                    "epoch": epoch, "best_epoch": best_epoch, "best_valid_elbo": best_valid,
                    "optimizer": optim_meta, "history": history,
                })
                ckpt.write_metrics(run_path / ckpt.METRICS, history)
            if bar is not None:
                bar.epoch_done(epoch, row)
    if best_weights is not None:
        model.load_state_dict(best_weights)
    return FitResult(history=history, best_epoch=best_epoch, best_valid_elbo=best_valid, pipeline=pipeline, run_dir=run_path)


@contextmanager
def _progress(wanted: bool, epochs: int, steps: int) -> Iterator[_Progress | None]:
    bar = _Progress(epochs, steps) if wanted else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


class _Progress:
    """A rich progress bar on stderr: epochs, and steps of the current epoch with running ELBO, KL and speed."""

    def __init__(self, epochs: int, steps: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=Console(file=sys.stderr), transient=False,
        )
        self.epochs = self.progress.add_task("epochs", total=epochs, info="")
        self.steps = self.progress.add_task("steps ", total=steps, info="")
        self.progress.start()

    def step(self, epoch: int, done: int, means: torch.Tensor, images_per_second: float) -> None:
        elbo_, _, kl = means.tolist()
        self.progress.update(self.steps, completed=done, description=f"epoch {epoch}",
                             info=f"ELBO {elbo_:.2f} nats  KL {kl:.2f} nats  {images_per_second:,.0f} images/s")

    def epoch_done(self, epoch: int, row: dict) -> None:
        self.progress.update(self.epochs, completed=epoch, info=(
            f"valid ELBO {row['valid_elbo_nats']:.2f} nats  {row['images_per_second']:,.0f} images/s"
        ))

    def close(self) -> None:
        self.progress.stop()
