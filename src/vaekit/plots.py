"""Pictures for reports: numpy arrays in, one PNG file out.

Every public function validates its arrays, draws one picture, writes it atomically (a temporary file in the
same folder, ``fsync``, ``os.replace``) and returns the `Path` it wrote. A reader of the folder therefore sees
either the old file or the new one, never half a PNG.

Image arrays are floats in [0, 1] shaped ``[N, C, H, W]`` with ``C`` in (1, 3): the layout a decoder's
``probs`` or ``loc`` comes out in (take ``sigmoid(logits)`` first). Grids of images are drawn with Pillow and
upscaled with nearest-neighbour so that an 8x8 digit is still visible on a web page; figures with axes are
drawn with matplotlib's object API (`matplotlib.figure.Figure` on a `FigureCanvasAgg`), never `pyplot`, so this
module selects no global backend, needs no display and can be called from several threads.

Figures are 800 px wide at 100 dpi; their heights are whole multiples of 50 px so that the pixel size is
exactly ``figsize * dpi``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from vaekit.files import atomic_write

__all__ = [
    "correlation_matrices",
    "histogram",
    "image_grid",
    "interpolations",
    "latent_map",
    "manifold",
    "reconstructions",
    "tabular_histograms",
    "training_curves",
    "traversals",
]

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
    canvas = fig.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return _save_image(Image.fromarray(np.ascontiguousarray(rgba)).convert("RGB"), path)


def _rows_height(num_rows: int, per_row: float, extra: float) -> float:
    """A figure height in whole half-inches (50 px), so the saved size is exactly figsize * dpi."""
    return math.ceil(2 * (num_rows * per_row + extra)) / 2


# ------------------------------------------------------------------------------------------ image mosaics


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
    width = max(grid.width, right - left + 2 * BORDER + 8)
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


# ---------------------------------------------------------------------------------------------- figures


def latent_map(
    points,
    path: PathLike,
    *,
    labels=None,
    title: str,
    basis: Literal["z", "pca"] = "z",
) -> Path:
    """Write a scatter plot of 2-D posterior means, coloured by class label when labels are given.

    With at most 10 distinct labels each gets its own colour and a legend entry; with more, a colour bar.

    Args:
        points: ``[N, 2]`` posterior means ``qz_x.loc``, either a 2-D latent itself (``basis="z"``, axes
            "z1"/"z2") or its projection on two principal components (``basis="pca"``, axes "PC 1"/"PC 2").
        path: the ``.png`` file to write.
        labels: ``[N]`` integer class labels, or ``None`` for one colour.
        title: the figure title, e.g. ``"Posterior means, test set"``.
        basis: ``"z"`` or ``"pca"``, which only sets the axis labels.

    Returns:
        The `Path` written: 800 x 700 px.
    """
    path = _check_png_path(path)
    pts = _as_array(points, "points")
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 1:
        raise ValueError(f"points must be shaped [N, 2] with N >= 1; got shape {tuple(pts.shape)}")
    _check_finite(pts, "points")
    if basis not in ("z", "pca"):
        raise ValueError(f"basis must be 'z' or 'pca'; got {basis!r}")
    lab = None
    if labels is not None:
        lab = _as_array(labels, "labels")
        if lab.shape != (pts.shape[0],):
            raise ValueError(f"labels must be shaped [N] = [{pts.shape[0]}]; got shape {tuple(lab.shape)}")
        _check_finite(lab, "labels")
        if not np.all(lab == np.round(lab)):
            raise ValueError("labels must be integer class labels; got non-integer values")
        lab = lab.astype(np.int64)

    fig = _new_figure(7.0)
    ax = fig.add_subplot()
    size = float(np.clip(4000 / len(pts), 2, 30))  # marker area: small for many points, visible for few
    if lab is None:
        ax.scatter(pts[:, 0], pts[:, 1], s=size, alpha=0.6, linewidths=0, rasterized=True)
    else:
        classes = np.unique(lab)
        if len(classes) <= 10:
            for i, k in enumerate(classes):
                sel = lab == k
                ax.scatter(
                    pts[sel, 0], pts[sel, 1], s=size, alpha=0.6, linewidths=0, color=f"C{i}", label=str(k),
                    rasterized=True,
                )
            legend = ax.legend(title="label", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2)
            for handle in legend.legend_handles:
                handle.set_alpha(1.0)
        else:
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=lab, cmap="viridis", s=size, alpha=0.6, linewidths=0,
                            rasterized=True)
            fig.colorbar(sc, ax=ax, label="label")
    x_name, y_name = ("z1", "z2") if basis == "z" else ("PC 1", "PC 2")
    unit = "posterior mean" if basis == "z" else "of posterior means"
    ax.set_xlabel(f"{x_name} ({unit})")
    ax.set_ylabel(f"{y_name} ({unit})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save_figure(fig, path)


def tabular_histograms(
    real,
    generated,
    path: PathLike,
    *,
    names: Sequence[str] | None = None,
    max_features: int = 16,
    bins: int = 30,
) -> Path:
    """Write one panel per feature: histograms of real and generated values overlaid on shared bins.

    Both histograms are normalised to densities, so sample sizes may differ. Four panels per row; only the
    first ``max_features`` features are drawn, and the title says so when some are left out.

    Args:
        real: ``[N, F]`` real data.
        generated: ``[M, F]`` samples from the model, same F.
        path: the ``.png`` file to write.
        names: ``[F]`` feature names, or ``None`` for "feature i".
        max_features: the most panels to draw.
        bins: bins per histogram.

    Returns:
        The `Path` written: 800 px wide, ``(0.5 + 2 * ceil(k / 4)) * 100`` px high for k panels.
    """
    path = _check_png_path(path)
    x = _check_table(real, "real")
    y = _check_table(generated, "generated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real and generated must have the same features F; got {x.shape[1]} and {y.shape[1]}")
    names = _check_names(names, x.shape[1])
    if isinstance(max_features, bool) or not isinstance(max_features, (int, np.integer)) or max_features < 1:
        raise ValueError(f"max_features must be a positive integer; got {max_features!r}")
    k = min(x.shape[1], int(max_features))
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    fig = _new_figure(_rows_height(nrows, 2.0, 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.set_axis_off()
            continue
        edges = np.histogram_bin_edges(np.concatenate([x[:, i], y[:, i]]), bins=bins)
        ax.hist(x[:, i], bins=edges, density=True, alpha=0.5, color="C0", label="real")
        ax.hist(y[:, i], bins=edges, density=True, histtype="step", linewidth=1.5, color="C1", label="generated")
        ax.set_title(names[i], fontsize=9)
        ax.tick_params(labelsize=7)
        if i % ncols == 0:
            ax.set_ylabel("density", fontsize=8)
    handles, legend_labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="outside lower center", ncols=2, fontsize=8)
    shown = f" (first {k} of {x.shape[1]} features)" if k < x.shape[1] else ""
    fig.suptitle(f"Per-feature distributions, real vs generated{shown}", fontsize=11)
    return _save_figure(fig, path)


def _correlation(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns; NaN where a column is constant (np.corrcoef would warn)."""
    centred = x - x.mean(axis=0)
    std = np.sqrt((centred**2).mean(axis=0))
    ok = std > 0
    z = np.zeros_like(centred)
    z[:, ok] = centred[:, ok] / std[ok]
    corr = np.clip(z.T @ z / x.shape[0], -1.0, 1.0)
    corr[~ok, :] = np.nan
    corr[:, ~ok] = np.nan
    return corr


