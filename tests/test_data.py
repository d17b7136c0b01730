"""Tests of vaekit.data: file readers, named datasets (on tiny stand-in files), splits, downloads, transforms.

Every test writes its own small files under tmp_path; the system folder and the cache are redirected to
tmp dirs, and downloads go to an HTTP server on 127.0.0.1, so nothing here needs /work/shared, the Debian
package or the internet.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit import data
from vaekit.data import named, readers, splits
from vaekit.errors import DataError

# ------------------------------------------------------------------------------------------ helpers

_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int16): 0x0B, np.dtype(np.float32): 0x0D}


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding of `a`: magic 00 00 <type> <ndim>, big-endian dims, big-endian data."""
    header = struct.pack(">BBBB", 0, 0, _IDX_CODES[a.dtype], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def amat_bytes(x: np.ndarray) -> bytes:
    return "".join(" ".join(str(v) for v in row) + "\n" for row in x).encode()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point the cache and the system folders at empty tmp dirs; no mirror from the environment."""
    monkeypatch.setenv("VAEKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("VAEKIT_MIRROR", raising=False)
    monkeypatch.setattr(named, "SYSTEM_DIRS", {"fashion-mnist": (tmp_path / "system" / "fashion-mnist",)})


@pytest.fixture
def tiny(monkeypatch):
    """Shrink the named datasets: 4x4 images, IDX train 6 + valid 2, test 3; amat 5 / 2 / 3 rows."""
    small = {
        name: dataclasses.replace(
            ds, data_shape=(1, 4, 4), sizes={"train": 6, "valid": 2, "test": 3} if ds.format is named.IDX else {"train": 5, "valid": 2, "test": 3}
        )
        for name, ds in named.DATASETS.items()
        if not ds.format.bundled
    }
    monkeypatch.setattr(named, "DATASETS", {**named.DATASETS, **small})


def make_idx_dataset(folder: Path, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny IDX dataset (8 train, 3 test 4x4 images) under its official names."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (8, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 8).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3).astype(np.uint8),
    }
    for name, a in arrays.items():
        write(folder / (name + (".gz" if gz else "")), idx_bytes(a), gz)
    return arrays


def make_amat_dataset(folder: Path, gz: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {split: rng.integers(0, 2, (n, 16)).astype(np.uint8) for split, n in (("train", 5), ("valid", 2), ("test", 3))}
    for split, a in arrays.items():
        write(folder / f"binarized_mnist_{split}.amat{'.gz' if gz else ''}", amat_bytes(a), gz)
    return arrays


@pytest.fixture
def server(tmp_path):
    """A static HTTP server on 127.0.0.1 serving tmp_path/www; yields (root folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# ----------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    images = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    wide = np.array([[-300, 2], [7, 30000]], dtype=np.int16)
    for name, a in (("images", images), ("labels", labels), ("wide", wide)):
        back = readers.read_idx(write(tmp_path / f"{name}.idx", idx_bytes(a), gz))
        assert back.dtype == a.dtype and back.dtype.isnative
        np.testing.assert_array_equal(back, a)


def test_idx_corrupted(tmp_path):
    good = idx_bytes(np.zeros((4, 2, 2), dtype=np.uint8))
    cases = {
        "magic.idx": b"\x01\x02" + good[2:],  # bad magic number
        "code.idx": good[:2] + b"\x07" + good[3:],  # unknown data type code
        "short.idx": good[:-3],  # fewer bytes than the header's dims promise
        "long.idx": good + b"\x00",
        "header.idx": good[:9],  # cut inside the dims
    }
    for name, payload in cases.items():
        path = write(tmp_path / name, payload)
        with pytest.raises(DataError, match=name):
            readers.read_idx(path)
    truncated = write(tmp_path / "cut.idx.gz", gzip.compress(good)[:-10])
    with pytest.raises(DataError, match=r"cut\.idx\.gz.*truncated"):
        readers.read_idx(truncated)


@pytest.mark.parametrize("gz", [True, False])
def test_named_idx_dataset_from_cache(tmp_path, tiny, gz):
    arrays = make_idx_dataset(tmp_path / "cache" / "mnist", gz=gz)
    s = data.load("mnist")
    assert s.name == "mnist" and s.source == str(tmp_path / "cache" / "mnist")
    assert s.levels == 256 and s.data_shape == (1, 4, 4) and s.is_image
    assert s.sizes() == {"train": 6, "valid": 2, "test": 3}
    assert s.x_train.dtype == torch.uint8 and s.y_train.dtype == torch.int64
    train = arrays["train-images-idx3-ubyte"]
    # The last examples of the official train file are the validation split.
    np.testing.assert_array_equal(s.x_train[:, 0].numpy(), train[:6])
    np.testing.assert_array_equal(s.x_valid[:, 0].numpy(), train[6:])
    np.testing.assert_array_equal(s.y_valid.numpy(), arrays["train-labels-idx1-ubyte"][6:])
    np.testing.assert_array_equal(s.x_test[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])


def test_system_folder_comes_before_cache(tmp_path, tiny):
    make_idx_dataset(tmp_path / "cache" / "fashion-mnist", seed=1)
    system = tmp_path / "system" / "fashion-mnist"
    arrays = make_idx_dataset(system, seed=2)
    s = data.load("fashion-mnist")
    assert s.source == str(system)
    np.testing.assert_array_equal(s.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_named_idx_wrong_size_or_type(tmp_path, tiny):
    folder = tmp_path / "cache" / "mnist"
    make_idx_dataset(folder)
    write(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(2, np.uint8)), gz=True)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: holds 2 entries, expected 3"):
        data.load("mnist")
    write(folder / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(3, np.int16)), gz=True)
    with pytest.raises(DataError, match="int16"):
        data.load("mnist")


# ---------------------------------------------------------------------------------------------- amat


@pytest.mark.parametrize("gz", [False, True])
def test_amat_dataset(tmp_path, tiny, gz):
    arrays = make_amat_dataset(tmp_path / "cache" / "binarized-mnist", gz=gz)
    s = data.load("binarized-mnist")
    assert s.levels == 2 and s.data_shape == (1, 4, 4) and s.y_train is None and s.y_test is None
    assert s.sizes() == {"train": 5, "valid": 2, "test": 3}
    for split in data.splits.SPLITS:
        np.testing.assert_array_equal(s.split(split)[0].reshape(-1, 16).numpy(), arrays[split])


def test_amat_tolerates_crlf_and_blank_lines(tmp_path):
    x = np.array([[0, 1, 1, 0], [1, 1, 1, 1]], dtype=np.uint8)
    path = write(tmp_path / "a.amat", b"0 1 1 0\r\n\n1  1\t1 1")
    np.testing.assert_array_equal(readers.read_amat(path, width=4), x)


def test_amat_bad_lines(tmp_path):
    rows = "0 1 0 1\n1 1 1 1\n"
    for name, text, match in (
        ("count.amat", rows + "0 1 0\n", r"count\.amat, line 3: 3 values, expected 4"),
        ("value.amat", rows + "0 2 0 1\n", r"value\.amat, line 3: value '2' is not 0 or 1"),
        ("joined.amat", "0 1 0 1\n0 10 0 1\n", r"joined\.amat, line 2: value '10'"),
        ("float.amat", "0 1 0 1.0\n", r"line 1: value '1.0'"),
    ):
        with pytest.raises(DataError, match=match):
            readers.read_amat(write(tmp_path / name, text.encode()), width=4)


# ----------------------------------------------------------------------------------------- user files


@pytest.mark.parametrize(
    ("array", "dtype", "levels"),
    [
        (np.arange(100).reshape(50, 2) % 256, torch.uint8, 256),
        (np.arange(100).reshape(50, 2) % 2, torch.uint8, 2),
        ((np.arange(100).reshape(50, 2) % 2).astype(np.float64), torch.uint8, 2),
        (np.arange(100).reshape(50, 2) % 2 == 1, torch.uint8, 2),
        (np.linspace(-1, 1, 100).reshape(50, 2), torch.float32, None),
        (np.arange(100).reshape(50, 2) * 10 - 5, torch.float32, None),  # integers outside 0..255 are real values
    ],
)
def test_npy_dtype_rules(tmp_path, array, dtype, levels):
    path = tmp_path / "x.npy"
    np.save(path, array)
    s = data.load(str(path))
    assert s.name == str(path) and s.levels == levels and s.x_train.dtype == dtype and s.data_shape == (2,)
    assert not s.is_image and s.y_train is None
    back = torch.cat([s.x_train, s.x_valid, s.x_test]).double().numpy()
    assert sorted(map(tuple, back)) == sorted(map(tuple, array.astype(np.float32).astype(np.float64)))


def test_npy_shapes_and_bad_values(tmp_path):
    for shape, data_shape in (((20, 5, 6), (1, 5, 6)), ((20, 3, 5, 6), (3, 5, 6)), ((20, 5, 6, 3), (3, 5, 6))):
        np.save(tmp_path / "img.npy", np.zeros(shape, dtype=np.uint8))
        assert data.load(str(tmp_path / "img.npy")).data_shape == data_shape
    bad = np.ones((20, 3))
    bad[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match=r"nan\.npy: NaN or infinite values \(first in row 7\b"):
        data.load(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "few.npy", np.zeros((5, 3)))
    with pytest.raises(DataError, match=r"few\.npy: only 5 examples"):
        data.load(str(tmp_path / "few.npy"))
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match=r"junk\.npy"):
        data.load(str(tmp_path / "junk.npy"))


