"""Array transforms: what the readers' arrays become (examples, labels, value encoding) and how stored
values become what a likelihood consumes.

Value encoding ("levels"): data with a small set of integer values is kept as uint8 together with
`levels`, the number of values each dimension can take (2 = binary, 17 = sklearn digits, 256 = 8-bit);
real-valued data is float32 with `levels=None`. `encode` chooses the encoding, `as_examples` and `as_labels`
shape examples and labels; `to_unit`, `binarize` and `dequantize` turn stored values into what a likelihood
consumes.
"""

from __future__ import annotations

import numpy as np
import torch

from vaekit.errors import DataError

# ----------------------------------------------------------------------------------- arrays -> values


def encode(arrays: list[np.ndarray], names: list[str]) -> tuple[list[np.ndarray], int | None]:
    """Apply the dtype rules jointly to arrays of one dataset (e.g. its pre-made splits), named for messages.

    bool, or integers / floats that are all 0 or 1 -> uint8, levels 2; integers all in 0..255 -> uint8,
    levels 256; other numbers -> float32, levels None. NaN/inf or non-numeric arrays raise DataError.
    """
    kinds = {a.dtype.kind for a in arrays}
    if not kinds <= {"b", "i", "u", "f"}:
        i = next(i for i, a in enumerate(arrays) if a.dtype.kind not in "biuf")
        raise DataError(f"{names[i]}: unsupported element type {arrays[i].dtype}; save numbers (integers or floats)")
    nonempty = [a for a in arrays if a.size]
    if kinds == {"b"}:
        return [a.astype(np.uint8) for a in arrays], 2
    if kinds <= {"b", "i", "u"}:
        lo = min(int(a.min()) for a in nonempty) if nonempty else 0
        hi = max(int(a.max()) for a in nonempty) if nonempty else 0
        if 0 <= lo and hi <= 255:
            return [a.astype(np.uint8) for a in arrays], 2 if hi <= 1 else 256
        return [a.astype(np.float32) for a in arrays], None
    for a, name in zip(arrays, names):
        finite = np.isfinite(a)
        if not finite.all():
            row = int(np.argwhere(~finite)[0][0])
            raise DataError(f"{name}: NaN or infinite values (first in row {row}, counting from 0); remove or fill them in")
    if all(np.all((a == 0) | (a == 1)) for a in nonempty):
        return [a.astype(np.uint8) for a in arrays], 2
    biggest = max((float(np.abs(a).max()) for a in nonempty), default=0.0)
    if biggest > float(np.finfo(np.float32).max):
        raise DataError(f"{names[0]}: values up to {biggest:.3g} do not fit float32; rescale the data")
    return [a.astype(np.float32) for a in arrays], None


def as_examples(x: np.ndarray, what: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Reshape an array of examples to [N, *data_shape] and name its data shape.

    [N] -> (1,); [N, D] -> (D,); [N, H, W] -> (1, H, W); [N, C, H, W] with C in (1, 3) -> (C, H, W);
    channels-last [N, H, W, C] with C in (1, 3) is transposed to channels-first.
    """
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"{what}: no examples (array shape {list(x.shape)}); expected an array [N, ...] with N > 0")
    if x.ndim == 1:
        return x.reshape(-1, 1), (1,)
    if x.ndim == 2:
        return x, (x.shape[1],)
    if x.ndim == 3:
        return x[:, None], (1, x.shape[1], x.shape[2])
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x, tuple(x.shape[1:])
    if x.ndim == 4 and x.shape[3] in (1, 3):
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x, tuple(x.shape[1:])
    raise DataError(
        f"{what}: cannot read array shape {list(x.shape)} as examples; expected [N, D] (table), [N, H, W] "
        "(grey images) or [N, C, H, W] with C = 1 or 3"
    )


#: Class labels are class indices 0..K-1; more classes than this is taken for a mistake (a column of ids).
MAX_CLASSES = 1000


def as_labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    """Labels as int64 [n]: class indices 0..K-1 (integers, integral floats), or strings numbered in sorted order.

    One label per example; negative labels (vaekit marks unlabelled rows with -1 itself) and K > `MAX_CLASSES`
    are refused with a one-line `DataError`.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{what}: labels have shape {list(y.shape)} but there are {n} examples; save one label per example")
    if y.dtype.kind in "US":
        return np.unique(y, return_inverse=True)[1].astype(np.int64)
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and np.all(y == np.round(y))):
        bad = int(np.argwhere(~np.isfinite(y) | (y != np.round(y)))[0][0])
        raise DataError(f"{what}: labels must be integer classes; row {bad} (counting from 0) holds {y[bad]!r}; "
                        "save integer labels 0..K-1")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{what}: labels must be integers or class names, got {y.dtype} values; save integer labels")
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        bad = int(np.argmax(labels < 0))
        raise DataError(f"{what}: labels must be classes 0..K-1; row {bad} (counting from 0) holds {labels[bad]}; "
                        "renumber the classes from 0")
    if labels.size and labels.max() >= MAX_CLASSES:
        raise DataError(f"{what}: a label of {labels.max()} means more than {MAX_CLASSES} classes; labels must "
                        "number the classes 0..K-1 (is this an id column?)")
    return labels


# --------------------------------------------------------------------------------- value transforms


def to_unit(x: torch.Tensor, levels: int | None) -> torch.Tensor:
    """Stored values -> float32 in [0, 1]: x / (levels - 1). Real-valued data (levels None) only becomes float32.

    Shapes are unchanged ([B, *data_shape] -> same).
    """
    if levels is None:
        return x.to(torch.float32)
    if levels < 2:
        raise DataError(f"levels must be at least 2 to scale data to [0, 1], got {levels}")
    return x.to(torch.float32) / (levels - 1)


def binarize(x_unit: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One Bernoulli draw per dimension with probability `x_unit` (in [0, 1]): float32 0/1, same shape.

    Dynamic binarization draws afresh every batch; pass a seeded generator for reproducible draws.
    """
    return torch.bernoulli(x_unit.to(torch.float32), generator=generator)


def dequantize(
    x: torch.Tensor, levels: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Uniform dequantization: (x + u) / levels with u ~ U[0, 1), in [0, 1), same shape, of `dtype`.

    `x` holds integers in 0..levels-1 (the stored uint8 data). A density on the result, minus
    log(levels) per dimension, bounds the discrete log-likelihood (Theis et al. 2016).
    """
    u = torch.rand(x.shape, generator=generator, dtype=dtype, device=x.device)
    # (levels - 1 + u) / levels can round up to exactly 1 in floating point; keep the interval half-open.
    below_one = torch.nextafter(torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype)).item()
    return ((x.to(dtype) + u) / levels).clamp_(max=below_one)
