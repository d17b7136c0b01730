"""Named datasets: the registry, checksums, the local cache, locating files, verified downloads, and loaders.

Where a named dataset is looked for, in order: its system folders (`SYSTEM_DIRS`, e.g. the Debian
package `dataset-fashion-mnist`), then `cache_dir()/<name>/`; when neither holds all its files, the
missing files are downloaded into the cache (base URL: $VAEKIT_MIRROR/<name>/ if set, else the official
source), checked against `CHECKSUMS`, and moved into place atomically.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaekit.data import readers
from vaekit.data.splits import SPLITS, Splits, _make, _split_all
from vaekit.errors import DataError

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60.0  # per blocking socket operation, not for the whole file


# ------------------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class DatasetFormat:
    """How a named dataset is stored and read: `load(dataset, folder, seed)` makes its splits from the folder that
    holds its files (None for a dataset bundled with a package: nothing to locate or download)."""

    name: str                     # "sklearn", "idx", "amat"
    load: Callable[[NamedDataset, Path | None, int], Splits]
    bundled: str | None = None    # where a bundled dataset comes from ("scikit-learn bundled"); None: files


@dataclass(frozen=True)
class NamedDataset:
    """A dataset known by name. `files` are the uncompressed file names; a `.gz` copy is accepted too."""

    name: str
    description: str
    format: DatasetFormat  # how its files are stored and read
    files: tuple[str, ...] = ()
    remote_suffixes: tuple[str, ...] = ("",)  # suffixes to try, in order, after a name when downloading
    url: str = ""  # official base URL (ends with "/"); files are url + name + suffix
    sizes: dict[str, int] = field(default_factory=dict)
    data_shape: tuple[int, ...] = (1, 28, 28)
    levels: int = 256
    labels: bool = True  # whether the files carry class labels
    classes: int = 10


# ------------------------------------------------------------------------------------------- formats


def _load_digits(ds: NamedDataset, folder: Path | None, seed: int) -> Splits:
    from sklearn.datasets import load_digits  # imported late: scikit-learn takes a moment to import

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float64).round().astype(np.uint8)  # values 0..16, [1797, 8, 8]
    y = np.asarray(bunch.target, dtype=np.int64)
    xs, ys = _split_all(x[:, None], y, seed, ds.name)
    return _make(ds.name, SKLEARN.bundled or "", xs, ys, ds.levels, ds.data_shape)


def _load_idx(ds: NamedDataset, folder: Path | None, seed: int) -> Splits:
    """Official train/test IDX files; the last `sizes["valid"]` training images become the validation split."""
    assert folder is not None  # a format with files: `load` located or fetched them
    fix = "delete it so that it is downloaded again, or replace it with the official file"
    arrays = {}
    for file in ds.files:
        path = _local_file(folder, file)
        assert path is not None  # locate()/fetch() checked that every file is there
        a = readers.read_idx(path)
        images = "images" in file
        want_ndim = 3 if images else 1
        if a.dtype != np.uint8 or a.ndim != want_ndim or (images and a.shape[1:] != ds.data_shape[1:]):
            kind = f"uint8 {'[N, 28, 28] images' if images else '[N] labels'}"
            raise DataError(f"{path}: holds {a.dtype} {list(a.shape)}, expected {kind}; {fix}")
        arrays[file] = (path, a)
    (p_xtr, x_tr), (p_ytr, y_tr), (p_xte, x_te), (p_yte, y_te) = (arrays[f] for f in ds.files)
    n_train, n_valid, n_test = ds.sizes["train"], ds.sizes["valid"], ds.sizes["test"]
    for path, a, n in ((p_xtr, x_tr, n_train + n_valid), (p_ytr, y_tr, n_train + n_valid), (p_xte, x_te, n_test), (p_yte, y_te, n_test)):
        if a.shape[0] != n:
            raise DataError(f"{path}: holds {a.shape[0]} entries, expected {n} for {ds.name}; {fix}")
    xs = {"train": x_tr[:n_train, None], "valid": x_tr[n_train:, None], "test": x_te[:, None]}
    ys = {"train": y_tr[:n_train], "valid": y_tr[n_train:], "test": y_te}
    return _make(ds.name, str(folder), xs, ys, ds.levels, ds.data_shape)


def _load_amat(ds: NamedDataset, folder: Path | None, seed: int) -> Splits:
    """The three official .amat splits as given."""
    assert folder is not None  # a format with files: `load` located or fetched them
    width = int(np.prod(ds.data_shape))
    xs = {}
    for split, file in zip(SPLITS, ds.files):
        path = _local_file(folder, file)
        assert path is not None
        x = readers.read_amat(path, width, max_rows=ds.sizes[split])
        if x.shape[0] != ds.sizes[split]:
            raise DataError(
                f"{path}: holds {x.shape[0]} rows, expected {ds.sizes[split]} for {ds.name}; "
                "delete it so that it is downloaded again, or replace it with the official file"
            )
        xs[split] = x.reshape(-1, *ds.data_shape)
    return _make(ds.name, str(folder), xs, dict.fromkeys(SPLITS), ds.levels, ds.data_shape)


SKLEARN = DatasetFormat("sklearn", _load_digits, bundled="scikit-learn bundled")
IDX = DatasetFormat("idx", _load_idx)
AMAT = DatasetFormat("amat", _load_amat)


_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS: dict[str, NamedDataset] = {
    d.name: d
    for d in (
        NamedDataset(
            name="digits",
            description="scikit-learn's bundled 8x8 handwritten digits (1,797 images, values 0..16); needs no download",
            format=SKLEARN,
            sizes={"train": 1294, "valid": 144, "test": 359},
            data_shape=(1, 8, 8),
            levels=17,
        ),
        NamedDataset(
            name="fashion-mnist",
            description="Zalando's 28x28 grey clothing images, 10 classes (Xiao et al. 2017)",
            format=IDX,
            files=_IDX_FILES,
            remote_suffixes=(".gz",),
            url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            sizes={"train": 50_000, "valid": 10_000, "test": 10_000},
        ),
        NamedDataset(
            name="mnist",
            description="LeCun's 28x28 grey handwritten digits, 10 classes",
            format=IDX,
            files=_IDX_FILES,
            remote_suffixes=(".gz",),
            url="https://ossci-datasets.s3.amazonaws.com/mnist/",
            sizes={"train": 50_000, "valid": 10_000, "test": 10_000},
        ),
        NamedDataset(
            name="binarized-mnist",
            description="MNIST with the fixed binarization of Larochelle & Murray (2011), the literature's static split",
            format=AMAT,
            files=tuple(f"binarized_mnist_{split}.amat" for split in SPLITS),
            # The official server has plain .amat; a mirror laid out like /work/shared/data has .amat.gz.
            remote_suffixes=("", ".gz"),
            url="http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",
            sizes={"train": 50_000, "valid": 10_000, "test": 10_000},
            levels=2,
            labels=False,
        ),
    )
}

# Folders searched before the cache (read-only system installs).
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),  # Debian package dataset-fashion-mnist
}

# SHA-256 of each downloadable file, by dataset and remote file name. Every entry was checked against at
# least two independent sources (see the data module's notes in the project report).
CHECKSUMS: dict[str, dict[str, str]] = {
    "fashion-mnist": {  # the official gz files (not Debian's, which are re-gzipped without file names)
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "binarized-mnist": {
        "binarized_mnist_train.amat": "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
        "binarized_mnist_valid.amat": "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
        "binarized_mnist_test.amat": "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
        "binarized_mnist_train.amat.gz": "4df1df3f7a98e336e79515d2c0e33ed4642d99d70244ef5ed4fce1f8c642fab9",
        "binarized_mnist_valid.amat.gz": "9e7869e4d95c98447774b06e47007ea6ba9fc052e1d1d7a17406ef2cb8baa7ef",
        "binarized_mnist_test.amat.gz": "cf32eb5b75a876489f61f66079fe466f35c3f45de90d1b6b7105fc103b3b210e",
    },
}


def cache_dir() -> Path:
    """Where datasets are cached and downloaded to: $VAEKIT_DATA, else ~/.cache/vaekit."""
    env = os.environ.get("VAEKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vaekit"


def _cache_root(override: str | Path | None) -> Path:
    return Path(override).expanduser() if override is not None else cache_dir()


def base_url(ds: NamedDataset) -> str:
    """Base URL the dataset's files are downloaded from: $VAEKIT_MIRROR/<name>/ if set, else the official one."""
    mirror = os.environ.get("VAEKIT_MIRROR")
    return f"{mirror.rstrip('/')}/{ds.name}/" if mirror else ds.url


