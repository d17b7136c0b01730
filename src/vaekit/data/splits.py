"""`Splits`, one dataset in memory split into train / valid / test, and the seeded split that makes them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from vaekit.data.batch import UNLABELLED
from vaekit.errors import DataError

SPLITS = ("train", "valid", "test")
TEST_FRACTION = 0.2  # of all examples, for data without an official test split
VALID_FRACTION = 0.1  # of what remains after the test split
MIN_EXAMPLES = 10  # fewer cannot give a train, a validation and a test example that mean anything


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no truth value, so field-wise == is meaningless
class Splits:
    """One dataset in memory, split into train / valid / test.

    x_*: [N, *data_shape], uint8 holding 0..levels-1 when `levels` is not None, else float32.
    y_*: int64 labels [N] (classes 0..K-1), or None when the data has no labels; in y_train, `UNLABELLED` (-1)
    marks the rows whose label `keep_labels` dropped (semi-supervised training).
    """

    name: str  # "digits", "fashion-mnist", ... or the user's path
    source: str  # where it was loaded from: a path, or "scikit-learn bundled"
    x_train: torch.Tensor
    x_valid: torch.Tensor
    x_test: torch.Tensor
    y_train: torch.Tensor | None
    y_valid: torch.Tensor | None
    y_test: torch.Tensor | None
    levels: int | None  # values per dimension: 2 binary, 17 sklearn digits, 256 8-bit; None real-valued
    data_shape: tuple[int, ...]  # (C, H, W) for images, (D,) for tables

    def __post_init__(self) -> None:
        for split in SPLITS:
            x, y = self.split(split)
            if tuple(x.shape[1:]) != tuple(self.data_shape):
                raise ValueError(f"x_{split} has shape {list(x.shape)}, expected [N, *{list(self.data_shape)}]")
            if y is not None and tuple(y.shape) != (x.shape[0],):
                raise ValueError(f"y_{split} has shape {list(y.shape)}, expected [{x.shape[0]}]")
            if y is not None and (y.dtype != torch.int64 or (y.numel() and int(y.min()) < UNLABELLED)):
                raise ValueError(f"y_{split} must hold int64 classes 0..K-1 (or {UNLABELLED}: unlabelled)")

    @property
    def num_classes(self) -> int | None:
        """K, one more than the largest label of any split; None for data without labels."""
        labels = [y for y in (self.y_train, self.y_valid, self.y_test) if y is not None and y.numel()]
        return max(int(y.max()) for y in labels) + 1 if labels else None

    @property
    def labelled(self) -> int | None:
        """Training rows that carry a label (fewer than all under `--labelled`); None without labels."""
        return None if self.y_train is None else int((self.y_train != UNLABELLED).sum())

    @property
    def is_image(self) -> bool:
        """True for (C, H, W) data."""
        return len(self.data_shape) == 3

    def sizes(self) -> dict[str, int]:
        """Examples per split: {"train": ..., "valid": ..., "test": ...}."""
        return {split: int(self.split(split)[0].shape[0]) for split in SPLITS}

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x, y) of one split by name: "train", "valid" or "test"."""
        if which not in SPLITS:
            raise DataError(f"unknown split {which!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")


# ------------------------------------------------------------------------------------------- splits


def split_indices(n: int, seed: int, what: str = "data") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed seeded split of n examples: test 20%, valid 10% of the rest (at least 1 each), rest train.

    Returns sorted int64 index arrays (train, valid, test); the same (n, seed) always gives the same split.
    `what` names the data in the error raised for fewer than MIN_EXAMPLES examples.
    """
    if n < MIN_EXAMPLES:
        raise DataError(f"{what}: only {n} examples; need at least {MIN_EXAMPLES} to split into train, valid and test")
    n_test = max(1, round(TEST_FRACTION * n))
    n_valid = max(1, round(VALID_FRACTION * (n - n_test)))
    order = np.random.default_rng(seed).permutation(n)
    test, valid, train = order[:n_test], order[n_test : n_test + n_valid], order[n_test + n_valid :]
    return np.sort(train), np.sort(valid), np.sort(test)


def _tensor(a: np.ndarray) -> torch.Tensor:
    # from_numpy shares memory and warns on read-only arrays, so copy those (and non-contiguous views).
    if not a.flags.writeable or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a).copy()
    return torch.from_numpy(a)


def _labels(y: np.ndarray | None) -> torch.Tensor | None:
    return None if y is None else _tensor(y.astype(np.int64, copy=False))


def _make(
    name: str,
    source: str,
    xs: Mapping[str, np.ndarray],
    ys: Mapping[str, np.ndarray | None],
    levels: int | None,
    data_shape: tuple[int, ...],
) -> Splits:
    return Splits(
        name=name,
        source=source,
        x_train=_tensor(xs["train"]),
        x_valid=_tensor(xs["valid"]),
        x_test=_tensor(xs["test"]),
        y_train=_labels(ys["train"]),
        y_valid=_labels(ys["valid"]),
        y_test=_labels(ys["test"]),
        levels=levels,
        data_shape=tuple(int(d) for d in data_shape),
    )


def _split_all(x: np.ndarray, y: np.ndarray | None, seed: int, what: str) -> tuple[dict, dict]:
    train, valid, test = split_indices(x.shape[0], seed, what)
    parts = {"train": train, "valid": valid, "test": test}
    return {k: x[i] for k, i in parts.items()}, {k: (None if y is None else y[i]) for k, i in parts.items()}


def keep_labels(splits: Splits, n: int, seed: int) -> Splits:
    """`splits` with only `n` training labels kept, balanced across classes; the other training rows get the label
    `UNLABELLED`. Validation and test keep every label.

    Each of the K classes present in y_train keeps n // K labels, and n % K classes (chosen with the seed) one more;
    the rows of each class are chosen uniformly at random with `seed` (numpy's default generator), so the same
    (data, n, seed) always keeps the same rows.
    """
    what = f"--labelled {n}"
    if splits.y_train is None:
        raise DataError(f"{what}: {splits.name} has no labels; give labelled data (see `vaekit datasets`) or leave "
                        "--labelled out")
    y = splits.y_train.numpy()
    classes = np.unique(y[y != UNLABELLED])
    if n >= len(y):
        raise DataError(f"{what}: the training split has only {len(y)} rows; keep fewer labels, or leave --labelled "
                        "out to keep them all")
    if n < len(classes):
        raise DataError(f"{what}: fewer labels than the {len(classes)} classes; keep at least one per class")
    rng = np.random.default_rng(seed)
    shares = np.full(len(classes), n // len(classes))
    shares[rng.permutation(len(classes))[: n % len(classes)]] += 1
    kept = np.full_like(y, UNLABELLED)
    for c, share in zip(classes, shares):
        rows = np.flatnonzero(y == c)
        if len(rows) < share:
            raise DataError(f"{what}: class {c} has only {len(rows)} training rows, fewer than its share of {share}; "
                            "keep fewer labels")
        chosen = rng.choice(rows, size=share, replace=False)
        kept[chosen] = c
    return dataclasses.replace(splits, y_train=torch.from_numpy(kept))
