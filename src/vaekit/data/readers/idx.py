"""IDX files (the MNIST format), gzipped or plain: the header's shape checked against the file and the memory
available before the data is read or inflated."""

from __future__ import annotations

import contextlib
import io
import math
import struct
from pathlib import Path

import numpy as np

from vaekit.data.readers.raw import gunzipping
from vaekit.errors import DataError
from vaekit.files import read_regular
from vaekit.limits import ensure_fits

# IDX type codes (http://yann.lecun.com/exdb/mnist/ "THE IDX FILE FORMAT"); all big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST format), gzipped or plain.

    Returns an array of the header's shape (e.g. [N, 28, 28] images, [N] labels) in native byte order. The
    header's size is checked against the file (and the memory available) before the data is read or inflated.
    """
    raw = read_regular(path, DataError)
    fix = "the file is corrupted or not an IDX file: delete it and download or copy it again"
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(gunzipping(path, raw)) if raw[:2] == b"\x1f\x8b" else io.BytesIO(raw)
        head = stream.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0:
            raise DataError(f"{path}: bad IDX magic number 0x{head.hex() or 'empty'} (must start with 0x0000); {fix}")
        code, ndim = head[2], head[3]
        if code not in _IDX_DTYPES:
            raise DataError(f"{path}: unknown IDX data type code 0x{code:02x} (expected 08, 09, 0b, 0c, 0d or 0e); "
                            f"{fix}")
        if ndim == 0:
            raise DataError(f"{path}: IDX header declares 0 dimensions; {fix}")
        shape = stream.read(4 * ndim)
        if len(shape) < 4 * ndim:
            raise DataError(f"{path}: truncated IDX header ({4 + len(shape)} bytes, need {4 + 4 * ndim}); {fix}")
        dims = struct.unpack(f">{ndim}I", shape)
        dtype = np.dtype(_IDX_DTYPES[code])
        count = math.prod(dims)
        expected = count * dtype.itemsize
        if raw[:2] != b"\x1f\x8b" and len(raw) - 4 - 4 * ndim != expected:  # plain: the size is known
            actual = len(raw) - 4 - 4 * ndim
            raise DataError(f"{path}: IDX header declares shape {list(dims)} ({expected} bytes of data) but the file "
                            f"holds {actual} bytes; {fix}")
        ensure_fits(expected, f"{path}: IDX header declares shape {list(dims)}", fix, DataError)
        data = stream.read(expected + 1)
    if len(data) != expected:
        shown = f"{len(data)}" if len(data) <= expected else f"more than {expected}"
        raise DataError(
            f"{path}: IDX header declares shape {list(dims)} ({expected} bytes of data) "
            f"but the file holds {shown} bytes; {fix}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count).reshape(dims)
    # astype copies: native byte order, and writable so torch.from_numpy does not warn.
    return arr.astype(dtype.newbyteorder("="))
