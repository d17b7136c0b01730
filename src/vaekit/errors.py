"""Errors that reach the user as one line on stderr and a non-zero exit code (see `vaekit.cli`)."""


class VaekitError(Exception):
    """A problem with the user's input: the message names the file or option, the problem, and the fix."""


class DataError(VaekitError):
    """A dataset or data file that cannot be used as given."""


class RunError(VaekitError):
    """A run directory that is missing, incomplete, inconsistent, or would be overwritten."""


class FileError(VaekitError, OSError):
    """A filesystem operation that failed (no space left, read-only, permission denied, a folder where a file
    should be): what failed, on which path, what was kept, and what to do. Made by `vaekit.files.file_error`; also
    an OSError, as code that writes files expects."""
