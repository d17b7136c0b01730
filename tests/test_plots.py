"""`vaekit.plots`: each function writes one valid PNG of the size it promises, atomically, and rejects bad shapes.

Pillow grids have a size that follows from the tiles: ``n * tile + (n + 1) * BORDER`` along each axis, with
tiles upscaled to at least 56 px. Matplotlib figures are ``figsize * dpi`` pixels.
"""

import os
import stat
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit import plots
from vaekit.plots import BORDER, BORDER_GREY, DPI, PAIR_GAP, TITLE_BAND


def _rng():
    return np.random.default_rng(0)


def _imgs(*shape):
    return _rng().random(shape)


def _table(n, f, seed=0):
    return np.random.default_rng(seed).normal(size=(n, f))


def _history():
    return [
        {
            "epoch": e,
            "train_elbo": -100.0 - 10 / e,
            "valid_elbo": -102.0 - 10 / e,
            "train_reconstruction": -90.0 - 10 / e,
            "valid_reconstruction": -92.0 - 10 / e,
            "train_kl": 10.0,
            "valid_kl": 10.0,
        }
        for e in range(1, 6)
    ]


def _grid_px(count, side):
    """Pixels along one axis of a Pillow grid: ``count`` tiles of ``side`` px with borders between and around."""
    return count * side + (count + 1) * BORDER


def _fig_px(width_in, height_in):
    return (round(width_in * DPI), round(height_in * DPI))


# (id, call(path) -> Path, PNG mode, (width, height) in px)
CASES = [
    # 10 grey 8x8 images: ceil(sqrt(10)) = 4 per row, 3 rows, upscaled x7 to 56 px.
    ("image_grid-grey", lambda p: plots.image_grid(_imgs(10, 1, 8, 8), p), "L", (_grid_px(4, 56), _grid_px(3, 56))),
    (
        "image_grid-rgb-nrow-scale",
        lambda p: plots.image_grid(_imgs(5, 3, 6, 4), p, nrow=5, scale=3),
        "RGB",
        (_grid_px(5, 12), _grid_px(1, 18)),
    ),
    # 28x28 is upscaled x2; a single image is a 1x1 grid.
    ("image_grid-one-28px", lambda p: plots.image_grid(_imgs(1, 1, 28, 28), p), "L", (_grid_px(1, 56),) * 2),
    (
        "image_grid-torch",
        lambda p: plots.image_grid(torch.rand(4, 1, 8, 8, requires_grad=True), p),
        "L",
        (_grid_px(2, 56),) * 2,
    ),
    # 5 pairs in rows of 3: 2 pairs = 4 rows, with a wider gap between the pairs.
    (
        "reconstructions",
        lambda p: plots.reconstructions(_imgs(5, 1, 8, 8), _imgs(5, 1, 8, 8), p, ncol=3),
        "L",
        (_grid_px(3, 56), _grid_px(4, 56) + PAIR_GAP),
    ),
    (
        "interpolations",
        lambda p: plots.interpolations(_imgs(2, 5, 1, 8, 8), p),
        "L",
        (_grid_px(5, 56), _grid_px(2, 56)),
    ),
    ("manifold-rgb", lambda p: plots.manifold(_imgs(9, 3, 8, 8), p), "RGB", (_grid_px(3, 56),) * 2),
    (
        "traversals",
        lambda p: plots.traversals(_imgs(3, 4, 1, 8, 8), p, dims=[0, 2, 5], values=[-2, -1, 1, 2], kl=[1.2, 0.0, 3.4]),
        "RGB",
        _fig_px(8, 6),
    ),
    (
        "traversals-rgb-no-kl",
        lambda p: plots.traversals(_imgs(1, 7, 3, 8, 8), p, dims=[4], values=np.linspace(-3, 3, 7)),
        "RGB",
        _fig_px(8, 2),
    ),
    (
        "latent_map-labels",
        lambda p: plots.latent_map(_table(60, 2), p, labels=np.arange(60) % 3, title="Posterior means"),
        "RGB",
        _fig_px(8, 7),
    ),
    (
        "latent_map-many-labels-pca",
        lambda p: plots.latent_map(_table(60, 2), p, labels=np.arange(60) % 12, title="PCA", basis="pca"),
        "RGB",
        _fig_px(8, 7),
    ),
    ("latent_map-unlabelled", lambda p: plots.latent_map(_table(1, 2), p, title="one point"), "RGB", _fig_px(8, 7)),
    # 5 features: 4 panels per row, 2 rows of 2 in plus 0.5 in for title and legend.
    (
        "tabular_histograms",
        lambda p: plots.tabular_histograms(_table(50, 5), _table(40, 5, seed=1), p, names=list("abcde")),
        "RGB",
        _fig_px(8, 4.5),
    ),
    (
        "tabular_histograms-max-features",
        lambda p: plots.tabular_histograms(_table(50, 20), _table(40, 20, seed=1), p, max_features=3),
        "RGB",
        _fig_px(8, 2.5),
    ),
    (
        "correlation_matrices",
        lambda p: plots.correlation_matrices(_table(50, 4), _table(40, 4, seed=1), p, names=["a", "b", "c", "d"]),
        "RGB",
        _fig_px(8, 4),
    ),
    (
        # A constant feature has no correlation: drawn grey, and no division warning.
        "correlation_matrices-constant-many",
        lambda p: plots.correlation_matrices(np.c_[_table(50, 39), np.ones(50)], _table(40, 40, seed=1), p),
        "RGB",
        _fig_px(8, 4),
    ),
    ("training_curves", lambda p: plots.training_curves(_history(), p), "RGB", _fig_px(8, 3.5)),
    (
        # No epoch key, a value missing, and the KL panel never recorded.
        "training_curves-missing-keys",
        lambda p: plots.training_curves([{"train_elbo": -5.0}, {"train_elbo": -4.0, "valid_elbo": None}], p),
        "RGB",
        _fig_px(8, 3.5),
    ),
    (
        "histogram",
        lambda p: plots.histogram(_rng().gamma(2.0, size=200), p, xlabel="IWAE - ELBO (nats)", title="Gap"),
        "RGB",
        _fig_px(8, 4),
    ),
    (
        "histogram-constant",
        lambda p: plots.histogram(np.zeros(3), p, xlabel="nats", title="all equal"),
        "RGB",
        _fig_px(8, 4),
    ),
]


