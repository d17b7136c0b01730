"""Files: every file vaekit writes goes through `atomic_write`; JSON and safetensors read and written with errors
that name the file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from vaekit.errors import RunError


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


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write bytes so that a reader sees the old file or the new one, never a torn one.

    Temp file in the same folder, fsync, rename, then fsync of the folder so the rename survives a crash.
    Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            # mkstemp creates the file 0600; give it the mode a plain open() would, so a web server can read it.
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not every platform or filesystem can open a directory
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, turning a missing or malformed file into a `RunError` that names it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: not found; is this a vaekit run directory (made by `vaekit train`)?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e}); restore the file or train the run again") from None


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save named tensors as safetensors, atomically."""
    atomic_write(path, save_safetensors_bytes({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file (no code is ever executed), naming the file in any error."""
    path = Path(path)
    try:
        return load_safetensors_bytes(path.read_bytes())
    except FileNotFoundError:
        raise RunError(f"{path}: not found; the run is incomplete (was training interrupted before epoch 1 ended?)") from None
    except (OSError, SafetensorError, ValueError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({e}); train the run again") from None
