"""Memory footprints, estimated before anything is allocated: sizes the user asks for that cannot fit are refused
with an estimate (`vaekit.limits.ensure_fits`), not met with an allocation error.

One mechanism for every registered model kind: the model is built on PyTorch's "meta" device (shapes, no memory),
its parameters counted; where some size is large, one step of the objective (or one call of `generate`) runs on meta
tensors and the bytes of every tensor it makes are added up (a step that reads values, as m2's does to find its
labelled rows, cannot: each of its rows is then counted through every weight matrix). A kind that cannot be built on
the meta device is not estimated (the tests build every registered kind and prior there).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vaekit.errors import VaekitError
from vaekit.limits import ensure_fits, tensor_bytes

#: An integer setting at least this large (a width, a number of draws, a batch) makes the estimate run one step
#: on meta tensors; below it the parameters dominate and are counted alone (the dry run costs seconds of imports).
LARGE = 1 << 12
#: Tensors alive at once during a training step, per parameter: weights, gradient, Adam's two moments, the best
#: weights, a moving average, and the checkpoint being serialised.
TRAINING_COPIES = 8
#: Bytes one epoch's row of history takes: the row itself, its JSON in every checkpoint's header and metrics.jsonl.
HISTORY_ROW_BYTES = 8 << 10


def meta_model(kind: str, config: Any, error: type[VaekitError] = VaekitError) -> nn.Module | None:
    """The model of `kind` built on the meta device (no memory), or None where the kind cannot be built there (it
    reads values while it is built). A config that cannot make a model at all is an `error`."""
    from vaekit.models import MODELS

    try:
        with torch.device("meta"):
            return MODELS[kind](config)
    except NotImplementedError:
        return None
    except (RuntimeError, TypeError, ValueError, OverflowError, MemoryError) as e:
        if "meta" in str(e):
            return None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise error(f"invalid model: {first}") from None


def _model_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _row_bytes(model: nn.Module) -> int:
    """A lower bound on the bytes one row makes in a step, for a step that cannot run on meta tensors: the input
    and the output of every weight matrix, in float32."""
    return 4 * sum(p.shape[0] + math.prod(p.shape[1:]) for p in model.parameters() if p.dim() >= 2)


def _large(*configs: Any, extra: tuple[int, ...] = ()) -> bool:
    sizes = list(extra)
    for config in configs:
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            values = value if isinstance(value, (tuple, list)) else (value,)
            sizes += [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return bool(sizes) and max(sizes) >= LARGE


def dry_run_bytes(run: Callable[[], object]) -> int | None:
    """Bytes of every tensor that `run` makes on meta tensors (an upper bound on what it holds at once), or None
    where it cannot run there."""
    from vaekit.distributions import unchecked

    try:
        with unchecked():
            return tensor_bytes(run)
    except (RuntimeError, NotImplementedError, TypeError, ValueError, IndexError):
        return None


def check_model(kind: str, config: Any, what: str, error: type[VaekitError] = VaekitError) -> None:
    """Refuse a model whose weights alone do not fit (before they are allocated)."""
    model = meta_model(kind, config, error)
    if model is not None:
        count = sum(p.numel() for p in model.parameters())
        ensure_fits(_model_bytes(model), f"{what} ({count:.3g} parameters)",
                    "choose smaller sizes (--hidden, --latent-dim, ...)", error)


def check_training(kind: str, config: Any, objective: Any, batch_size: int, num_rows: int, *,
                   labelled_batch: int = 0, epochs: int = 0) -> None:
    """Refuse a training run that cannot fit: TRAINING_COPIES copies of the weights, one step's tensors (counted on
    meta tensors where a size is large) and the float32 view of `num_rows` rows of data; a step's rows are a batch
    and the `labelled_batch` labelled rows added to it, whose indices for a whole epoch are drawn at its start;
    `epochs` rows of history are kept (and written into every checkpoint)."""
    from vaekit.data.batch import Batch

    model = meta_model(kind, config)
    if model is None:
        return
    count = sum(p.numel() for p in model.parameters())
    steps = math.ceil(max(num_rows, 1) / batch_size)
    needed = (TRAINING_COPIES * _model_bytes(model) + 4 * num_rows * math.prod(config.data_shape)
              + 2 * 8 * steps * labelled_batch + HISTORY_ROW_BYTES * epochs)
    what = f"--model {kind} with these sizes ({count:.3g} parameters"
    if _large(config, objective.config, extra=(batch_size, labelled_batch)):
        rows = min(batch_size, max(num_rows, 1)) + labelled_batch
        x = torch.zeros(rows, *config.data_shape, device="meta")
        # Labels where the kind models classes, row indices where it keeps parameters per training row.
        y = torch.zeros(rows, dtype=torch.int64, device="meta") if hasattr(config, "num_classes") else None
        index = torch.arange(rows, device="meta") if hasattr(config, "num_rows") else None
        step = dry_run_bytes(lambda: objective(model, Batch(x, y, index), 0.0))
        if step is None:  # the step reads values (m2's labelled rows): count each row through every weight matrix
            step = rows * _row_bytes(model)
        needed += 2 * step  # the backward pass keeps about as much again
        what += f", {rows} rows a step"
    ensure_fits(needed, what + ")", "choose smaller sizes (--hidden, --latent-dim, --batch-size, --labelled-batch, "
                                    "--num-samples, ...)")


def check_sampling(kind: str, config: Any, n: int, what: str) -> None:
    """Refuse drawing `n` samples that cannot fit (counted on meta tensors when n is large)."""
    from vaekit.models import generate

    rows = n * 4 * math.prod(config.data_shape) * 3  # the samples, their picture and a copy
    ensure_fits(rows, what, "ask for fewer")
    if n >= LARGE:
        model = meta_model(kind, config)
        step = dry_run_bytes(lambda: generate(model, n, mean=True)) if model is not None else None
        if step is not None:
            ensure_fits(step, what, "ask for fewer")


__all__ = ["LARGE", "check_model", "check_sampling", "check_training", "dry_run_bytes", "meta_model"]
