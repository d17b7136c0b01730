"""The reliability diagram of a classifier: accuracy against confidence per confidence bin (Guo et al. 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.plots.common import PathLike, _check_png_path, _new_figure, _save_figure


def reliability_diagram(edges: Sequence[float], accuracy: Sequence[float | None], confidence: Sequence[float | None],
                        count: Sequence[int], path: PathLike, *, title: str) -> Path:
    """Write a reliability diagram: per confidence bin, a bar of its accuracy (fraction correct) beside the
    diagonal of perfect calibration, with the bin's mean confidence marked, and the points per bin below.

    Args:
        edges: the M + 1 bin edges on [0, 1].
        accuracy, confidence: per bin, the accuracy and mean confidence of its points (None for an empty bin).
        count: points per bin.
        path: the ``.png`` file to write.
        title: the figure title (say the split and the expected calibration error).

    Returns:
        The `Path` written: 800 x 450 px.
    """
    path = _check_png_path(path)
    bounds = np.asarray(edges, dtype=np.float64)
    m = len(bounds) - 1
    if m < 1 or not (len(accuracy) == len(confidence) == len(count) == m):
        raise ValueError(f"need M + 1 edges and M values per bin; got {len(bounds)} edges, {len(accuracy)} accuracies, "
                         f"{len(confidence)} confidences, {len(count)} counts")
    if np.any(np.diff(bounds) <= 0) or bounds[0] < 0 or bounds[-1] > 1:
        raise ValueError("edges must increase within [0, 1]")
    filled = [i for i in range(m) if count[i]]
    left, width = bounds[:-1], np.diff(bounds)
    fig = _new_figure(4.5)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(left[filled], [accuracy[i] for i in filled], width=width[filled], align="edge", color="C0", alpha=0.8,
            edgecolor="white", label="accuracy")
    top.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
    top.plot([confidence[i] for i in filled], [accuracy[i] for i in filled], "o", color="C3", markersize=4,
             label="mean confidence")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.bar(left, list(count), width=width, align="edge", color="0.6", edgecolor="white")
    bottom.set_xlabel("confidence max_y p(y|x)")
    bottom.set_ylabel("points")
    bottom.grid(alpha=0.3)
    return _save_figure(fig, path)
