"""Figures with axes drawn with matplotlib: latent map, per-feature histograms, correlations, training curves,
histograms of per-datapoint values.

Figures use matplotlib's object API (`matplotlib.figure.Figure` on a `FigureCanvasAgg`), never `pyplot`, so no
global backend is selected, no display is needed and several threads can draw at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib import colormaps

from vaekit.plots.common import (
    PathLike,
    _as_array,
    _check_finite,
    _check_names,
    _check_png_path,
    _check_table,
    _new_figure,
    _rows_height,
    _save_figure,
)


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
                if handle is not None:  # None only for an artist matplotlib has no legend handler for
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


def training_curves(history: Sequence[Mapping[str, float]], path: PathLike,
                    panels: Sequence[tuple[str, str]] = _CURVE_PANELS) -> Path:
    """Write one panel per figure against epoch (by default three: ELBO, reconstruction term and KL), train and
    validation lines.

    Keys looked up in each per-epoch dict: ``epoch``, and ``train_<key>``, ``valid_<key>`` for each panel's key
    (by default ``elbo``, ``reconstruction``, ``kl``), all in nats per datapoint. A key missing from an epoch
    (or set to ``None``) leaves that point out; a line never recorded is not drawn; without ``epoch`` the
    epochs are numbered 1, 2, ...

    Args:
        panels: (key, title) of each panel, one to four.

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

    if not 1 <= len(panels) <= 4:
        raise ValueError(f"panels must name one to four figures; got {len(panels)}")
    fig = _new_figure(3.5)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (key, name) in zip(axes, panels):
        drawn = False
        for split, style in (("train", "-"), ("valid", "--")):
            pts = [(e, row.get(f"{split}_{key}")) for e, row in zip(epochs, history)]
            pts = [(e, float(v)) for e, v in pts if v is not None]
            if pts:
                ex, vy = zip(*pts)
                label = "train" if split == "train" else "validation"
                ax.plot(ex, vy, style, marker="o" if len(pts) < 20 else None, markersize=3, label=label)
                drawn = True
        if drawn:  # a fixed place: loc='best' searches every point, slowly (and warns) on long runs
            ax.legend(fontsize=8, loc="lower right")
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
    ax.hist(v, bins=edges, color="C0", alpha=0.8)  # type: ignore[arg-type]  # the stub omits arrays; bins takes one
    ax.axvline(mean, color="C3", linewidth=2, label=f"mean {mean:.4g}")
    ax.legend(loc="upper left")  # not 'best': it searches every bar, slowly (and warns) on large arrays
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"count (of {v.size})")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save_figure(fig, path)
