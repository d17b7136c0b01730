"""What every picture shares: sizes and colours, argument checks, and the atomic PNG writers.

The constants fix the geometry of Pillow grids (`BORDER`, `MIN_TILE`, `TITLE_BAND`, `PAIR_GAP`) and of
matplotlib figures (`DPI`, `FIG_WIDTH`); the checks turn arrays and paths into what a drawing function needs
or raise `ValueError`; `_save_image` and `_save_figure` encode a PNG in memory and write it with
`vaekit.files.atomic_write`. `vaekit.plots.grids` and `vaekit.plots.charts` build on them.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from vaekit.files import atomic_write

DPI = 100
FIG_WIDTH = 8.0  # inches: 800 px, the width of a report's content column
MIN_TILE = 56  # px: the smallest side a tile is upscaled to, so 8x8 digits stay readable
BORDER = 2  # px between tiles and around the grid
BORDER_GREY = 160  # mid grey: visible against black-background digits and white-background photos
TITLE_BAND = 24  # px of white above a Pillow grid that has a title
PAIR_GAP = 3 * BORDER  # px between the (input, reconstruction) row pairs, so pairs read as units

PathLike = str | os.PathLike


# --------------------------------------------------------------------------------------------- validation


def _as_array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor: accepted without importing torch here
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; got {type(x).__name__} ({exc})") from None
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite; {bad} of {arr.size} values are NaN or infinite")


def _check_images(x, name: str, ndim: int = 4) -> np.ndarray:
    """Return ``x`` as float64 in [0, 1] shaped ``[..., C, H, W]`` with ``ndim`` dimensions, or raise."""
    arr = _as_array(x, name)
    lead = "[N, C, H, W]" if ndim == 4 else "[R, S, C, H, W]"
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be shaped {lead}; got {arr.ndim} dimensions, shape {tuple(arr.shape)}")
    if arr.shape[-3] not in (1, 3):
        raise ValueError(
            f"{name} must have C = 1 (grey) or 3 (RGB) channels in {lead}; got C = {arr.shape[-3]} "
            f"in shape {tuple(arr.shape)}"
        )
    if min(arr.shape) == 0:
        raise ValueError(f"{name} is empty: shape {tuple(arr.shape)}")
    _check_finite(arr, name)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(
            f"{name} must lie in [0, 1]; got min {lo:.4g}, max {hi:.4g} "
            "(pass probabilities, e.g. sigmoid(logits), or rescale 0-255 pixels by 1/255)"
        )
    return np.clip(arr, 0.0, 1.0)


def _check_table(x, name: str, min_rows: int = 1) -> np.ndarray:
    arr = _as_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be shaped [N, F]; got {arr.ndim} dimensions, shape {tuple(arr.shape)}")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least {min_rows} rows and 1 feature; got shape {tuple(arr.shape)}")
    _check_finite(arr, name)
    return arr


def _check_names(names: Sequence[str] | None, num_features: int) -> list[str]:
    if names is None:
        return [f"feature {i}" for i in range(num_features)]
    names = [str(n) for n in names]
    if len(names) != num_features:
        raise ValueError(f"names has {len(names)} entries but the arrays have {num_features} features")
    return names


def _check_png_path(path: PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png (the file is always a PNG); got {str(path)!r}")
    return path


def _save_image(image: Image.Image, path: Path) -> Path:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return atomic_write(path, buf.getvalue())


def _new_figure(height: float, width: float = FIG_WIDTH) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save_figure(fig: Figure, path: Path) -> Path:
    canvas = cast(FigureCanvasAgg, fig.canvas)  # every figure gets one in `_new_figure`
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return _save_image(Image.fromarray(np.ascontiguousarray(rgba)).convert("RGB"), path)


def _rows_height(num_rows: int, per_row: float, extra: float) -> float:
    """A figure height in whole half-inches (50 px), so the saved size is exactly figsize * dpi."""
    return math.ceil(2 * (num_rows * per_row + extra)) / 2
