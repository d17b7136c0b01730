"""`load` (dataset names and user files -> `Splits`) and `list_datasets` (what `vaekit datasets` shows).

Named datasets are in `vaekit.data.named`, user files in `vaekit.data.user`, the splits in
`vaekit.data.splits`. The registry is read as `named.DATASETS`, through its module, so that a registry
replaced there (as the tests do) is the one used here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from vaekit.data import named
from vaekit.data.config import DataConfig
from vaekit.data.named import base_url, locate
from vaekit.data.splits import Splits, keep_labels
from vaekit.data.user import _load_user, takes_label_column
from vaekit.errors import DataError


def load(
    name_or_path: str,
    *,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
    label_column: str | None = None,
) -> Splits:
    """Load a named dataset or a user file/folder, split into train / valid / test.

    `seed` fixes the split of data without official splits (digits, user files); `image_size=(H, W)`
    resizes the images of an image folder; `cache_dir` overrides `cache_dir()`; `label_column` names the column
    of a CSV file that holds the class labels. Named datasets other than digits are downloaded (and verified)
    when not found locally.
    """
    name = str(name_or_path)
    key = name.lower().replace("_", "-")
    path = Path(name).expanduser()
    # A dataset name wins over a file or folder of the same name: write ./mnist for the local one.
    if label_column is not None and (key in named.DATASETS or not takes_label_column(path)):
        raise DataError(f"--label-column {label_column}: applies to CSV files only, not {name}; leave it out (other "
                        "data carries its labels itself: .npz y, one sub-folder per class)")
    if key in named.DATASETS:
        ds = named.DATASETS[key]
        if image_size is not None and tuple(image_size) != tuple(ds.data_shape[1:]):
            raise DataError(f"{ds.name}: --image-size applies to image folders only; {ds.name} images are fixed in size")
        return named.load_named(ds, cache_dir, seed)
    if not path.exists():
        raise DataError(
            f"no dataset or file named {name!r}; named datasets are: {', '.join(named.DATASETS)}; "
            "or give the path of a .npy, .npz or .csv file or a folder of images"
        )
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    return _load_user(path, name, seed, size, label_column)


def load_data(config: DataConfig, *, cache_dir: str | Path | None = None) -> Splits:
    """The splits a `DataConfig` describes: `load` with its split seed, image size and label column, then only
    `config.labelled` training labels kept (`keep_labels`) when it is set."""
    image_size = cast("tuple[int, int] | None", config.image_size)  # DataConfig checks that it is H W
    splits = load(config.data, seed=config.split_seed, image_size=image_size, cache_dir=cache_dir,
                  label_column=config.label_column)
    return splits if config.labelled is None else keep_labels(splits, config.labelled, config.label_seed)


def list_datasets(cache_dir: str | Path | None = None) -> list[dict]:
    """One dict per named dataset, for `vaekit datasets`; looks for files, reads none.

    Keys: name, available (bool: usable without a download), where (folder, "scikit-learn bundled", or
    "download from <url>"), shape (list), levels, splits ({"train": n, "valid": n, "test": n}), labels (bool:
    whether it carries class labels), classes (their number, or None), description.
    """
    rows = []
    for ds in named.DATASETS.values():
        if ds.format.bundled:
            available, where = True, ds.format.bundled
        else:
            folder = locate(ds.name, cache_dir)
            available = folder is not None
            where = str(folder) if folder is not None else f"download from {base_url(ds)}"
        rows.append(
            {
                "name": ds.name,
                "available": available,
                "where": where,
                "shape": list(ds.data_shape),
                "levels": ds.levels,
                "splits": dict(ds.sizes),
                "labels": ds.labels,
                "classes": ds.classes if ds.labels else None,
                "description": ds.description,
            }
        )
    return rows
