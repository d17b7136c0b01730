"""Errors that reach the user as one line on stderr and a non-zero exit code (see `vaekit.cli`), and `shown`, the one
way a value the user gave is quoted in a message."""

from __future__ import annotations

#: Characters of a value a message quotes (`shown`): enough to recognise it, short enough to keep one readable line.
SHOWN_CHARS = 60


class VaekitError(Exception):
    """A problem with the user's input: the message names the file or option, the problem, and the fix."""

    #: The command line's exit code for this error: 2, bad input (sysexits' EX_USAGE is 64; argparse uses 2).
    exit_code = 2


class DataError(VaekitError):
    """A dataset or data file that cannot be used as given."""


class RunError(VaekitError):
    """A run directory that is missing, incomplete, inconsistent, or would be overwritten."""


class FileError(VaekitError, OSError):
    """A filesystem operation that failed (no space left, read-only, permission denied): what failed, on which
    path, what was kept, and what to do. Made by `vaekit.files.file_error`; also an OSError, as code that writes
    files expects."""

    #: sysexits.h EX_IOERR: a filesystem fault, not bad input.
    exit_code = 74


class PathError(FileError):
    """A path the user gave that cannot be used as it is, whatever the state of the disk: a file where a folder
    should be (or the reverse), a name too long for the filesystem, a loop of symbolic links. Bad input (exit 2),
    though it is met as an OSError of a file operation; made by `vaekit.files.file_error` from its errno."""

    exit_code = 2


def cut(text: str, limit: int = SHOWN_CHARS, length: int | None = None) -> str:
    """`text` itself when it has at most `limit` characters, else its start, an ellipsis and its length (`length`
    where given: the length of what `text` shows): 'aaaaaaaa... (5,000,000 characters)'."""
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 3, 1)]}... ({len(text) if length is None else length:,} characters)"


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """How a message quotes a value it was given: its repr, cut to `limit` characters (`cut`; a string's length is
    its own, without the quotes of its repr). A whole number too long to print (Python refuses to write more than
    4300 digits) is described by its size instead."""
    try:
        text = repr(value)
    except ValueError:  # int -> str beyond sys.get_int_max_str_digits()
        bits = value.bit_length() if isinstance(value, int) else 0
        return f"a whole number of {bits:,} bits" if bits else f"a {type(value).__name__} too large to print"
    return cut(text, limit, len(value) if isinstance(value, str) else None)  # a string's own length


__all__ = ["SHOWN_CHARS", "DataError", "FileError", "PathError", "RunError", "VaekitError", "cut", "shown"]