# ------------------------------------------------------------------------------------------ locating


def _local_file(folder: Path, name: str) -> Path | None:
    """`folder/name` or `folder/name.gz`, whichever exists (the plain file first)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _search_dirs(ds: NamedDataset, root: Path) -> list[Path]:
    return [*SYSTEM_DIRS.get(ds.name, ()), root / ds.name]


def locate(name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The first folder that holds all files of dataset `name` (no download), or None (also for a bundled one)."""
    ds = _named(name)
    if ds.format.bundled:
        return None
    for folder in _search_dirs(ds, _cache_root(cache_dir)):
        if all(_local_file(folder, f) is not None for f in ds.files):
            return folder
    return None


def _how_to_get(ds: NamedDataset, folder: Path) -> str:
    files = ", ".join(f + ds.remote_suffixes[0] for f in ds.files)
    debian = "install the Debian package (apt-get install dataset-fashion-mnist) or " if ds.name == "fashion-mnist" else ""
    return f"{debian}put the files {files} into {folder} (or set VAEKIT_MIRROR to a base URL holding {ds.name}/<file>)"


# ------------------------------------------------------------------------------------------ download


def fetch(name: str, cache_dir: str | Path | None = None) -> Path:
    """Make dataset `name` available locally, downloading the missing files; returns its folder.

    Raises DataError when a download fails or a file's SHA-256 does not match `CHECKSUMS`.
    """
    ds = _named(name)
    if ds.format.bundled:
        raise DataError(f"{name}: {ds.format.bundled}, nothing to download")
    found = locate(name, cache_dir)
    if found is not None:
        return found
    folder = _cache_root(cache_dir) / ds.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(
            f"cannot create the cache folder {folder} ({e.strerror or e}); set VAEKIT_DATA to a writable folder"
        ) from e
    for file in ds.files:
        if _local_file(folder, file) is None:
            _fetch_file(ds, folder, file)
    return folder


