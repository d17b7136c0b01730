"""Grids of images drawn with Pillow: samples, reconstructions, interpolations, the 2-D manifold, traversals.

Tiles are upscaled with nearest-neighbour sampling so that an 8x8 digit is still visible on a web page, and
laid out with a thin grey border; a title, when given, sits in a white band above the grid. `traversals`
puts such a grid on matplotlib axes, to label its rows and columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vaekit.plots.common import (
    BORDER,
    BORDER_GREY,
    MIN_TILE,
    PAIR_GAP,
    TITLE_BAND,
    PathLike,
    _check_images,
    _check_png_path,
    _new_figure,
    _rows_height,
    _save_figure,
    _save_image,
)


def _auto_scale(height: int, width: int, scale: int | None) -> int:
    if scale is None:
        return max(1, math.ceil(MIN_TILE / min(height, width)))
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer upscaling factor; got {scale!r}")
    return int(scale)


def _to_uint8(tile: np.ndarray, scale: int) -> np.ndarray:
    """[C, H, W] floats in [0, 1] -> [H*scale, W*scale, C] bytes, nearest-neighbour upscaled."""
    out = np.rint(tile * 255.0).astype(np.uint8).transpose(1, 2, 0)
    return out.repeat(scale, axis=0).repeat(scale, axis=1)


def _mosaic(rows: Sequence[Sequence[np.ndarray | None]], scale: int, gaps: Sequence[int] = ()) -> np.ndarray:
    """Tiles [C, H, W] laid out row by row with a grey border; ``None`` leaves a cell blank.

    ``gaps[r]`` adds that many extra border pixels below row ``r``. Returns ``[height, width, C]`` uint8.
    """
    first = next(t for row in rows for t in row if t is not None)
    c, h, w = first.shape
    th, tw = h * scale, w * scale
    ncol = max(len(row) for row in rows)
    extra = [gaps[r] if r < len(gaps) else 0 for r in range(len(rows))]
    height = len(rows) * th + (len(rows) + 1) * BORDER + sum(extra)
    width = ncol * tw + (ncol + 1) * BORDER
    out = np.full((height, width, c), BORDER_GREY, dtype=np.uint8)
    y = BORDER
    for r, row in enumerate(rows):
        for col, tile in enumerate(row):
            if tile is not None:
                x = BORDER + col * (tw + BORDER)
                out[y : y + th, x : x + tw] = _to_uint8(tile, scale)
        y += th + BORDER + extra[r]
    return out


def _font(size: int = 14) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _grid_image(mosaic: np.ndarray, title: str | None) -> Image.Image:
    # No mode argument: Pillow infers L from [H, W] and RGB from [H, W, 3] (the argument was deprecated in 11.3).
    grid = Image.fromarray(mosaic[..., 0] if mosaic.shape[2] == 1 else mosaic)
    mode = grid.mode
    if not title:
        return grid
    font = _font()
    left, top, right, bottom = ImageDraw.Draw(grid).textbbox((0, 0), title, font=font)
    width = max(grid.width, int(right - left) + 2 * BORDER + 8)  # textbbox at (0, 0) gives whole pixels
    white = 255 if mode == "L" else (255, 255, 255)
    out = Image.new(mode, (width, grid.height + TITLE_BAND), white)
    out.paste(grid, ((width - grid.width) // 2, TITLE_BAND))
    black = 0 if mode == "L" else (0, 0, 0)
    # Centred from the measured box rather than anchor="mm", which Pillow's bitmap fallback font rejects.
    xy = ((width - (right - left)) // 2 - left, (TITLE_BAND - (bottom - top)) // 2 - top)
    ImageDraw.Draw(out).text(xy, title, fill=black, font=font)
    return out


def image_grid(
    images,
    path: PathLike,
    *,
    nrow: int | None = None,
    scale: int | None = None,
    title: str | None = None,
) -> Path:
    """Write images as a grid with a thin grey border, upscaled so each tile is at least 56 px.

    The grid is filled row by row; blank cells at the end are grey. Each image is upscaled by an integer
    factor with nearest-neighbour sampling, so pixels stay sharp squares. The PNG is mode ``L`` for grey
    images and ``RGB`` for colour ones, and its size is exactly
    ``(ncol * W * scale + (ncol + 1) * 2, nrows * H * scale + (nrows + 1) * 2)`` pixels, plus a 24 px band on top
    (and enough width for the text) when there is a title.

    Args:
        images: ``[N, C, H, W]`` floats in [0, 1], ``C`` in (1, 3), e.g. samples ``px_z.probs``.
        path: the ``.png`` file to write; its folder is created if needed.
        nrow: images per row, as in torchvision's ``make_grid``; default ``ceil(sqrt(N))``.
        scale: integer upscaling factor; default ``ceil(56 / min(H, W))`` (7 for 8x8, 2 for 28x28).
        title: optional text drawn above the grid.

    Returns:
        The `Path` written.

    Example:
        >>> image_grid(np.random.rand(16, 1, 8, 8), "samples.png")  # 4x4 tiles of 56 px: 234x234 px
        PosixPath('samples.png')
    """
    path = _check_png_path(path)
    imgs = _check_images(images, "images")
    n, _, h, w = imgs.shape
    if nrow is None:
        ncol = math.ceil(math.sqrt(n))
    elif isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1:
        raise ValueError(f"nrow (images per row) must be a positive integer; got {nrow!r}")
    else:
        ncol = min(int(nrow), n)
    s = _auto_scale(h, w, scale)
    tiles = list(imgs)
    rows = [tiles[i : i + ncol] for i in range(0, n, ncol)]
    return _save_image(_grid_image(_mosaic(rows, s), title), path)


def reconstructions(
    inputs,
    outputs,
    path: PathLike,
    *,
    ncol: int = 8,
    scale: int | None = None,
    title: str | None = None,
) -> Path:
    """Write inputs above their reconstructions: pairs of rows, input row then reconstruction row.

    Image ``i`` sits in column ``i % ncol`` of pair ``i // ncol``; the reconstruction is directly below its input
    and a wider grey gap separates one pair of rows from the next.

    Args:
        inputs: ``[N, C, H, W]`` floats in [0, 1], the data ``x``.
        outputs: ``[N, C, H, W]`` floats in [0, 1], the decoder's mean (e.g. ``px_z.probs``) for each ``x``.
        path: the ``.png`` file to write.
        ncol: images per row.
        scale: integer upscaling factor; default as in `image_grid`.
        title: optional text drawn above the grid.

    Returns:
        The `Path` written.

    Example:
        >>> reconstructions(x, px_z.probs.detach().numpy(), "reconstructions.png")
    """
    path = _check_png_path(path)
    x = _check_images(inputs, "inputs")
    y = _check_images(outputs, "outputs")
    if x.shape != y.shape:
        raise ValueError(
            f"inputs and outputs must have the same shape [N, C, H, W]; got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if isinstance(ncol, bool) or not isinstance(ncol, (int, np.integer)) or ncol < 1:
        raise ValueError(f"ncol must be a positive integer; got {ncol!r}")
    n, _, h, w = x.shape
    ncol = min(int(ncol), n)
    s = _auto_scale(h, w, scale)
    rows, gaps = [], []
    for i in range(0, n, ncol):
        rows += [list(x[i : i + ncol]), list(y[i : i + ncol])]
        gaps += [0, PAIR_GAP]
    gaps[-1] = 0
    return _save_image(_grid_image(_mosaic(rows, s, gaps), title), path)


def interpolations(rows, path: PathLike, *, scale: int | None = None, title: str | None = None) -> Path:
    """Write one row per interpolation: S decoded images from one test point (left) to another (right).

    Args:
        rows: ``[R, S, C, H, W]`` floats in [0, 1]; ``rows[r, 0]`` and ``rows[r, -1]`` decode the two end points.
        path: the ``.png`` file to write.
        scale: integer upscaling factor; default as in `image_grid`.
        title: optional text drawn above the grid.

    Returns:
        The `Path` written; its size is that of an R x S `image_grid`.
    """
    path = _check_png_path(path)
    arr = _check_images(rows, "rows", ndim=5)
    s = _auto_scale(arr.shape[3], arr.shape[4], scale)
    return _save_image(_grid_image(_mosaic([list(r) for r in arr], s), title), path)


def manifold(images, path: PathLike, *, scale: int | None = None, title: str | None = None) -> Path:
    """Write the decoded G x G grid of a 2-D latent space.

    Args:
        images: ``[G*G, C, H, W]`` floats in [0, 1], row-major: ``images[i * G + j]`` is the decoding of the
            ``i``-th z2 value and ``j``-th z1 value, as the caller laid them out.
        path: the ``.png`` file to write.
        scale: integer upscaling factor; default as in `image_grid`.
        title: optional text drawn above the grid.

    Returns:
        The `Path` written.
    """
    path = _check_png_path(path)
    imgs = _check_images(images, "images")
    g = math.isqrt(imgs.shape[0])
    if g * g != imgs.shape[0]:
        raise ValueError(f"images must hold a square number G*G of decodings; got N = {imgs.shape[0]}")
    return image_grid(imgs, path, nrow=g, scale=scale, title=title)


def traversals(
    grid,
    path: PathLike,
    *,
    dims: Sequence[int],
    values: Sequence[float],
    kl: Sequence[float] | None = None,
    title: str = "Latent traversals",
) -> Path:
    """Write latent traversals: one row per latent dimension, one column per value given to it.

    Row ``l`` varies dimension ``dims[l]`` over ``values`` while the other dimensions stay fixed; the row is
    labelled ``z{d}`` and, when ``kl`` is given, with that dimension's KL(q(z_d|x) || p(z_d)) in nats, so
    inactive (collapsed) dimensions, whose rows do not change, are easy to tell apart.

    Args:
        grid: ``[L, S, C, H, W]`` floats in [0, 1], decoded images.
        path: the ``.png`` file to write.
        dims: ``[L]`` latent dimension indices, one per row.
        values: ``[S]`` z values, one per column.
        kl: ``[L]`` per-dimension KL in nats per datapoint, or ``None``.
        title: the figure title.

    Returns:
        The `Path` written: 800 px wide, height a multiple of 50 px growing with L.
    """
    path = _check_png_path(path)
    arr = _check_images(grid, "grid", ndim=5)
    num_dims, num_values, c, h, w = arr.shape
    dims = [int(d) for d in dims]
    values = [float(v) for v in values]
    if len(dims) != num_dims:
        raise ValueError(f"dims has {len(dims)} entries but grid has L = {num_dims} rows")
    if len(values) != num_values:
        raise ValueError(f"values has {len(values)} entries but grid has S = {num_values} columns")
    if kl is not None:
        kl = [float(k) for k in kl]
        if len(kl) != num_dims:
            raise ValueError(f"kl has {len(kl)} entries but grid has L = {num_dims} rows")
    mosaic = _mosaic([list(r) for r in arr], 1)
    # The axes are about 6.4 in wide after the row labels; the rows take the height that keeps pixels square.
    fig = _new_figure(_rows_height(num_dims, 6.4 * (h + BORDER) / (num_values * (w + BORDER)), 1.0))
    ax = fig.add_subplot()
    image = mosaic[..., 0] if c == 1 else mosaic
    ax.imshow(image, cmap="gray" if c == 1 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([BORDER + j * (w + BORDER) + (w - 1) / 2 for j in range(num_values)])
    ax.set_xticklabels([f"{v:.3g}" for v in values])
    ax.set_yticks([BORDER + i * (h + BORDER) + (h - 1) / 2 for i in range(num_dims)])
    if kl is None:
        ax.set_yticklabels([f"z{d}" for d in dims])
    else:
        ax.set_yticklabels([f"z{d}  KL {k:.2f} nats" for d, k in zip(dims, kl)])
    ax.tick_params(length=0)
    ax.set_xlabel("value given to the traversed dimension (others fixed)")
    ax.set_ylabel("latent dimension")
    ax.set_title(title)
    return _save_figure(fig, path)
