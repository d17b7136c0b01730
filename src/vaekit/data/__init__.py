"""Datasets: named benchmarks (digits, fashion-mnist, mnist, binarized-mnist) and user files, as `Splits`.

    splits = vaekit.data.load("digits", seed=0)       # uint8 [N, 1, 8, 8], levels 17
    x = to_unit(splits.x_train, splits.levels)        # float32 in [0, 1]

Data lives in memory as one tensor per split; batches are slices of it.
"""

from vaekit.data.transforms import binarize, dequantize, to_unit
from vaekit.data.sources import (
    CHECKSUMS,
    DATASETS,
    NamedDataset,
    Splits,
    cache_dir,
    fetch,
    list_datasets,
    load,
    locate,
    split_indices,
)

__all__ = [
    "CHECKSUMS",
    "DATASETS",
    "NamedDataset",
    "Splits",
    "binarize",
    "cache_dir",
    "dequantize",
    "fetch",
    "list_datasets",
    "load",
    "locate",
    "split_indices",
    "to_unit",
]
