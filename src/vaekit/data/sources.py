"""Named datasets, the local cache, verified downloads, and `load` (names and user files -> `Splits`).

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vaekit.data import readers, transforms
from vaekit.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
TEST_FRACTION = 0.2  # of all examples, for data without an official test split
VALID_FRACTION = 0.1  # of what remains after the test split
MIN_EXAMPLES = 10  # fewer cannot give a train, a validation and a test example that mean anything
DOWNLOAD_TIMEOUT_S = 60.0  # per blocking socket operation, not for the whole file


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no truth value, so field-wise == is meaningless
class Splits:
    """One dataset in memory, split into train / valid / test.

    x_*: [N, *data_shape], uint8 holding 0..levels-1 when `levels` is not None, else float32.
    y_*: int64 labels [N], or None when the data has no labels.
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


# ------------------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class NamedDataset:
    """A dataset known by name. `files` are the uncompressed file names; a `.gz` copy is accepted too."""

    name: str
    description: str
    kind: str  # "sklearn", "idx" or "amat": which loader reads it
    files: tuple[str, ...] = ()
    remote_suffixes: tuple[str, ...] = ("",)  # suffixes to try, in order, after a name when downloading
    url: str = ""  # official base URL (ends with "/"); files are url + name + suffix
    sizes: dict[str, int] = field(default_factory=dict)
    data_shape: tuple[int, ...] = (1, 28, 28)
    levels: int = 256
    labels: bool = True


