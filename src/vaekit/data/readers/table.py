"""CSV tables of numbers: numpy's C parser where the table is well formed, else field by field so that the
message names the column, line and value."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np

from vaekit.data.readers.raw import read_bytes
from vaekit.errors import DataError, cut, shown


def read_csv(path: Path) -> np.ndarray:
    """A table of numbers, one row per line, optional header row (a first row with no numeric field).

    Returns int64 [N, D] when every field is an integer literal, else float64 [N, D]. A non-numeric
    field raises DataError naming the column (header name or 1-based index), line and value.
    """
    try:
        text = read_bytes(path).decode("utf-8-sig")  # -sig: drop the byte-order mark spreadsheets write
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({cut(str(e), 200)}); save the table as a UTF-8 CSV file") from e
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
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({cut(str(e), 200)}); fix that line") from e
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
                column = f"column {shown(header[j])} (column {j + 1})" if header is not None else f"column {j + 1}"
                held = shown(str(value)) if value else "an empty field"
                raise DataError(
                    f"{path}: {column} is not numeric: line {lines[i]} holds {held}; "
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


def header_row(path: Path) -> list[str]:
    """The first non-empty row of a CSV file, its fields stripped (a header row of names, or a row of data: the
    caller tells them apart with `is_number`); read as `read_csv` reads the file (a regular file, gunzipped with
    bounded inflation, UTF-8 with or without a byte-order mark)."""
    try:
        text = read_bytes(path).decode("utf-8-sig")
        row = next((row for row in csv.reader(io.StringIO(text)) if any(field.strip() for field in row)), [])
        return [field.strip() for field in row]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read the header row ({cut(str(e), 200)}); save the table as a UTF-8 CSV "
                        "file") from None


def is_number(field: str) -> bool:
    """Whether a CSV field parses as a float (how the reader tells a header row from data)."""
    try:
        float(field)
    except ValueError:
        return False
    return True
