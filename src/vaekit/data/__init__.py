"""Datasets: named benchmarks (digits, fashion-mnist, mnist, binarized-mnist) and user files, as `Splits`.

    splits = vaekit.data.load("digits", seed=0)       # uint8 [N, 1, 8, 8], levels 17, labels y_* [N]
    x = to_unit(splits.x_train, splits.levels)        # float32 in [0, 1]

Data lives in memory as one tensor per split; batches are slices of it.

Modules: `sources` (`load`, `list_datasets`), `named` (the named datasets: registry, formats, checksums, cache,
downloads), `user` (user files, by suffix), `splits` (`Splits` and the seeded split), `readers` (one file reader
per format), `transforms` (value encodings and the transforms a likelihood needs), `pipeline` (what the model
sees), `batch` (`Batch` and `UNLABELLED`, a leaf module).

The names below are imported on first use, so that `vaekit.data.batch` (which models, objectives and estimators
import) does not load the readers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CHECKSUMS": "named", "DATASETS": "named", "NamedDataset": "named", "cache_dir": "named", "fetch": "named",
    "locate": "named",
    "list_datasets": "sources", "load": "sources", "load_data": "sources",
    "UNLABELLED": "batch", "Batch": "batch",
    "Splits": "splits", "keep_labels": "splits", "split_indices": "splits",
    "binarize": "transforms", "dequantize": "transforms", "to_unit": "transforms",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vaekit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"vaekit.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # the names above, for type checkers and editors
    from vaekit.data.batch import UNLABELLED, Batch
    from vaekit.data.named import CHECKSUMS, DATASETS, NamedDataset, cache_dir, fetch, locate
    from vaekit.data.sources import list_datasets, load, load_data
    from vaekit.data.splits import Splits, keep_labels, split_indices
    from vaekit.data.transforms import binarize, dequantize, to_unit

__all__ = [
    "CHECKSUMS",
    "DATASETS",
    "UNLABELLED",
    "Batch",
    "NamedDataset",
    "Splits",
    "binarize",
    "cache_dir",
    "dequantize",
    "fetch",
    "keep_labels",
    "list_datasets",
    "load",
    "load_data",
    "locate",
    "split_indices",
    "to_unit",
]