_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DATASETS: dict[str, NamedDataset] = {
    d.name: d
    for d in (
        NamedDataset(
            name="digits",
            description="scikit-learn's bundled 8x8 handwritten digits (1,797 images, values 0..16); needs no download",
            kind="sklearn",
            sizes={"train": 1294, "valid": 144, "test": 359},
            data_shape=(1, 8, 8),
            levels=17,
        ),
        NamedDataset(
            name="fashion-mnist",
            description="Zalando's 28x28 grey clothing images, 10 classes (Xiao et al. 2017)",
            kind="idx",
            files=_IDX_FILES,
            remote_suffixes=(".gz",),
            url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            sizes={"train": 50_000, "valid": 10_000, "test": 10_000},
        ),
        NamedDataset(
            name="mnist",
            description="LeCun's 28x28 grey handwritten digits, 10 classes",
            kind="idx",
            files=_IDX_FILES,
            remote_suffixes=(".gz",),
            url="https://ossci-datasets.s3.amazonaws.com/mnist/",
            sizes={"train": 50_000, "valid": 10_000, "test": 10_000},
        ),
        NamedDataset(
            name="binarized-mnist",
            description="MNIST with the fixed binarization of Larochelle & Murray (2011), the literature's static split",
            kind="amat",
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
    """The first folder that holds all files of dataset `name` (no download), or None (also for digits)."""
    ds = _named(name)
    if ds.kind == "sklearn":
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
    if ds.kind == "sklearn":
        raise DataError(f"{name}: bundled with scikit-learn, nothing to download")
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
    xs: dict[str, np.ndarray],
    ys: dict[str, np.ndarray | None],
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


# ----------------------------------------------------------------------------------- named datasets


def _named(name: str) -> NamedDataset:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; named datasets are: {', '.join(DATASETS)}")
    return DATASETS[name]


def _load_digits(ds: NamedDataset, seed: int) -> Splits:
    from sklearn.datasets import load_digits  # imported late: scikit-learn takes a moment to import

    bunch = load_digits()
    x = np.asarray(bunch.images, dtype=np.float64).round().astype(np.uint8)  # values 0..16, [1797, 8, 8]
    y = np.asarray(bunch.target, dtype=np.int64)
    xs, ys = _split_all(x[:, None], y, seed, ds.name)
    return _make(ds.name, "scikit-learn bundled", xs, ys, ds.levels, ds.data_shape)


def _load_idx(ds: NamedDataset, folder: Path) -> Splits:
    """Official train/test IDX files; the last `sizes["valid"]` training images become the validation split."""
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


def _load_amat(ds: NamedDataset, folder: Path) -> Splits:
    """The three official .amat splits as given."""
    width = int(np.prod(ds.data_shape))
    xs = {}
    for split, file in zip(SPLITS, ds.files):
        path = _local_file(folder, file)
        assert path is not None
        x = readers.read_amat(path, width)
        if x.shape[0] != ds.sizes[split]:
            raise DataError(
                f"{path}: holds {x.shape[0]} rows, expected {ds.sizes[split]} for {ds.name}; "
                "delete it so that it is downloaded again, or replace it with the official file"
            )
        xs[split] = x.reshape(-1, *ds.data_shape)
    return _make(ds.name, str(folder), xs, dict.fromkeys(SPLITS), ds.levels, ds.data_shape)


# --------------------------------------------------------------------------------------- user files


def _load_user(path: Path, shown: str, seed: int, image_size: tuple[int, int] | None) -> Splits:
    if path.is_dir():
        x, y, _classes = readers.read_image_folder(path, image_size)
        xs, ys = _split_all(x, y, seed, shown)
        return _make(shown, str(path), xs, ys, 256, tuple(x.shape[1:]))

    suffix = path.suffix.lower()
    if suffix == ".npy":
        x, y, presplit = readers.read_npy(path), None, None
    elif suffix == ".npz":
        x, y, presplit = _npz_arrays(path, shown, seed)
    elif suffix == ".csv":
        x, y, presplit = readers.read_csv(path), None, None
    else:
        raise DataError(
            f"{shown}: unsupported file type {path.suffix or '(none)'}; give a .npy, .npz or .csv file, "
            f"a folder of images, or a dataset name ({', '.join(DATASETS)})"
        )

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
            n = xs["train"].shape[0] if xs["train"].ndim else 0
            if n < 2:
                raise DataError(f"{shown}: x_train holds {n} examples, too few to hold out a validation split; save x_valid")
            order = np.random.default_rng(seed).permutation(n)
            n_valid = max(1, round(VALID_FRACTION * n))
            valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
            y_tr = ys["train"]
            xs["train"], xs["valid"] = xs["train"][train], xs["train"][valid]
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


# -------------------------------------------------------------------------------------------- public


def load(
    name_or_path: str,
    *,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
) -> Splits:
    """Load a named dataset or a user file/folder, split into train / valid / test.

    `seed` fixes the split of data without official splits (digits, user files); `image_size=(H, W)`
    resizes the images of an image folder; `cache_dir` overrides `cache_dir()`. Named datasets other
    than digits are downloaded (and verified) when not found locally.
    """
    name = str(name_or_path)
    key = name.lower().replace("_", "-")
    path = Path(name).expanduser()
    # A dataset name wins over a file or folder of the same name: write ./mnist for the local one.
    if key in DATASETS:
        ds = DATASETS[key]
        if image_size is not None and tuple(image_size) != tuple(ds.data_shape[1:]):
            raise DataError(f"{ds.name}: --image-size applies to image folders only; {ds.name} images are fixed in size")
        if ds.kind == "sklearn":
            return _load_digits(ds, seed)
        folder = fetch(ds.name, cache_dir)
        return _load_idx(ds, folder) if ds.kind == "idx" else _load_amat(ds, folder)
    if not path.exists():
        raise DataError(
            f"no dataset or file named {name!r}; named datasets are: {', '.join(DATASETS)}; "
            "or give the path of a .npy, .npz or .csv file or a folder of images"
        )
    return _load_user(path, name, seed, None if image_size is None else (int(image_size[0]), int(image_size[1])))


def list_datasets(cache_dir: str | Path | None = None) -> list[dict]:
    """One dict per named dataset, for `vaekit datasets`; looks for files, reads none.

    Keys: name, available (bool: usable without a download), where (folder, "scikit-learn bundled", or
    "download from <url>"), shape (list), levels, splits ({"train": n, "valid": n, "test": n}), description.
    """
    rows = []
    for ds in DATASETS.values():
        if ds.kind == "sklearn":
            available, where = True, "scikit-learn bundled"
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
                "description": ds.description,
            }
        )
    return rows