def correlation_matrices(real, generated, path: PathLike, *, names: Sequence[str] | None = None) -> Path:
    """Write the real and generated Pearson correlation matrices side by side on one colour scale [-1, 1].

    Constant features have no correlation and are drawn grey. The right panel's title gives the mean absolute
    difference between the two matrices over the off-diagonal entries both define.

    Args:
        real: ``[N, F]`` real data, N >= 2.
        generated: ``[M, F]`` samples from the model, M >= 2, same F.
        path: the ``.png`` file to write.
        names: ``[F]`` feature names for the ticks (drawn when F <= 30), or ``None``.

    Returns:
        The `Path` written: 800 x 400 px.
    """
    path = _check_png_path(path)
    x = _check_table(real, "real", min_rows=2)
    y = _check_table(generated, "generated", min_rows=2)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real and generated must have the same features F; got {x.shape[1]} and {y.shape[1]}")
    f = x.shape[1]
    names = _check_names(names, f)
    cx, cy = _correlation(x), _correlation(y)
    off = ~np.eye(f, dtype=bool) & np.isfinite(cx) & np.isfinite(cy)
    diff = f"mean |difference| {np.abs(cx - cy)[off].mean():.3f}" if off.any() else "no off-diagonal pairs"

    fig = _new_figure(4.0)
    axes = fig.subplots(1, 2)
    cmap = _diverging_cmap()
    for ax, corr, name in zip(axes, (cx, cy), ("real", f"generated ({diff})")):
        im = ax.imshow(corr, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        if f <= 30:
            ax.set_xticks(range(f), names, rotation=90, fontsize=7)
            ax.set_yticks(range(f), names, fontsize=7)
        else:
            ax.set_xlabel("feature index")
            ax.set_ylabel("feature index")
    fig.colorbar(im, ax=list(axes), label="Pearson correlation", shrink=0.9)
    fig.suptitle("Feature correlations", fontsize=11)
    return _save_figure(fig, path)


def _diverging_cmap():
    # with_extremes returns a new colormap: the registered one is shared by every user in the process.
    return colormaps["RdBu_r"].with_extremes(bad="0.8")


_CURVE_PANELS = (
    ("elbo", "ELBO"),
    ("reconstruction", "Reconstruction term"),
    ("kl", "KL(q(z|x) || p(z))"),
)


def training_curves(history: Sequence[Mapping[str, float]], path: PathLike) -> Path:
    """Write three panels against epoch: ELBO, reconstruction term and KL, train and validation lines.

    Keys looked up in each per-epoch dict: ``epoch``, ``train_elbo``, ``valid_elbo``, ``train_reconstruction``,
    ``valid_reconstruction``, ``train_kl``, ``valid_kl``, all in nats per datapoint. A key missing from an epoch
    (or set to ``None``) leaves that point out; a line never recorded is not drawn; without ``epoch`` the
    epochs are numbered 1, 2, ...

    Args:
        history: per-epoch dicts, in order, at least one.
        path: the ``.png`` file to write.

    Returns:
        The `Path` written: 800 x 350 px.

    Example:
        >>> training_curves([{"epoch": 1, "train_elbo": -120.3, "valid_elbo": -118.9}], "curves.png")
    """
    path = _check_png_path(path)
    if isinstance(history, Mapping) or not isinstance(history, Sequence) or len(history) == 0:
        raise ValueError("history must be a non-empty list of per-epoch dicts")
    for i, row in enumerate(history):
        if not isinstance(row, Mapping):
            raise ValueError(  # noqa: TRY004 - every bad input to a plot is a ValueError here
                f"history[{i}] must be a dict of per-epoch values; got {type(row).__name__}")
    epochs = [float(i + 1 if row.get("epoch") is None else row["epoch"]) for i, row in enumerate(history)]

    fig = _new_figure(3.5)
    axes = fig.subplots(1, 3)
    for ax, (key, name) in zip(axes, _CURVE_PANELS):
        drawn = False
        for split, style in (("train", "-"), ("valid", "--")):
            pts = [(e, row.get(f"{split}_{key}")) for e, row in zip(epochs, history)]
            pts = [(e, float(v)) for e, v in pts if v is not None]
            if pts:
                ex, vy = zip(*pts)
                label = "train" if split == "train" else "validation"
                ax.plot(ex, vy, style, marker="o" if len(pts) < 20 else None, markersize=3, label=label)
                drawn = True
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="0.5")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per datapoint")
        ax.grid(alpha=0.3)
    return _save_figure(fig, path)


def histogram(values, path: PathLike, *, xlabel: str, title: str, bins: int | None = None) -> Path:
    """Write a histogram of one value per datapoint with the mean marked by a vertical line.

    Typical use: the per-datapoint gap ``log p(x) - ELBO`` in nats.

    Args:
        values: ``[N]`` finite values (any shape is flattened).
        path: the ``.png`` file to write.
        xlabel: the axis label with units, e.g. ``"IWAE bound - ELBO (nats)"``.
        title: the figure title.
        bins: the number of equal-width bins; default ``sqrt(N)`` clipped to [10, 50]. (Not numpy's "auto",
            which can ask for millions of bins when a few outliers sit far from a narrow bulk.)

    Returns:
        The `Path` written: 800 x 400 px.
    """
    path = _check_png_path(path)
    v = _as_array(values, "values").ravel()
    if v.size == 0:
        raise ValueError("values is empty; a histogram needs at least one value")
    _check_finite(v, "values")
    if bins is None:
        bins = int(np.clip(math.ceil(math.sqrt(v.size)), 10, 50))
    elif isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer; got {bins!r}")
    edges = np.histogram_bin_edges(v, bins=int(bins))
    mean = float(v.mean())
    fig = _new_figure(4.0)
    ax = fig.add_subplot()
    ax.hist(v, bins=edges, color="C0", alpha=0.8)
    ax.axvline(mean, color="C3", linewidth=2, label=f"mean {mean:.4g}")
    ax.legend()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"count (of {v.size})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save_figure(fig, path)