@pytest.mark.parametrize(("call", "mode", "size"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_writes_png(tmp_path, call, mode, size):
    path = tmp_path / "out" / "picture.png"  # the folder is created

    assert call(path) == path

    with Image.open(path) as im:
        assert (im.format, im.mode, im.size) == ("PNG", mode, size)
        im.load()
        assert len(np.unique(np.asarray(im))) > 2, "the picture is blank"
    # Atomic write: the temporary file was renamed onto the target, nothing else is left.
    assert [p.name for p in path.parent.iterdir()] == ["picture.png"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_image_grid_layout_and_nearest_upscaling(tmp_path):
    values = np.linspace(0.0, 1.0, 5)  # image i is uniformly values[i]
    images = np.broadcast_to(values[:, None, None, None], (5, 1, 4, 4)).copy()
    images[0, 0, 0, 0] = 1.0  # one bright pixel, upscaled x3 into a 3x3 block

    plots.image_grid(images, tmp_path / "g.png", nrow=3, scale=3)

    with Image.open(tmp_path / "g.png") as im:
        a = np.asarray(im)
    assert a.shape == (_grid_px(2, 12), _grid_px(3, 12))
    for i, v in enumerate(values):
        r, c = divmod(i, 3)
        y, x = BORDER + r * (12 + BORDER), BORDER + c * (12 + BORDER)
        assert a[y + 6, x + 6] == round(255 * v)
    assert (a[BORDER : BORDER + 3, BORDER : BORDER + 3] == 255).all()
    assert a[BORDER + 3, BORDER] == 0
    assert (a[0, :] == BORDER_GREY).all() and (a[:, 0] == BORDER_GREY).all()
    assert (a[_grid_px(1, 12) :, BORDER + 2 * (12 + BORDER) :] == BORDER_GREY).all()  # the empty sixth cell


def test_image_grid_title_adds_a_band(tmp_path):
    plots.image_grid(_imgs(4, 1, 8, 8), tmp_path / "t.png", title="Samples from the prior p(z)")
    with Image.open(tmp_path / "t.png") as im:
        width, height = im.size
    assert height == _grid_px(2, 56) + TITLE_BAND
    assert width > _grid_px(2, 56)  # widened: the text is longer than two 56 px tiles


def test_overwrite_replaces_and_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "h.png"
    plots.histogram(np.arange(10.0), path, xlabel="x", title="first")
    first = path.read_bytes()
    plots.histogram(np.arange(20.0), path, xlabel="x", title="second")
    second = path.read_bytes()
    assert second != first

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(plots.common.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        plots.histogram(np.arange(30.0), path, xlabel="x", title="third")
    assert path.read_bytes() == second
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]


def test_threads_draw_the_same_pictures(tmp_path):
    calls = [
        lambda p: plots.training_curves(_history(), p),
        lambda p: plots.histogram(np.arange(50.0), p, xlabel="nats", title="h"),
        lambda p: plots.image_grid(_imgs(9, 3, 8, 8), p),
    ]
    expected = [call(tmp_path / f"seq{i}.png").read_bytes() for i, call in enumerate(calls)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda ic: ic[1](tmp_path / f"par{ic[0]}.png"), enumerate(calls)))
    assert [p.read_bytes() for p in paths] == expected


GOOD = np.zeros((2, 1, 8, 8))

BAD_CALLS = [
    ("images-3d", lambda p: plots.image_grid(np.zeros((2, 8, 8)), p), r"images must be shaped \[N, C, H, W\]"),
    ("images-2-channels", lambda p: plots.image_grid(np.zeros((2, 2, 8, 8)), p), r"C = 1 \(grey\) or 3 \(RGB\)"),
    ("images-0-255", lambda p: plots.image_grid(np.full((2, 1, 8, 8), 255.0), p), r"must lie in \[0, 1\]"),
    ("images-nan", lambda p: plots.image_grid(np.full((2, 1, 8, 8), np.nan), p), "must be finite"),
    ("images-empty", lambda p: plots.image_grid(np.zeros((0, 1, 8, 8)), p), "empty"),
    ("images-strings", lambda p: plots.image_grid([["a"]], p), "numeric array"),
    ("nrow-0", lambda p: plots.image_grid(GOOD, p, nrow=0), "nrow .* positive integer"),
    ("scale-float", lambda p: plots.image_grid(GOOD, p, scale=2.5), "scale must be a positive integer"),
    ("not-png", lambda p: plots.image_grid(GOOD, p.with_suffix(".jpg")), r"path must end in \.png"),
    (
        "reconstructions-mismatch",
        lambda p: plots.reconstructions(GOOD, np.zeros((3, 1, 8, 8)), p),
        "inputs and outputs must have the same shape",
    ),
    ("reconstructions-ncol", lambda p: plots.reconstructions(GOOD, GOOD, p, ncol=0), "ncol must be"),
    ("interpolations-4d", lambda p: plots.interpolations(GOOD, p), r"rows must be shaped \[R, S, C, H, W\]"),
    ("manifold-not-square", lambda p: plots.manifold(np.zeros((8, 1, 4, 4)), p), "square number G\\*G .* N = 8"),
    (
        "traversals-dims",
        lambda p: plots.traversals(np.zeros((3, 4, 1, 8, 8)), p, dims=[0, 1], values=[0, 1, 2, 3]),
        "dims has 2 entries but grid has L = 3",
    ),
    (
        "traversals-values",
        lambda p: plots.traversals(np.zeros((3, 4, 1, 8, 8)), p, dims=[0, 1, 2], values=[0, 1]),
        "values has 2 entries but grid has S = 4",
    ),
    (
        "traversals-kl",
        lambda p: plots.traversals(np.zeros((3, 4, 1, 8, 8)), p, dims=[0, 1, 2], values=[0, 1, 2, 3], kl=[1.0]),
        "kl has 1 entries",
    ),
    (
        "latent_map-3d-points",
        lambda p: plots.latent_map(np.zeros((5, 3)), p, title="t"),
        r"points must be shaped \[N, 2\]",
    ),
    (
        "latent_map-labels-length",
        lambda p: plots.latent_map(np.zeros((5, 2)), p, labels=np.zeros(4), title="t"),
        r"labels must be shaped \[N\] = \[5\]",
    ),
    (
        "latent_map-float-labels",
        lambda p: plots.latent_map(np.zeros((2, 2)), p, labels=[0.5, 1.0], title="t"),
        "integer class labels",
    ),
    ("latent_map-basis", lambda p: plots.latent_map(np.zeros((2, 2)), p, title="t", basis="tsne"), "basis must be"),
    (
        "tabular-features",
        lambda p: plots.tabular_histograms(np.zeros((5, 3)), np.zeros((5, 4)), p),
        "same features F; got 3 and 4",
    ),
    (
        "tabular-1d",
        lambda p: plots.tabular_histograms(np.zeros(5), np.zeros((5, 1)), p),
        r"real must be shaped \[N, F\]",
    ),
    (
        "tabular-names",
        lambda p: plots.tabular_histograms(np.zeros((5, 3)), np.zeros((5, 3)), p, names=["a"]),
        "names has 1 entries but the arrays have 3 features",
    ),
    (
        "tabular-max-features",
        lambda p: plots.tabular_histograms(np.zeros((5, 3)), np.zeros((5, 3)), p, max_features=0),
        "max_features must be",
    ),
    (
        "correlation-one-row",
        lambda p: plots.correlation_matrices(np.zeros((1, 3)), np.zeros((5, 3)), p),
        "real needs at least 2 rows",
    ),
    (
        "correlation-inf",
        lambda p: plots.correlation_matrices(np.zeros((5, 3)), np.full((5, 3), np.inf), p),
        "generated must be finite",
    ),
    ("curves-empty", lambda p: plots.training_curves([], p), "non-empty list"),
    ("curves-dict", lambda p: plots.training_curves({"epoch": 1}, p), "non-empty list"),
    ("curves-rows", lambda p: plots.training_curves([1.0, 2.0], p), r"history\[0\] must be a dict"),
    ("histogram-empty", lambda p: plots.histogram([], p, xlabel="x", title="t"), "values is empty"),
    ("histogram-bins", lambda p: plots.histogram([1.0], p, xlabel="x", title="t", bins=0), "bins must be"),
    ("histogram-nan", lambda p: plots.histogram([1.0, np.nan], p, xlabel="x", title="t"), "1 of 2 values are NaN"),
]


@pytest.mark.parametrize(("call", "match"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])
def test_bad_input_raises_before_writing(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []
