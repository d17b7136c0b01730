"""File readers: IDX, amat, .npy/.npz, CSV and image folders, and the byte reading (gzipped or plain) they share.

Readers turn one file (or folder) into numpy arrays and raise `DataError` naming the file, the problem
and the fix for anything a user could have got wrong. They know nothing about named datasets or splits
(that is `vaekit.data.named`, `vaekit.data.user` and `vaekit.data.splits`), nor about value encodings
(`vaekit.data.transforms`).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import math
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from vaekit.errors import DataError
from vaekit.files import open_regular, read_regular
from vaekit.limits import ensure_fits, format_bytes, memory_budget

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# IDX type codes (http://yann.lecun.com/exdb/mnist/ "THE IDX FILE FORMAT"); all big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# Pillow modes that hold one grey channel; everything else is read as RGB.
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


# --------------------------------------------------------------------------------------------- bytes


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
    with _gunzipping(path, raw) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise DataError(f"{path}: the gzip data inflates to more than {format_bytes(limit)} (from "
                        f"{format_bytes(len(raw))}), more than this format allows; if the file is genuine, gunzip "
                        "it and give the plain file")
    return data


@contextlib.contextmanager
def _gunzipping(path: Path, raw: bytes):
    """A gzip stream over `raw` whose decoding errors become one `DataError` naming the file."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            yield stream
    except (OSError, EOFError, zlib.error) as e:
        # EOFError: truncated stream; BadGzipFile (an OSError) / zlib.error: corrupted header or data.
        raise DataError(
            f"{path}: corrupted or truncated gzip data ({e}); delete the file and download or copy it again"
        ) from None