def _fetch_file(ds: NamedDataset, folder: Path, file: str) -> Path:
    """Download one file of `ds`, trying each remote suffix until one exists on the server."""
    base = base_url(ds)
    known = CHECKSUMS.get(ds.name, {})
    remotes = [file + suffix for suffix in ds.remote_suffixes if file + suffix in known]
    if not remotes:  # never fetch a file that cannot be verified
        raise DataError(f"{ds.name}: no SHA-256 known for {file}, refusing to download it; {_how_to_get(ds, folder)}")
    tried = []
    for remote in remotes:
        url = base + remote
        expected = known[remote]
        try:
            return _download(url, folder / remote, expected, _how_to_get(ds, folder))
        except _NotFound:
            tried.append(url)
    raise DataError(f"{ds.name}: not found on the server ({', '.join(tried)}); {_how_to_get(ds, folder)}")


class _NotFound(Exception):
    """The server has no such file (HTTP 404/403, or a missing file:// path): try another name."""


def _download(url: str, dest: Path, sha256: str, fix: str) -> Path:
    """Stream `url` into a temporary file beside `dest`, check its SHA-256, then rename it to `dest`.

    The rename is atomic, so `dest` is either absent or complete and verified, even when several
    processes (e.g. distributed ranks) download at once. `fix` tells the user what to do if the network fails.
    """
    log.info("downloading %s", url)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(
            f"cannot write to the cache folder {dest.parent} ({e.strerror or e}); set VAEKIT_DATA to a writable folder"
        ) from e
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    while chunk := response.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as e:
                e.close()  # an unclosed HTTPError leaks its socket (ResourceWarning)
                if e.code in (403, 404):  # S3 answers 403 for a missing key
                    raise _NotFound(url) from e
                raise _network_error(url, fix, f"HTTP {e.code} {e.reason}") from e
            except urllib.error.URLError as e:
                if isinstance(e.reason, FileNotFoundError):
                    raise _NotFound(url) from e
                raise _network_error(url, fix, str(e.reason)) from e
            except (OSError, http.client.HTTPException) as e:  # timeouts, resets, short reads
                raise _network_error(url, fix, f"{type(e).__name__}: {e}") from e
        actual = digest.hexdigest()
        if actual != sha256:
            raise DataError(
                f"{url}: checksum mismatch (SHA-256 expected {sha256}, got {actual}); the download is corrupted or "
                "the server changed the file: try again later, or put a verified copy into the cache folder"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _network_error(url: str, fix: str, reason: str) -> DataError:
    return DataError(f"cannot download {url} ({reason}); {fix}")


# ----------------------------------------------------------------------------------- named datasets


def _named(name: str) -> NamedDataset:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; named datasets are: {', '.join(DATASETS)}")
    return DATASETS[name]


def load_named(ds: NamedDataset, cache_dir: str | Path | None, seed: int) -> Splits:
    """The splits of a named dataset: its files located (or downloaded: `fetch`) unless it is bundled, then read
    by its format; `seed` splits data without official splits (digits)."""
    folder = None if ds.format.bundled else fetch(ds.name, cache_dir)
    return ds.format.load(ds, folder, seed)