def test_npz_labels_and_presplit(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 4))
    y = np.arange(30) % 3
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    s = data.load(str(tmp_path / "xy.npz"), seed=5)
    assert s.levels is None and s.y_train.dtype == torch.int64
    for split in splits.SPLITS:  # labels follow their examples through the shuffle
        xs, ys = s.split(split)
        rows = [int(np.argmin(np.abs(x - r.numpy()).sum(1))) for r in xs]
        np.testing.assert_array_equal(ys.numpy(), y[rows])

    parts = {"x_train": np.ones((7, 2, 2), np.uint8), "x_valid": np.zeros((2, 2, 2), np.uint8), "x_test": np.full((3, 2, 2), 9, np.uint8)}
    np.savez(tmp_path / "pre.npz", **parts, y_train=np.zeros(7), y_valid=np.ones(2), y_test=np.ones(3))
    s = data.load(str(tmp_path / "pre.npz"))
    assert s.sizes() == {"train": 7, "valid": 2, "test": 3} and s.levels == 256 and s.data_shape == (1, 2, 2)
    assert s.x_test.max() == 9 and s.y_valid.tolist() == [1, 1]

    np.savez(tmp_path / "ambiguous.npz", a=x, b=x)
    with pytest.raises(DataError, match=r"ambiguous\.npz: cannot tell which array.*keys: a, b"):
        data.load(str(tmp_path / "ambiguous.npz"))


