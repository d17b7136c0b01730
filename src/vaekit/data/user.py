"""User files as `Splits`: .npy, .npz (one array, or pre-split x_train / x_valid / x_test), .csv (`FORMATS`, by
suffix), image folders.

Data without its own splits is split with `split_indices` (seeded); pre-split archives keep theirs. The
named datasets (`named.DATASETS`, read through its module) appear here only in an error message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.config import suggest
from vaekit.data import named, readers, transforms
from vaekit.data.splits import SPLITS, VALID_FRACTION, Splits, _make, _split_all
from vaekit.errors import DataError

#: What a user file's reader gives: (x, y or None, None), or (None, None, (xs, ys)) for pre-split data.
Arrays = tuple[Any, Any, Any]


def _npy(path: Path, shown: str, seed: int, label_column: str | None) -> Arrays:
    return readers.read_npy(path), None, None


def _npz(path: Path, shown: str, seed: int, label_column: str | None) -> Arrays:
    return _npz_arrays(path, shown, seed)


def _csv(path: Path, shown: str, seed: int, label_column: str | None) -> Arrays:
    x = readers.read_csv(path)
    return (*_label_column(path, shown, x, label_column), None) if label_column is not None else (x, None, None)


@dataclass(frozen=True)
class UserFormat:
    """How one type of user file is read: `read(path, shown, seed, label_column)` -> `Arrays`."""

    read: Callable[[Path, str, int, str | None], Arrays]
    label_column: bool = False  # its labels may be one of its columns, named by --label-column


#: User files by suffix (lower case); a folder is read as images (`readers.read_image_folder`).
FORMATS = {".npy": UserFormat(_npy), ".npz": UserFormat(_npz), ".csv": UserFormat(_csv, label_column=True)}


def _or(names: list[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def takes_label_column(path: Path) -> bool:
    """Whether the user file at `path` may name its label column (--label-column)."""
    form = FORMATS.get(path.suffix.lower())
    return form is not None and form.label_column


def _load_user(path: Path, shown: str, seed: int, image_size: tuple[int, int] | None,
               label_column: str | None = None) -> Splits:
    if path.is_dir():
        x, y, _classes = readers.read_image_folder(path, image_size)
        xs, ys = _split_all(x, y, seed, shown)
        return _make(shown, str(path), xs, ys, 256, tuple(x.shape[1:]))
    form = FORMATS.get(path.suffix.lower())
    if form is None:
        raise DataError(
            f"{shown}: unsupported file type {path.suffix or '(none)'}; give a {_or(list(FORMATS))} file, "
            f"a folder of images, or a dataset name ({', '.join(named.DATASETS)})"
        )
    x, y, presplit = form.read(path, shown, seed, label_column)

    if presplit is None:
        x, data_shape = transforms.as_examples(x, shown)
        y = None if y is None else transforms.as_labels(y, x.shape[0], shown)
        (x,), levels = transforms.encode([x], [shown])  # before splitting, so messages give the file's row numbers
        xs, ys = _split_all(x, y, seed, shown)
    else:
        xs, ys = presplit
        data_shape = None
        for split in SPLITS:
            xs[split], shape = transforms.as_examples(xs[split], f"{shown} (x_{split})")
            if data_shape is not None and shape != data_shape:
                raise DataError(
                    f"{shown}: x_{split} has examples of shape {list(shape)} but x_train has {list(data_shape)}; "
                    "all splits need the same example shape"
                )
            data_shape = shape
            if ys[split] is not None:
                ys[split] = transforms.as_labels(ys[split], xs[split].shape[0], f"{shown} (y_{split})")
        if sum(y is None for y in ys.values()) not in (0, len(SPLITS)):
            raise DataError(f"{shown}: labels for some splits only; save y_train, y_valid and y_test, or none of them")
        # One encoding for all splits: levels must agree (a 2 in x_test makes the data 8-bit, not binary).
        encoded, levels = transforms.encode([xs[s] for s in SPLITS], [f"{shown} (x_{s})" for s in SPLITS])
        xs = dict(zip(SPLITS, encoded))
    assert data_shape is not None  # the example shape, of x or of every split
    if image_size is not None and (len(data_shape) != 3 or tuple(data_shape[1:]) != tuple(image_size)):
        raise DataError(f"{shown}: --image-size applies to image folders only; resize the arrays before saving them")
    return _make(shown, str(path), xs, ys, levels, data_shape)


def _npz_arrays(path: Path, shown: str, seed: int):
    """(x, y, None) for a single array (+ labels), or (None, None, (xs, ys)) for pre-split keys.

    Pre-split archives need x_train and x_test; without x_valid, 10% of x_train (seeded) becomes it.
    """
    arrays = readers.read_npz(path)
    if "x_train" in arrays or "x_test" in arrays or "x_valid" in arrays:
        missing = [k for k in ("x_train", "x_test") if k not in arrays]
        if missing:
            raise DataError(f"{shown}: pre-split archive lacks {', '.join(missing)}; save x_train, x_valid and x_test")
        xs = {s: arrays.get(f"x_{s}") for s in SPLITS}
        ys = {s: arrays.get(f"y_{s}") for s in SPLITS}
        if xs["valid"] is None:
            x_tr = xs["train"]
            assert x_tr is not None  # checked above: a pre-split archive has x_train
            n = x_tr.shape[0] if x_tr.ndim else 0
            if n < 2:
                raise DataError(f"{shown}: x_train holds {n} examples, too few to hold out a validation split; save x_valid")
            order = np.random.default_rng(seed).permutation(n)
            n_valid = max(1, round(VALID_FRACTION * n))
            valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
            y_tr = ys["train"]
            xs["train"], xs["valid"] = x_tr[train], x_tr[valid]
            if y_tr is not None:
                if y_tr.shape[:1] != (n,):
                    raise DataError(f"{shown}: y_train has shape {list(y_tr.shape)} but x_train holds {n} examples")
                ys["train"], ys["valid"] = y_tr[train], y_tr[valid]
        return None, None, (xs, ys)
    if "x" in arrays:
        return arrays["x"], arrays.get("y"), None
    data_keys = [k for k in arrays if k != "y"]
    if len(data_keys) == 1:
        return arrays[data_keys[0]], arrays.get("y"), None
    raise DataError(
        f"{shown}: cannot tell which array holds the data (keys: {', '.join(arrays) or 'none'}); "
        "name it x (labels y), or save x_train, x_valid, x_test"
    )


def _label_column(path: Path, shown: str, table: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(the other columns, the column `name`) of a CSV table, by the header row's names."""
    names = readers.header_row(path)
    if any(readers.is_number(n) for n in names):
        raise DataError(f"{shown}: --label-column {name}: the file has no header row naming its columns; add one")
    if name not in names:
        raise DataError(f"{shown}: --label-column {name}: no such column{suggest(name, names)}; the columns are "
                        f"{', '.join(names)}")
    if len(names) < 2:
        raise DataError(f"{shown}: --label-column {name}: the label is the only column; the data needs others")
    j = names.index(name)
    return np.delete(table, j, axis=1), table[:, j]
