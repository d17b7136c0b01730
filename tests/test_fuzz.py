"""A standing fuzz suite (Hypothesis): random truncations, bit flips and mutations of valid IDX, amat, gzip, npy,
npz, CSV, PNG, safetensors and config.json files give vaekit's own error (one line, naming the file), never
another exception, a hang (an alarm fails the example) or an unbounded allocation (the process's data segment is
capped while the loaders run, and vaekit's memory budget is set low)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import resource
import shutil
import signal
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# The dev extra installs Hypothesis (`make test` does); an environment without it says so in the summary.
pytest.importorskip("hypothesis", reason="Hypothesis is not installed: pip install -e '.[dev]' to run the fuzz suite")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vaekit
from vaekit.data import load, readers
from vaekit.errors import VaekitError
from vaekit.runs import open_run, read_config
from vaekit.serialized import read_tensors
from vaekit.train import state as run_state

# Per loader: the whole suite stays under a minute on two cores; VAEKIT_FUZZ_EXAMPLES=5000 for a longer campaign.
EXAMPLES = int(os.environ.get("VAEKIT_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SECONDS = 20  # an example that takes longer has hung


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` after one to four mutations: truncation, bit flip, overwrite, insertion, deletion, or a 32-bit field
    set to an extreme (the sizes a header claims)."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "delete", "extreme"]))
        if kind == "truncate":
            del data[i:]
        elif kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[i : i + len(chunk)] = chunk
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 16))]
        else:
            data[i : i + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00",
                                                    b"\x00\x01\x00\x00", b"9999", b"1e99"]))
    return bytes(data)


@pytest.fixture(scope="module", autouse=True)
def bounded():
    """Cap the process's data segment at its size now plus 2 GiB while the loaders run (an allocation past it is a
    MemoryError, which fails the example), and set vaekit's memory budget to 256 MiB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    with open("/proc/self/status") as f:
        used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData:"))
    cap = used + (2 << 30)
    resource.setrlimit(resource.RLIMIT_DATA, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    patch = pytest.MonkeyPatch()
    patch.setenv("VAEKIT_MEMORY_LIMIT", "256M")
    try:
        yield
    finally:
        patch.undo()
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class _Hung(Exception):
    pass


@contextlib.contextmanager
def _alarm():
    def ring(signum, frame):
        raise _Hung(f"a loader took more than {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(loader, path: Path) -> None:
    """The loader succeeds or raises vaekit's own error, naming the file, on one line; nothing else."""
    with _alarm():
        try:
            loader(path)
        except VaekitError as e:
            message = str(e)
            assert "\n" not in message.strip(), message
            assert path.name in message or str(path.parent) in message, message


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------ seed files

rng = np.random.default_rng(0)
IMAGES = rng.integers(0, 256, (12, 4, 5), dtype=np.uint8)
IDX = struct.pack(">4B3I", 0, 0, 8, 3, 12, 4, 5) + IMAGES.tobytes()
AMAT = "".join(" ".join(str(v) for v in row) + "\n" for row in rng.integers(0, 2, (12, 8))).encode()
CSV = ("a,b,c\n" + "".join(f"{x:.4f},{y:.4f},{z}\n" for x, y, z in zip(rng.normal(size=12), rng.normal(size=12),
                                                                         range(12)))).encode()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


NPY = _npy(rng.normal(size=(12, 3)).astype(np.float32))


def _npz(compressed: bool) -> bytes:
    buffer = io.BytesIO()
    arrays = {"x_train": rng.random((12, 3)), "x_test": rng.random((4, 3)), "y_train": np.arange(12),
              "y_test": np.arange(4)}
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(IMAGES[0]).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    splits = vaekit.data.load("digits")
    model = vaekit.VAE(vaekit.VAEConfig(data_shape=splits.data_shape, latent_dim=2, hidden=(4,)))
    run = tmp_path_factory.mktemp("fuzz") / "run"
    vaekit.fit(model, splits, vaekit.TrainConfig(epochs=1, batch_size=256), run_dir=run)
    return run


# ---------------------------------------------------------------------------------------------- the fuzz


@FUZZ
@given(data=mutated(IDX))
def test_idx(data, tmp_path):
    _check(readers.read_idx, _write(tmp_path, "x-idx3-ubyte", data))


@FUZZ
@given(data=st.one_of(mutated(gzip.compress(IDX)), mutated(IDX).map(gzip.compress)))
def test_gzip(data, tmp_path):
    _check(readers.read_idx, _write(tmp_path, "x-idx3-ubyte.gz", data))
    _check(lambda p: load(str(p)), _write(tmp_path, "table.csv", data))


@FUZZ
@given(data=st.one_of(mutated(AMAT), mutated(AMAT).map(gzip.compress)))
def test_amat(data, tmp_path):
    _check(lambda p: readers.read_amat(p, width=8, max_rows=12), _write(tmp_path, "x.amat", data))


@FUZZ
@given(data=mutated(NPY))
def test_npy(data, tmp_path):
    _check(lambda p: load(str(p)), _write(tmp_path, "x.npy", data))


@FUZZ
@given(data=st.one_of(mutated(_npz(False)), mutated(_npz(True))))
def test_npz(data, tmp_path):
    _check(lambda p: load(str(p)), _write(tmp_path, "x.npz", data))


@FUZZ
@given(data=mutated(CSV))
def test_csv(data, tmp_path):
    _check(lambda p: load(str(p)), _write(tmp_path, "x.csv", data))


@FUZZ
@given(data=mutated(PNG))
def test_png(data, tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir(exist_ok=True)
    for i in range(10):
        _write(folder, f"{i}.png", PNG)
    _check(lambda p: load(str(folder)), _write(folder, "x.png", data))


@settings(FUZZ, max_examples=EXAMPLES // 2)  # each example opens a run twice and loads a checkpoint
@given(data=st.data())
def test_safetensors(data, trained, tmp_path):
    run = tmp_path / "run"
    if not run.exists():
        shutil.copytree(trained, run)
    for name in ("model.safetensors", "checkpoint.safetensors"):
        original = (trained / name).read_bytes()
        path = _write(run, name, data.draw(mutated(original)))
        _check(read_tensors, path)
        _check(open_run, run)
        model = vaekit.VAE(open_run(trained).model_config)
        optimizer = torch.optim.Adam(model.parameters())
        _check(lambda p, m=model, o=optimizer: run_state.load_checkpoint(p.parent, m, o, torch.Generator()), path)
        path.write_bytes(original)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=6)


@FUZZ
@given(data=st.data())
def test_config_json(data, trained, tmp_path):
    config = json.loads((trained / "config.json").read_text())
    if data.draw(st.booleans()):  # a field replaced by any JSON value, or removed, or added
        section = data.draw(st.sampled_from(sorted(config)))
        target = config[section] if isinstance(config[section], dict) and data.draw(st.booleans()) else config
        key = data.draw(st.sampled_from(sorted(target)) | st.text(max_size=8))
        if data.draw(st.booleans()) and key in target:
            del target[key]
        else:
            target[key] = data.draw(JSON_VALUES)
        raw = json.dumps(config).encode()
    else:
        raw = data.draw(mutated(json.dumps(config, indent=2).encode()))
    run = tmp_path / "run"
    if not run.exists():
        shutil.copytree(trained, run)
    path = _write(run, "config.json", raw)
    _check(read_config, path)
    _check(open_run, run)