def test_csv_numeric_with_and_without_header(tmp_path):
    rows = [[i, i % 7, (i * 3) % 11] for i in range(20)]
    body = "".join(",".join(map(str, r)) + "\n" for r in rows)
    (tmp_path / "head.csv").write_text("a,b,c\n" + body)
    (tmp_path / "plain.csv").write_text(body)
    for name in ("head.csv", "plain.csv"):
        s = data.load(str(tmp_path / name))
        assert s.data_shape == (3,) and s.levels == 256 and sum(s.sizes().values()) == 20
    (tmp_path / "real.csv").write_text("".join(f"{i / 10},{-i}\n" for i in range(20)))
    s = data.load(str(tmp_path / "real.csv"))
    assert s.levels is None and s.x_train.dtype == torch.float32


def test_csv_text_column_names_column_and_row(tmp_path):
    lines = ["height,colour,weight"] + [f"{i},{'red' if i == 4 else i},{i * 2}" for i in range(12)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"t\.csv: column 'colour' \(column 2\) is not numeric: line 6 holds 'red'"):
        data.load(str(tmp_path / "t.csv"))
    (tmp_path / "n.csv").write_text("".join(f"{i},x{i}\n" for i in range(12)))
    with pytest.raises(DataError, match=r"n\.csv: column 2 is not numeric: line 1 holds 'x0'"):
        data.load(str(tmp_path / "n.csv"))
    (tmp_path / "ragged.csv").write_text("1,2\n3,4\n5\n")
    with pytest.raises(DataError, match=r"ragged\.csv, line 3: 1 columns, expected 2"):
        data.load(str(tmp_path / "ragged.csv"))


def _png(path: Path, size_hw: tuple[int, int], mode: str = "L", value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, (size_hw[1], size_hw[0]), colour).save(path)


def test_image_folder(tmp_path):
    flat = tmp_path / "flat"
    for i in range(12):
        _png(flat / f"{i:02d}.png", (5, 6), value=i)
    s = data.load(str(flat))
    assert s.data_shape == (1, 5, 6) and s.levels == 256 and s.y_train is None and s.x_train.dtype == torch.uint8

    classes = tmp_path / "classes"
    for i in range(12):
        label = ("cat", "dog")[i % 2]
        _png(classes / label / f"{i:02d}.jpg" if i % 3 else classes / label / f"{i:02d}.png", (4, 4), "RGB", value=i % 2 * 200)
    s = data.load(str(classes), seed=3)
    assert s.data_shape == (3, 4, 4) and s.y_train is not None
    for split in splits.SPLITS:  # label 1 ("dog", the second class in sorted order) images have red ~200
        xs, ys = s.split(split)
        np.testing.assert_array_equal((xs[:, 0].float().mean((1, 2)) > 100).long().numpy(), ys.numpy())