# ----------------------------------------------------------------------------------------------- IDX


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST format), gzipped or plain.

    Returns an array of the header's shape (e.g. [N, 28, 28] images, [N] labels) in native byte order. The
    header's size is checked against the file (and the memory available) before the data is read or inflated.
    """
    raw = read_regular(path, DataError)
    fix = "the file is corrupted or not an IDX file: delete it and download or copy it again"
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(_gunzipping(path, raw)) if raw[:2] == b"\x1f\x8b" else io.BytesIO(raw)
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


# ---------------------------------------------------------------------------------------------- amat


def read_amat(path: Path, width: int = 784, max_rows: int | None = None) -> np.ndarray:
    """Read a binary `.amat` text file (gzipped or plain): one row per line, `width` 0/1 values.

    Returns uint8 [N, width]. Blank lines are skipped. Parsing is vectorised over the bytes (no per-line
    Python): the 78 MB binarized-MNIST train file takes well under a second after gunzip. With `max_rows`
    (a named dataset's known size) gzip data is inflated no further than such a file can be.
    """
    text = read_bytes(path, None if max_rows is None else max_rows * 4 * width + (1 << 20))
    buf = np.frombuffer(text, dtype=np.uint8)
    is01 = (buf | 1) == ord("1")  # '0' = 48 and '1' = 49 differ only in the lowest bit
    # Validate by counting (no full-size temporaries kept); locate the culprit only when something is wrong.
    n_valid = int(np.count_nonzero(is01)) + sum(int(np.count_nonzero(buf == ord(c))) for c in " \n\r\t")
    if n_valid != buf.size:
        space = (buf == ord(" ")) | (buf == ord("\n")) | (buf == ord("\r")) | (buf == ord("\t"))
        raise _amat_value_error(path, text, int((~(is01 | space)).argmax()), width)
    joined = is01[1:] & is01[:-1]  # two digits in a row: a value such as "10" or "11"
    if joined.any():
        raise _amat_value_error(path, text, int(joined.argmax()), width)
    del joined

    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    starts = starts[starts < buf.size]  # no line after a final newline
    if starts.size == 0:
        raise DataError(f"{path}: the file is empty; expected one {width}-value 0/1 row per line")
    ends = np.concatenate((newlines, [buf.size]))[: starts.size]
    line_len = int(ends[0] - starts[0]) + 1
    if buf.size % line_len == 0 and np.array_equal(ends - starts, np.full(starts.size, line_len - 1)):
        # Every line has the same length (the official files): count per row of a 2-D view, in one pass.
        counts = is01.view(np.uint8).reshape(-1, line_len).sum(axis=1, dtype=np.int32)
    else:
        counts = np.add.reduceat(is01.view(np.uint8), starts, dtype=np.int32)
        counts[ends == starts] = 0  # reduceat returns the element itself for empty segments
    wrong = (counts != 0) & (counts != width)
    if wrong.any():
        line = int(wrong.argmax())
        raise DataError(
            f"{path}, line {line + 1}: {int(counts[line])} values, expected {width} "
            "(one row per line, values separated by spaces); fix or remove that line"
        )
    rows = int(np.count_nonzero(counts))
    if rows == 0:
        raise DataError(f"{path}: no data rows; expected one {width}-value 0/1 row per line")
    return (buf[is01] - ord("0")).reshape(rows, width)


def _amat_value_error(path: Path, text: bytes, pos: int, width: int) -> DataError:
    """DataError for the token around byte `pos`, with its 1-based line number."""
    line = text.count(b"\n", 0, pos) + 1
    start = max(text.rfind(b" ", 0, pos), text.rfind(b"\t", 0, pos), text.rfind(b"\n", 0, pos)) + 1
    end = pos
    while end < len(text) and text[end : end + 1] not in (b" ", b"\t", b"\n", b"\r"):
        end += 1
    token = text[start : min(end, start + 20)].decode("utf-8", "replace")
    return DataError(
        f"{path}, line {line}: value {token!r} is not 0 or 1; an .amat file of binary data holds "
        f"{width} space-separated 0/1 values per line"
    )


# ------------------------------------------------------------------------------------------ npy, npz


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


# ----------------------------------------------------------------------------------------------- CSV


def read_csv(path: Path) -> np.ndarray:
    """A table of numbers, one row per line, optional header row (a first row with no numeric field).

    Returns int64 [N, D] when every field is an integer literal, else float64 [N, D]. A non-numeric
    field raises DataError naming the column (header name or 1-based index), line and value.
    """
    try:
        text = read_bytes(path).decode("utf-8-sig")  # -sig: drop the byte-order mark spreadsheets write
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e}); save the table as a UTF-8 CSV file") from e
    fast = _read_csv_fast(text)
    if fast is not None:
        return fast
    # Slow path, field by field: finds and names whatever the fast parser choked on.
    reader = csv.reader(io.StringIO(text))
    rows: list[list[str]] = []
    lines: list[int] = []  # 1-based line of each row, for messages
    try:
        for row in reader:
            fields = [f.strip() for f in row]
            if any(fields):
                rows.append(fields)
                lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({e}); fix that line") from e
    if not rows:
        raise DataError(f"{path}: no rows; a CSV data file holds one example per line, numbers separated by commas")

    header: list[str] | None = None
    if not any(is_number(f) for f in rows[0]):
        header, rows, lines = rows[0], rows[1:], lines[1:]
        if not rows:
            raise DataError(f"{path}: only a header row, no data; add one example per line")
    width = len(header) if header is not None else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError(f"{path}, line {line}: {len(row)} columns, expected {width}; every row needs the same columns")

    table = np.array(rows, dtype=str)
    try:
        return table.astype(np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return table.astype(np.float64)
    except ValueError:
        pass
    # Some field is not a number: find the first one, column by column, to name it.
    for j in range(width):
        for i, value in enumerate(table[:, j]):
            if not is_number(str(value)):
                column = f"column {header[j]!r} (column {j + 1})" if header is not None else f"column {j + 1}"
                shown = repr(str(value)) if value else "an empty field"
                raise DataError(
                    f"{path}: {column} is not numeric: line {lines[i]} holds {shown}; "
                    "a CSV data file must hold numbers only: drop or encode that column"
                )
    raise DataError(f"{path}: cannot read the table as numbers; a CSV data file must hold numbers only")  # unreachable


def _read_csv_fast(text: str) -> np.ndarray | None:
    """numpy's C parser on a well-formed table (about 5x faster than the csv module); None if anything is off."""
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        return None
    header = not any(is_number(f.strip()) for f in next(csv.reader([first])))
    skip = text.splitlines().index(first) + 1 if header else 0
    for dtype in (np.int64, np.float64):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. "input contained no data": let the slow path explain
                table = np.loadtxt(io.StringIO(text), dtype=dtype, delimiter=",", skiprows=skip, ndmin=2, quotechar='"', comments=None)
        except (ValueError, OverflowError, Warning):
            continue
        return table if table.shape[0] > 0 else None
    return None


def is_number(field: str) -> bool:
    """Whether a CSV field parses as a float (how the reader tells a header row from data)."""
    try:
        float(field)
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------------------- image folders


def read_image_folder(
    folder: Path, image_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """All .png/.jpg/.jpeg images under `folder` as uint8 [N, C, H, W] (C=1 grey, 3 colour), sorted by path.

    Hidden files and folders are skipped. Images directly in `folder` have no labels; images in subfolders are labelled by their top-level
    subfolder (class names sorted, label = index), returned as int64 [N] with the class names. With
    `image_size=(H, W)` every image is resized (bilinear); without it all images must share one size.
    """
    from PIL import Image  # Pillow only when images are read

    paths = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        # Hidden files and folders (.git, macOS "._x.png" resource forks) are not data.
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not paths:
        raise DataError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} files, also in subfolders)")
    top = [p.relative_to(folder).parts for p in paths]
    in_subfolders = [len(parts) > 1 for parts in top]
    if any(in_subfolders) and not all(in_subfolders):
        loose = paths[in_subfolders.index(False)]
        raise DataError(
            f"{folder}: images both directly in the folder ({loose.name}) and in subfolders; put every image "
            "in a class subfolder (labels come from subfolder names) or all of them directly in the folder"
        )
    classes = sorted({parts[0] for parts in top}) if all(in_subfolders) else []

    # First pass reads headers only (cheap): sizes and modes decide the common shape before decoding.
    headers = [_image_header(p) for p in paths]
    grey = all(mode in _GREY_MODES for _, mode in headers)
    channels = 1 if grey else 3
    if image_size is not None:
        ensure_fits(len(paths) * channels * image_size[0] * image_size[1],
                    f"--image-size {image_size[0]} {image_size[1]} ({len(paths)} images)", "choose a smaller size",
                    DataError)
    else:
        ensure_fits(sum(channels * w * h for (w, h), _ in headers), f"{folder} ({len(paths)} images)",
                    "resize them with --image-size H W", DataError)
    if image_size is None:
        first = headers[0][0]
        odd = next((i for i, (size, _) in enumerate(headers) if size != first), None)
        if odd is not None:
            (w0, h0), (w1, h1) = first, headers[odd][0]
            raise DataError(
                f"{folder}: images differ in size ({paths[0].name} is {h0}x{w0}, {paths[odd].name} is {h1}x{w1}, "
                f"height x width); give --image-size H W (e.g. --image-size {h0} {w0}) to resize them all"
            )
    arrays = []
    for p in paths:
        try:
            with _open_image(p) as im:
                im = im.convert("L" if grey else "RGB")  # drops alpha; palette images become RGB
                if image_size is not None and im.size != (image_size[1], image_size[0]):
                    im = im.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, zlib.error) as e:  # corrupt pixel data shows only when decoding
            raise DataError(f"{p}: cannot read the image ({e}); remove or replace that file") from e
        arrays.append(a[None] if grey else a.transpose(2, 0, 1))
    x = np.stack(arrays)
    y = np.array([classes.index(parts[0]) for parts in top], dtype=np.int64) if classes else None
    return x, y, classes


@contextlib.contextmanager
def _open_image(path: Path):
    """An image opened from a regular file; more pixels than Pillow's decompression-bomb limit is a `DataError`."""
    from PIL import Image, UnidentifiedImageError

    with open_regular(path, DataError) as (f, _), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(f)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise DataError(f"{path}: too many pixels ({e}); resize the image before using it") from None
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, zlib.error, struct.error) as e:
            raise DataError(f"{path}: cannot read the image ({e}); remove or replace that file") from None
        with im:
            yield im


def _image_header(path: Path) -> tuple[tuple[int, int], str]:
    """(size (width, height), mode) of an image, from its header."""
    with _open_image(path) as im:
        return im.size, im.mode
