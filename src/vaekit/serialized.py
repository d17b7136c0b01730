"""JSON and safetensors files: written atomically and read as regular files through `vaekit.files`, with errors
that name the file; tensors read from a file checked against the tensors they will replace (names, shapes,
dtypes, finite values) before they are loaded. Tensors are never unpickled: safetensors only.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from vaekit.errors import RunError, cut, shown
from vaekit.files import atomic_write, open_regular, read_regular, read_text
from vaekit.limits import ensure_fits

# ------------------------------------------------------------------------------------------- writing


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save named tensors (and string metadata in the header) as safetensors, atomically."""
    atomic_write(path, tensors_to_bytes(tensors, metadata))


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    return save_safetensors_bytes({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)


# ------------------------------------------------------------------------------------------- reading


def read_json(path: str | Path, limit: int | None = None) -> Any:
    """Parse a JSON file of at most `limit` bytes (default: the memory available), turning a missing or malformed
    file into a `RunError` that names it."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise RunError(f"{path}: not found; is this a vaekit run directory (made by `vaekit train`)?")
    text = read_text(path, RunError, limit)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, or an integer of 4300+ digits
        raise RunError(f"{path}: not valid JSON ({cut(str(e), 200)}); restore the file or train the run "
                       "again") from None


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file (no code is ever executed), naming the file in any error."""
    return read_tensors(path)[0]


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, string metadata of the header) of a safetensors file, naming the file in any error."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise RunError(f"{path}: not found; the run is incomplete (was training interrupted before epoch 1 ended?)")
    with open_regular(path, RunError) as (_, size):
        ensure_fits(2 * size, str(path), "the file is too large to load here", RunError)  # the bytes and the tensors
    raw = read_regular(path, RunError)
    metadata = tensors_metadata(raw, path)
    try:
        return load_safetensors_bytes(raw), metadata
    except (SafetensorError, ValueError, RuntimeError, TypeError, OverflowError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({cut(str(e), 200)}); train the run again") from None


def tensors_metadata(raw: bytes, path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file's header, from its bytes (`RunError` if the header is bad)."""
    try:
        size = int.from_bytes(raw[:8], "little")
        if len(raw) < 8 or size > len(raw) - 8:
            raise ValueError("truncated header")
        header = json.loads(raw[8 : 8 + size])
        metadata = header.get("__metadata__") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError("metadata is not a map of strings")
        return metadata
    except (ValueError, UnicodeDecodeError, AttributeError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({cut(str(e), 200)}); train the run again") from None


def check_tensors(path: str | Path, tensors: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor], *,
                  fix: str = "the run was edited or mixed with another; train it again") -> None:
    """Check tensors read from `path` against the tensors they will replace (`reference`, e.g. a state_dict): the
    same names, the same shapes, floating-point where the reference is, and finite values. One line naming the
    file and the tensor otherwise (`RunError`)."""
    missing = [k for k in reference if k not in tensors]
    if missing:
        raise RunError(f"{path}: tensor {shown(missing[0])} is missing ({len(missing)} of {len(reference)} "
                       f"missing); {fix}")
    for name, value in tensors.items():
        if name not in reference:
            close = difflib.get_close_matches(name[:200], list(reference), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RunError(f"{path}: unexpected tensor {shown(name)}{hint}; {fix}")
        want = reference[name]
        if tuple(value.shape) != tuple(want.shape):
            raise RunError(f"{path}: tensor {name!r} has shape {list(value.shape)}, expected {list(want.shape)}; {fix}")
        if want.is_floating_point():
            if not value.is_floating_point():
                raise RunError(f"{path}: tensor {name!r} is {str(value.dtype).removeprefix('torch.')}, expected "
                               f"floating-point values ({str(want.dtype).removeprefix('torch.')}); {fix}")
            if value.numel() and not bool(torch.isfinite(value).all()):
                bad = int((~torch.isfinite(value)).sum())
                raise RunError(f"{path}: tensor {name!r} holds {bad} NaN or infinite value{'s' * (bad != 1)}; {fix}")
        elif value.dtype != want.dtype:
            raise RunError(f"{path}: tensor {name!r} is {str(value.dtype).removeprefix('torch.')}, expected "
                           f"{str(want.dtype).removeprefix('torch.')}; {fix}")


__all__ = ["check_tensors", "load_tensors", "read_json", "read_tensors", "save_tensors", "tensors_metadata",
           "tensors_to_bytes", "write_json"]