def test_image_folder_sizes(tmp_path):
    folder = tmp_path / "mixed"
    for i in range(12):
        _png(folder / f"{i:02d}.png", (8, 8) if i else (6, 9))
    with pytest.raises(DataError, match=r"mixed: images differ in size.*--image-size H W"):
        data.load(str(folder))
    s = data.load(str(folder), image_size=(4, 5))
    assert s.data_shape == (1, 4, 5)
    (folder / "sub").mkdir()
    _png(folder / "sub" / "x.png", (8, 8))
    with pytest.raises(DataError, match="both directly in the folder"):
        data.load(str(folder))


def test_unknown_name_or_missing_file():
    with pytest.raises(DataError, match=r"no dataset or file named 'nope\.npy'.*digits, fashion-mnist, mnist, binarized-mnist"):
        data.load("nope.npy")


# -------------------------------------------------------------------------------------------- splits


def test_splits_deterministic_disjoint_sized():
    train, valid, test = data.split_indices(100, seed=0, what="t")
    assert (len(train), len(valid), len(test)) == (72, 8, 20)
    everything = np.concatenate([train, valid, test])
    assert sorted(everything.tolist()) == list(range(100))  # disjoint and complete
    again = data.split_indices(100, seed=0, what="t")
    assert all(np.array_equal(a, b) for a, b in zip((train, valid, test), again))
    other = data.split_indices(100, seed=1, what="t")
    assert not np.array_equal(test, other[2])
    assert [len(p) for p in data.split_indices(10, seed=0, what="t")] == [7, 1, 2]
    with pytest.raises(DataError, match="only 9 examples"):
        data.split_indices(9, seed=0, what="t")


def test_digits():
    s = data.load("digits", seed=0)
    assert s.data_shape == (1, 8, 8) and s.levels == 17 and s.source == "scikit-learn bundled"
    assert s.sizes() == {"train": 1294, "valid": 144, "test": 359} == data.DATASETS["digits"].sizes
    assert s.x_train.dtype == torch.uint8 and int(s.x_train.max()) == 16 and s.y_test.dtype == torch.int64
    again, other = data.load("digits", seed=0), data.load("digits", seed=1)
    assert torch.equal(s.x_test, again.x_test) and not torch.equal(s.x_test, other.x_test)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.levels = 2


# ---------------------------------------------------------------------------------------- transforms


def test_value_transforms():
    x = torch.tensor([[0, 8, 16]], dtype=torch.uint8)
    unit = data.to_unit(x, 17)
    assert unit.dtype == torch.float32 and unit.tolist() == [[0.0, 0.5, 1.0]]
    real = torch.tensor([-3.0, 2.5], dtype=torch.float64)
    assert data.to_unit(real, None).dtype == torch.float32 and data.to_unit(real, None).tolist() == [-3.0, 2.5]

    p = torch.full((4, 1000), 0.3)
    b1 = data.binarize(p, torch.Generator().manual_seed(0))
    b2 = data.binarize(p, torch.Generator().manual_seed(0))
    assert b1.dtype == torch.float32 and b1.shape == p.shape and torch.equal(b1, b2)
    assert set(b1.unique().tolist()) <= {0.0, 1.0} and abs(b1.mean().item() - 0.3) < 0.05

    levels = torch.arange(256, dtype=torch.uint8).repeat(40)
    d1 = data.dequantize(levels, 256, torch.Generator().manual_seed(1))
    d2 = data.dequantize(levels, 256, torch.Generator().manual_seed(1))
    assert d1.dtype == torch.float32 and torch.equal(d1, d2)
    assert d1.min() >= 0 and d1.max() < 1
    assert torch.equal(torch.floor(d1 * 256).to(torch.uint8), levels)  # each value stays in its own bin


# ------------------------------------------------------------------------------------------ download


def _publish(root: Path, dataset: str, files: dict[str, bytes]) -> dict[str, str]:
    """Write files under root/<dataset>/ and return their SHA-256 by name."""
    for name, payload in files.items():
        write(root / dataset / name, payload)
    return {name: hashlib.sha256(payload).hexdigest() for name, payload in files.items()}


