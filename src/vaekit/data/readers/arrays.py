"""NumPy's files, .npy and .npz: headers checked against the file's size and the memory available before arrays
are allocated; pickled object arrays refused."""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from vaekit.errors import DataError
from vaekit.files import open_regular
from vaekit.limits import ensure_fits


def _npy_header(f: IO[bytes], size: int, path: Path, what: str) -> None:
    """Check an .npy header against the bytes that follow it (`size` in all) and the memory available, before the
    array is read; leaves `f` at the start of the file."""
    fix = "save numeric data with numpy.save (no object arrays)"
    start = f.tell()
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not read (save with numpy.save)")
    except Exception as e:  # noqa: BLE001 - numpy parses the header with Python's tokenizer: any of its errors
        raise DataError(f"{path}: not a readable .npy {what} ({type(e).__name__}: {e}); {fix}") from None
    if dtype.hasobject:
        raise DataError(f"{path}: holds Python objects (a pickle), which vaekit never loads; {fix}")
    expected = math.prod(shape) * dtype.itemsize
    actual = size - (f.tell() - start)
    if expected != actual:
        raise DataError(f"{path}: the .npy header declares shape {list(shape)} of {dtype} ({expected} bytes) but "
                        f"{actual} bytes follow it; the file is truncated or damaged: {fix}")
    ensure_fits(expected, f"{path}: the .npy header declares shape {list(shape)} of {dtype}", "use a smaller array",
                DataError)
    f.seek(start)


def read_npy(path: Path) -> np.ndarray:
    """An array saved with `np.save` ([N, ...]); pickled object arrays are refused, and so is a header that does not
    match the file (checked before anything is allocated)."""
    with open_regular(path, DataError) as (f, size):
        _npy_header(f, size, path, "array")
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise DataError(
                f"{path}: not a readable .npy array ({e}); save numeric data with numpy.save (no object arrays)"
            ) from e


#: More arrays than this in one .npz is not a dataset.
MAX_NPZ_MEMBERS = 1000


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an `np.savez` archive, by key; each member's declared size and .npy header are checked
    against the memory available before it is inflated (zip members inflate no further than they declare)."""
    try:
        with open_regular(path, DataError) as (f, _), zipfile.ZipFile(f) as archive:
            members = archive.infolist()
            if len(members) > MAX_NPZ_MEMBERS:
                raise DataError(f"{path}: {len(members)} members, more than a dataset has (at most "
                                f"{MAX_NPZ_MEMBERS}); save x (and y), or x_train, x_valid, x_test")
            ensure_fits(sum(m.file_size for m in members), f"{path}: its arrays", "use smaller arrays", DataError)
            arrays = {}
            for member in members:
                if not member.filename.endswith(".npy"):
                    raise DataError(f"{path}: member {member.filename!r} is not an array; save the archive with "
                                    "numpy.savez")
                with archive.open(member) as m:
                    _npy_header(m, member.file_size, path, f"array ({member.filename})")
                    arrays[member.filename.removesuffix(".npy")] = np.lib.format.read_array(m, allow_pickle=False)
            return arrays
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: not a readable .npz archive ({e}); save numeric arrays with numpy.savez (no object arrays)"
        ) from e
    except Exception as e:  # zipfile.BadZipFile, NotImplementedError (a compression it lacks), encrypted members
        raise DataError(f"{path}: damaged .npz archive ({type(e).__name__}: {e}); save it again") from e
