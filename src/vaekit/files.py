"""Files: every file vaekit writes goes through `atomic_write`, every file it reads through `read_regular`; folders
are locked, probed and created here. JSON and safetensors files, and the checks of the tensors read from them, are
`vaekit.serialized`'s (written and read through this module).

Guarantees (RELIABILITY.md says how each is tested):
- a reader sees the old file or the new one, never a torn one (temp file, fsync, rename, fsync of the folder);
- a temp file left by a killed write is recognised (no process holds its lock) and removed by `remove_stale_temps`;
- one process at a time writes a folder that `lock_folder` guards; a crash releases the lock with the process;
- only regular files are read (never a FIFO or a device), and never more than `vaekit.limits.memory_budget()`;
- every OSError becomes a `FileError`: one line saying what failed, on which path, what was kept, what to do.

`file_operation` is called before each file operation vaekit makes: it is where tests inject faults, in-process
(monkeypatch it) or in a subprocess through `$VAEKIT_FAULT` (see `file_operation`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vaekit.errors import FileError, PathError, RunError, VaekitError
from vaekit.limits import format_bytes, memory_budget

#: Test-only fault injection, a comma-separated list of: "kill@N" (SIGKILL), "ENOSPC@N" (any errno name;
#: "ENOSPC@N+": from the N-th on) at the N-th file operation of this process; "trace" (one line per operation on
#: stderr: `vaekit-file-op N OP PATH`).
FAULT_ENV = "VAEKIT_FAULT"
_operations = 0

#: The most bytes a config file (an experiment file, a run's config.json) may have: text a person writes or a run
#: records, a few KiB in practice; a larger one is refused before it is read.
CONFIG_LIMIT = 8 << 20

#: The name of a temp file `atomic_write` makes for NAME: `.NAME.<8 random characters>.tmp` (tempfile.mkstemp).
_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
LOCK = ".lock"


def file_operation(op: str, path: str | Path) -> None:
    """Called before every file operation vaekit makes (mkdir, create, write, rename, remove, lock, probe)."""
    global _operations
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    _operations += 1
    for part in spec.split(","):
        if part == "trace":
            print(f"vaekit-file-op {_operations} {op} {path}", file=sys.stderr, flush=True)
            continue
        kind, _, at = part.partition("@")
        n = int(at.rstrip("+"))
        if _operations == n or (at.endswith("+") and _operations > n):
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            code = getattr(errno, kind)
            raise OSError(code, os.strerror(code), str(path))


# ------------------------------------------------------------------------------------------- OSErrors


_FIXES = {
    errno.ENOSPC: "free some space on that filesystem (or choose another place) and run the command again",
    errno.EDQUOT: "your disk quota is full: free some space (or choose another place) and run the command again",
    errno.EROFS: "that filesystem is read-only: choose a writable place",
    errno.EACCES: "you may not do that there: fix the permissions or choose another place",
    errno.EPERM: "you may not do that there: fix the permissions or choose another place",
    errno.EISDIR: "a folder is in the way: move it or choose another name",
    errno.ENOTDIR: "a file is where a folder should be: move it or choose another path",
    errno.ENOENT: "a folder on the way does not exist: check the path",
    errno.EEXIST: "something of that name is in the way: move it or choose another name",
    errno.ENAMETOOLONG: "choose a shorter name",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and run the command again",
    errno.ELOOP: "the path is a loop of symbolic links: check the path",
}
#: Errnos that say the path itself cannot be used as given (a file where a folder should be, a name too long),
#: whatever the state of the disk: bad input (`PathError`, exit 2), not a filesystem fault (exit 74).
_BAD_PATH = frozenset({errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP})


def file_error(e: OSError, action: str, path: str | Path | None = None, kept: str = "") -> FileError:
    """One-line `FileError` from an OSError: '<action> <path> failed (<reason>); <kept>; <what to do>'; a
    `PathError` (bad input) where the errno says the path cannot be used as given (`_BAD_PATH`)."""
    where = path if path is not None else (e.filename or "a file")
    reason = e.strerror or str(e) or type(e).__name__
    name = errno.errorcode.get(e.errno or 0)
    fix = _FIXES.get(e.errno or 0, "check the disk and the path, and run the command again")
    cls = PathError if e.errno in _BAD_PATH else FileError
    return cls(f"{action} {where} failed ({reason}{f', {name}' if name else ''}); " + (f"{kept}; " if kept else "")
               + fix)


# ------------------------------------------------------------------------------------------- writing


def _umask() -> int:
    # os.umask can only be read by setting it, which races with other threads; Linux reports it here.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def make_dir(path: str | Path) -> Path:
    """Create a folder and its parents (it may exist), or raise `FileError`."""
    path = Path(path)
    if path.is_dir():
        return path
    try:
        file_operation("mkdir", path)
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise file_error(e, "creating the folder", path, "nothing was written") from None
    return path


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write bytes so that a reader sees the old file or the new one, never a torn one.

    Temp file in the same folder (locked while it is written, so that `remove_stale_temps` can tell a killed
    write's leftovers from a live one), fsync, rename, then fsync of the folder so the rename survives a crash.
    Returns the path written; any OSError becomes a `FileError` saying the previous file is unchanged.
    """
    path = Path(path)
    existed = path.exists()
    kept = f"the previous {path.name} is unchanged" if existed else "nothing was written"
    make_dir(path.parent)
    try:
        file_operation("create", path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise file_error(e, "writing", path, kept) from None
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file is closed, after the rename
            # mkstemp creates the file 0600; give it the mode a plain open() would, so a web server can read it.
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            file_operation("write", path)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            file_operation("rename", path)
            os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise file_error(e, "writing", path, kept) from None
        raise
    _sync_folder(path.parent)
    remove_stale_temps(path.parent, of=path.name)  # what killed writes of this file left: its writer cleans up
    return path


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; not every platform or filesystem can open a directory."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove(path: str | Path) -> None:
    """Remove a file if it is there (`FileError` if it cannot be)."""
    path = Path(path)
    try:
        file_operation("remove", path)
        path.unlink(missing_ok=True)
    except OSError as e:
        raise file_error(e, "removing", path) from None


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of `atomic_write`'s temp files."""
    return _TEMP.fullmatch(name) is not None


def remove_stale_temps(folder: str | Path, of: str | None = None) -> list[Path]:
    """Remove the temp files of writes that were killed (no process holds their lock), of file `of` only where
    given; returns them."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_temp_name(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        if of is not None and not (entry.name.startswith(f".{of}.") and len(entry.name) == len(of) + 14):
            continue  # `.NAME.` + 8 characters + `.tmp`
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live write holds it
            os.close(fd)
            continue
        try:  # the name is unique to one write, so unlinking it can only remove that write's temp file
            file_operation("remove", entry.path)
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:  # renamed into place meanwhile: a finished write
            pass
        except OSError as e:
            raise file_error(e, "removing the leftover temp file", entry.path) from None
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def lock_folder(folder: str | Path, what: str = "this folder") -> Iterator[None]:
    """Hold the lock of `folder` (FOLDER/.lock, flock) for the block: one writer at a time; the lock goes with its
    process, so a crash never leaves it stuck. Raises `RunError` when another process holds it."""
    path = Path(folder) / LOCK
    try:
        file_operation("lock", path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise file_error(e, "creating the lock file", path, "nothing was written") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise RunError(f"{folder}: another vaekit process (pid {holder}) is writing {what}; wait for it to end, "
                           "or choose another --out") from None
        with contextlib.suppress(OSError):  # informational only: who holds the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def check_writable(folder: str | Path, needed: int = 0) -> Path:
    """Before a long computation: make sure `folder` exists and a file can be created in it (and, with `needed`,
    that about that many bytes are free), and remove the temp files of killed writes. `FileError` otherwise."""
    folder = make_dir(folder)
    try:
        file_operation("probe", folder)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise file_error(e, "writing into", folder, "nothing was written") from None
    if needed:
        try:
            st = os.statvfs(folder)
        except OSError:
            st = None
        if st is not None and st.f_bavail * st.f_frsize < needed:
            free = st.f_bavail * st.f_frsize
            raise FileError(f"writing into {folder} would fail ({os.strerror(errno.ENOSPC)}: about "
                            f"{format_bytes(needed)} needed, {format_bytes(free)} free); nothing was written; "
                            f"{_FIXES[errno.ENOSPC]}")
    remove_stale_temps(folder)
    return folder


def unique_dir(base: str | Path) -> Path:
    """Create a new folder named `base`, or `base-2`, `base-3`, ... (exclusive creation: two processes started at
    the same moment never get the same one)."""
    base = Path(base)
    make_dir(base.parent)
    for i in range(1, 10_000):
        candidate = base if i == 1 else base.with_name(f"{base.name}-{i}")
        try:
            file_operation("mkdir", candidate)
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as e:
            raise file_error(e, "creating the folder", candidate, "nothing was written") from None
    raise FileError(f"{base}: 10,000 folders of that name exist already; choose a name with --out")


# ------------------------------------------------------------------------------------------- reading


@contextlib.contextmanager
def open_regular(path: str | Path, error: type[VaekitError] = RunError,
                 limit: int | None = None) -> Iterator[tuple[BinaryIO, int]]:
    """Open a regular file for reading: (binary file, size in bytes). A FIFO, a device or a folder is refused
    before anything is read from it (opened non-blocking, checked with fstat), and so is a file larger than
    `limit` bytes (default: the memory budget)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{path}: not found; check the path") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file; give the path of a file") from None
    except OSError as e:
        raise error(f"{path}: cannot be opened ({e.strerror or e}); check the path and its permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise error(f"{path}: is {kind}, not a regular file; vaekit reads only regular files: copy the data "
                        "into a file and give its path")
        limit = memory_budget() if limit is None else limit
        if st.st_size > limit:
            raise error(f"{path}: {format_bytes(st.st_size)}, more than the {format_bytes(limit)} it may take "
                        "(the memory available here, or what its format allows); use a smaller file")
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f, st.st_size


def read_regular(path: str | Path, error: type[VaekitError] = RunError, limit: int | None = None) -> bytes:
    """The bytes of a regular file (see `open_regular`); read errors name the file."""
    with open_regular(path, error, limit) as (f, size):
        try:
            return f.read(size + 1)  # a file that grows while it is read is read no further than its size allows
        except OSError as e:
            raise error(f"{path}: cannot be read ({e.strerror or e}); check the disk and the file") from None


def read_text(path: str | Path, error: type[VaekitError] = RunError, limit: int | None = None) -> str:
    """The text of a regular file (`read_regular`), decoded as UTF-8 without the byte-order mark an editor may put
    first; text that is not UTF-8 is an `error` naming the file and the byte."""
    raw = read_regular(path, error, limit)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start:,}); save it as UTF-8") from None


__all__ = ["CONFIG_LIMIT", "FAULT_ENV", "LOCK", "atomic_write", "check_writable", "file_error", "file_operation",
           "is_temp_name", "lock_folder", "make_dir", "open_regular", "read_regular", "read_text", "remove",
           "remove_stale_temps", "unique_dir"]
