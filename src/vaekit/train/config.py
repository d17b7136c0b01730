"""How to train: optimiser, epochs, seed, preprocessing, device and arithmetic (saved under "train")."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from vaekit.config import MAX_EPOCHS, check, option
from vaekit.data.pipeline import BINARIZE
from vaekit.errors import DataError
from vaekit.limits import AUTO_THREADS_RULE

PRECISIONS = ("fp32", "bf16")
SCHEDULES = ("constant", "cosine", "exponential", "step")
GRADIENTS = ("auto", "derived", "autograd")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass
class TrainConfig:
    """How to train; saved in config.json beside the weights."""

    epochs: int = option(300, "passes over the training split", minimum=1, maximum=MAX_EPOCHS)
    batch_size: int = option(128, "datapoints per gradient step", minimum=1)
    # Semi-supervised runs with few labels (--labelled): the labelled rows would otherwise be seen once an epoch.
    labelled_batch: int = option(0, "where only some training rows are labelled (--labelled): this many labelled rows, "
                                 "drawn in turn, added to every batch (0: none)", minimum=0)
    lr: float = option(1e-3, "Adam learning rate", minimum=0)
    weight_decay: float = option(0.0, "L2 penalty added to every gradient in Adam (torch.optim.Adam's weight_decay; "
                                 "0: off)", minimum=0)
    # A schedule is a function of the training progress alone (epochs, fractional), so resume needs no state.
    lr_schedule: str = option("constant", "learning rate over training: constant, cosine (down to --lr-final by the "
                              "last epoch), exponential (x --lr-decay per epoch) or step (x --lr-decay every "
                              "--lr-step-epochs epochs)", choices=SCHEDULES)
    lr_final: float = option(1e-5, "the cosine schedule's last learning rate", minimum=0,
                             when=("lr_schedule", ("cosine",)))
    lr_decay: float = option(0.99, "the factor of the exponential schedule (per epoch) or of the step schedule "
                             "(per --lr-step-epochs epochs)", minimum=0, maximum=1,
                             when=("lr_schedule", ("exponential", "step")))
    lr_step_epochs: int = option(30, "the step schedule's epochs between two decays", minimum=1, maximum=MAX_EPOCHS,
                                 when=("lr_schedule", ("step",)))
    # Evaluating an exponential moving average of the weights is a cheap, reliable gain in log p(x).
    ema_decay: float = option(0.0, "exponential moving average of the weights, validated and saved (0: off; "
                              "0.999 is typical)", minimum=0, maximum=0.999999)
    patience: int | None = option(None, "stop early when the validation figure has not improved for this many "
                                  "epochs (default: never)", minimum=1, maximum=MAX_EPOCHS)
    # A wall-clock budget for shared machines; the epochs actually run are in metrics.jsonl (rerun with --epochs).
    max_minutes: float | None = option(None, "stop after the epoch during which training has run this many minutes "
                                       "(default: no limit)", minimum=0)
    seed: int = option(0, "seed of initialisation, shuffling and sampling", minimum=0)
    # None = the natural default for the likelihood and data (see vaekit.data.pipeline.Pipeline.resolve).
    binarize: str | None = option(None, "binarize [0,1] data", choices=BINARIZE)
    dequantize: bool | None = option(None, "uniform dequantization of discrete data")
    standardize: bool = option(False, "standardize real-valued data: per-feature mean 0 and standard deviation 1, "
                                      "from the training split (log-densities stay in the data's own units)")
    device: str = option("auto", "cpu, cuda, cuda:N, or auto (cuda when available)")
    # bf16 runs the training step's matrix products in bfloat16 (torch.autocast), weights and optimiser in
    # float32: about 1.2x on CPUs with avx512_bf16 (BENCHMARKS.md). Validation and evaluation stay float32.
    precision: str = option("fp32", "training-step arithmetic", choices=PRECISIONS)
    # derived: the hand-derived gradients of vaekit.train.fast (an MLP VAE with the standard-normal prior and the
    # plain ELBO or the IWAE bound, or the two-layer hierarchy with the plain ELBO), 1.1-1.2x faster steps on CPU;
    # auto uses them wherever they apply.
    gradients: str = option("auto", "training-step gradients: derived by hand (MLP VAE with the plain ELBO or the "
                                    "IWAE bound, MLP hierarchy with the ELBO; faster on CPU), autograd, or auto "
                                    "(derived where it applies)", choices=GRADIENTS)
    # OpenMP threads spin at barriers: on a machine whose cores are taken by other work, two threads can run 10x
    # slower than one (BENCHMARKS.md). "auto" is vaekit.limits.auto_threads' rule, applied when training starts.
    threads: int | str = option("auto", f"CPU threads (torch.set_num_threads), 1 to the cores this process may use, "
                                f"or auto: {AUTO_THREADS_RULE}", minimum=1, auto=True)

    def __post_init__(self) -> None:
        check(self)
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not _DEVICE.fullmatch(self.device):
            raise ValueError(f"device {self.device!r} is not one of cpu, cuda, cuda:N, auto")


def learning_rate(config: TrainConfig, progress: float) -> float:
    """The learning rate at `progress` epochs (fractional) under `config.lr_schedule`."""
    if config.lr_schedule == "cosine":
        done = min(1.0, progress / config.epochs)
        return config.lr_final + (config.lr - config.lr_final) * 0.5 * (1 + math.cos(math.pi * done))
    if config.lr_schedule == "exponential":
        return config.lr * config.lr_decay**progress
    if config.lr_schedule == "step":
        return config.lr * config.lr_decay ** math.floor(progress / config.lr_step_epochs + 1e-9)
    return config.lr


def resolve_device(name: str) -> torch.device:
    """A torch device from `--device` (cpu, cuda, cuda:N, auto), refusing any other (meta, mps, ...) as
    `TrainConfig` does, and CUDA where there is none."""
    if not _DEVICE.fullmatch(name):
        raise DataError(f"--device {name}: not a device vaekit runs on; use cpu, cuda, cuda:N or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    return device