def _idx_payloads() -> dict[str, bytes]:
    return {name + ".gz": gzip.compress(idx_bytes(a)) for name, a in make_idx_arrays().items()}


def make_idx_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (8, 4, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 8).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3).astype(np.uint8),
    }


def test_download_verified(tmp_path, tiny, server, monkeypatch):
    root, url = server
    hashes = _publish(root, "fashion-mnist", _idx_payloads())
    monkeypatch.setitem(named.CHECKSUMS, "fashion-mnist", hashes)
    monkeypatch.setenv("VAEKIT_MIRROR", url)
    assert not data.list_datasets()[1]["available"]
    assert data.list_datasets()[1]["where"] == f"download from {url}/fashion-mnist/"

    s = data.load("fashion-mnist")
    cache = tmp_path / "cache" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(hashes)  # official names, no leftovers
    assert s.source == str(cache) and s.sizes() == {"train": 6, "valid": 2, "test": 3}
    np.testing.assert_array_equal(s.y_test.numpy(), make_idx_arrays()["t10k-labels-idx1-ubyte"])


def test_download_checksum_mismatch(tmp_path, tiny, server, monkeypatch):
    root, url = server
    hashes = _publish(root, "mnist", _idx_payloads())
    hashes["t10k-images-idx3-ubyte.gz"] = "0" * 64
    monkeypatch.setitem(named.CHECKSUMS, "mnist", hashes)
    monkeypatch.setenv("VAEKIT_MIRROR", url + "/")
    with pytest.raises(DataError, match=rf"{url}/mnist/t10k-images-idx3-ubyte\.gz: checksum mismatch.*expected 0{{64}}, got [0-9a-f]{{64}}"):
        data.load("mnist")
    cache = tmp_path / "cache" / "mnist"
    assert "t10k-images-idx3-ubyte.gz" not in {p.name for p in cache.iterdir()}
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]  # temp file removed


def test_download_falls_back_to_gz_and_reports_network_errors(tmp_path, tiny, server, monkeypatch):
    root, url = server
    arrays = {s: np.random.default_rng(2).integers(0, 2, (n, 16)) for s, n in (("train", 5), ("valid", 2), ("test", 3))}
    files = {f"binarized_mnist_{s}.amat.gz": gzip.compress(amat_bytes(a)) for s, a in arrays.items()}
    monkeypatch.setitem(named.CHECKSUMS, "binarized-mnist", _publish(root, "binarized-mnist", files))
    monkeypatch.setenv("VAEKIT_MIRROR", url)
    s = data.load("binarized-mnist")  # the mirror has no plain .amat: the .gz names are tried next
    np.testing.assert_array_equal(s.x_valid.reshape(-1, 16).numpy(), arrays["valid"])

    with socket.socket() as sock:  # a port with nothing listening: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("VAEKIT_MIRROR", dead)
    with pytest.raises(DataError, match=r"cannot download .*install the Debian package.*put the files"):
        data.load("fashion-mnist")


def test_list_datasets_availability(tmp_path, tiny):
    rows = {r["name"]: r for r in data.list_datasets()}
    assert set(rows) == {"digits", "fashion-mnist", "mnist", "binarized-mnist"}
    assert rows["digits"]["available"] and rows["digits"]["where"] == "scikit-learn bundled"
    assert not rows["mnist"]["available"] and rows["mnist"]["where"].startswith("download from https://")
    assert rows["mnist"]["shape"] == [1, 4, 4] and rows["binarized-mnist"]["levels"] == 2

    make_idx_dataset(tmp_path / "cache" / "mnist")
    (tmp_path / "cache" / "fashion-mnist").mkdir()
    write(tmp_path / "cache" / "fashion-mnist" / "train-images-idx3-ubyte.gz", b"partial")  # one file of four
    other = tmp_path / "elsewhere"
    make_amat_dataset(other / "binarized-mnist", gz=True)
    rows = {r["name"]: r for r in data.list_datasets()}
    assert rows["mnist"]["available"] and rows["mnist"]["where"] == str(tmp_path / "cache" / "mnist")
    assert not rows["fashion-mnist"]["available"] and not rows["binarized-mnist"]["available"]
    rows = {r["name"]: r for r in data.list_datasets(cache_dir=other)}
    assert rows["binarized-mnist"]["available"] and not rows["mnist"]["available"]
