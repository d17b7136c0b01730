"""Datasets: named benchmarks (digits, fashion-mnist, mnist, binarized-mnist) and user files, as `Splits`.

    splits = vaekit.data.load("digits", seed=0)       # uint8 [N, 1, 8, 8], levels 17, labels y_* [N]
    x = to_unit(splits.x_train, splits.levels)        # float32 in [0, 1]

Data lives in memory as one tensor per split; batches are slices of it.

Modules: `sources` (`load`, `list_datasets`), `named` (the named datasets: registry, checksums, cache,
downloads), `user` (user files), `splits` (`Splits` and the seeded split), `readers` (file readers),
`transforms` (value encodings and the transforms a likelihood needs).
"""

from vaekit.data.named import CHECKSUMS, DATASETS, NamedDataset, cache_dir, fetch, locate
from vaekit.data.sources import list_datasets, load, load_data
from vaekit.data.splits import UNLABELLED, Splits, keep_labels, split_indices
from vaekit.data.transforms import binarize, dequantize, to_unit

__all__ = [
    "CHECKSUMS",
    "DATASETS",
    "UNLABELLED",
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
