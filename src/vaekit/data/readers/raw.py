"""The bytes of a data file, gunzipped when they start with the gzip magic bytes (whatever the name says), with
inflation bounded: what every text reader starts from."""

from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from pathlib import Path

from vaekit.errors import DataError
from vaekit.files import read_regular
from vaekit.limits import format_bytes, memory_budget

#: Text formats have no header that says how large they are: their gzip data may inflate this many times its size
#: (text tables compress 5-40x; a gzip bomb about 1000x), and at least to GZIP_FLOOR bytes.
GZIP_RATIO = 200
GZIP_FLOOR = 64 << 20


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The whole file, gunzipped when it starts with the gzip magic bytes (whatever its name says).

    Only a regular file is read (`vaekit.files.read_regular`), and gzip data is inflated no further than `limit`
    bytes (default: what the format implies for text, `GZIP_RATIO` times the file's size) nor than the memory
    available: a gzip bomb is refused after `limit` bytes, not after the machine is out of memory.
    """
    raw = read_regular(path, DataError)
    if raw[:2] != b"\x1f\x8b":
        return raw
    if limit is None:
        limit = max(GZIP_RATIO * len(raw), GZIP_FLOOR)
    limit = min(limit, memory_budget())
    with gunzipping(path, raw) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{path}: the gzip data inflates to more than {format_bytes(limit)} (from "
                        f"{format_bytes(len(raw))}), more than this format allows; if the file is genuine, gunzip "
                        "it and give the plain file")
    return data


@contextlib.contextmanager
def gunzipping(path: Path, raw: bytes):
    """A gzip stream over `raw` whose decoding errors become one `DataError` naming the file."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            yield stream
    except (OSError, EOFError, zlib.error) as e:
        # EOFError: truncated stream; BadGzipFile (an OSError) / zlib.error: corrupted header or data.
        raise DataError(
            f"{path}: corrupted or truncated gzip data ({e}); delete the file and download or copy it again"
        ) from None
