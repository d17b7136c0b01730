"""Curves of several runs overlaid on shared axes: one panel per figure, one line per run."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from vaekit.plots.common import PathLike, _check_png_path, _new_figure, _rows_height, _save_figure

_STYLES = ("-", "--", "-.", ":")  # with the colours, so that lines stay apart in grey print and for colour-blindness


def overlaid_curves(panels: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]], path: PathLike, *,
                    xlabel: str = "epoch", ylabel: str = "nats per datapoint") -> Path:
    """Write one panel per entry of `panels` (title -> run label -> (x, y) points), each run one line.

    Panels are laid out two to a row. A run without points in a panel is left out of it; non-finite points
    are dropped.

    Args:
        panels: at least one panel; e.g. {"validation ELBO": {"run-a": [(1, -120.5), (2, -110.2)]}}.
        path: the ``.png`` file to write.
        xlabel: the x axis's label.
        ylabel: the y axis's label (with its unit).

    Returns:
        The `Path` written: 800 px wide, 350 px tall per row of panels.

    Example:
        >>> overlaid_curves({"validation ELBO": {"a": [(1, -90.0), (2, -85.0)]}}, "curves.png")
    """
    path = _check_png_path(path)
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must be a non-empty mapping of panel title -> run label -> points")
    columns = min(2, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = _new_figure(_rows_height(rows, 3.5, 0.0))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    labels = list(dict.fromkeys(label for lines in panels.values() for label in lines))
    for ax, (title, lines) in zip(axes, panels.items()):
        for label, points in lines.items():
            finite = [(float(x), float(y)) for x, y in points if math.isfinite(x) and math.isfinite(y)]
            if not finite:
                continue
            k = labels.index(label)
            xs, ys = zip(*finite)
            ax.plot(xs, ys, _STYLES[k % len(_STYLES)], color=f"C{k % 10}", label=label,
                    marker="o" if len(finite) < 20 else None, markersize=3)
        if ax.lines:  # a fixed place: loc='best' searches every point, slowly (and warns) on long runs
            ax.legend(fontsize=8, loc="lower right")
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="0.5")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return _save_figure(fig, path)


__all__ = ["overlaid_curves"]
