"""Errors that reach the user as one line on stderr and exit code 2 (see `vaekit.cli`)."""


class VaekitError(Exception):
    """A problem with the user's input: the message names the file or option, the problem, and the fix."""


class DataError(VaekitError):
    """A dataset or data file that cannot be used as given."""


class RunError(VaekitError):
    """A run directory that is missing, incomplete, inconsistent, or would be overwritten."""
