"""Folders of images (.png, .jpg, .jpeg), labelled by their sub-folders: headers read first, sizes checked against
the memory available, decompression bombs refused."""

from __future__ import annotations

import contextlib
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from vaekit.errors import DataError
from vaekit.files import open_regular
from vaekit.limits import ensure_fits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# Pillow modes that hold one grey channel; everything else is read as RGB.
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def read_image_folder(
    folder: Path, image_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """All .png/.jpg/.jpeg images under `folder` as uint8 [N, C, H, W] (C=1 grey, 3 colour), sorted by path.

    Hidden files and folders are skipped. Images directly in `folder` have no labels; images in subfolders are labelled by their top-level
    subfolder (class names sorted, label = index), returned as int64 [N] with the class names. With
    `image_size=(H, W)` every image is resized (bilinear); without it all images must share one size.
    """
    from PIL import Image  # Pillow only when images are read

    paths = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        # Hidden files and folders (.git, macOS "._x.png" resource forks) are not data.
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not paths:
        raise DataError(f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} files, also in subfolders)")
    top = [p.relative_to(folder).parts for p in paths]
    in_subfolders = [len(parts) > 1 for parts in top]
    if any(in_subfolders) and not all(in_subfolders):
        loose = paths[in_subfolders.index(False)]
        raise DataError(
            f"{folder}: images both directly in the folder ({loose.name}) and in subfolders; put every image "
            "in a class subfolder (labels come from subfolder names) or all of them directly in the folder"
        )
    classes = sorted({parts[0] for parts in top}) if all(in_subfolders) else []

    # First pass reads headers only (cheap): sizes and modes decide the common shape before decoding.
    headers = [_image_header(p) for p in paths]
    grey = all(mode in _GREY_MODES for _, mode in headers)
    channels = 1 if grey else 3
    if image_size is not None:
        ensure_fits(len(paths) * channels * image_size[0] * image_size[1],
                    f"--image-size {image_size[0]} {image_size[1]} ({len(paths)} images)", "choose a smaller size",
                    DataError)
    else:
        ensure_fits(sum(channels * w * h for (w, h), _ in headers), f"{folder} ({len(paths)} images)",
                    "resize them with --image-size H W", DataError)
    if image_size is None:
        first = headers[0][0]
        odd = next((i for i, (size, _) in enumerate(headers) if size != first), None)
        if odd is not None:
            (w0, h0), (w1, h1) = first, headers[odd][0]
            raise DataError(
                f"{folder}: images differ in size ({paths[0].name} is {h0}x{w0}, {paths[odd].name} is {h1}x{w1}, "
                f"height x width); give --image-size H W (e.g. --image-size {h0} {w0}) to resize them all"
            )
    arrays = []
    for p in paths:
        try:
            with _open_image(p) as im:
                im = im.convert("L" if grey else "RGB")  # drops alpha; palette images become RGB
                if image_size is not None and im.size != (image_size[1], image_size[0]):
                    im = im.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, zlib.error) as e:  # corrupt pixel data shows only when decoding
            raise DataError(f"{p}: cannot read the image ({e}); remove or replace that file") from e
        arrays.append(a[None] if grey else a.transpose(2, 0, 1))
    x = np.stack(arrays)
    y = np.array([classes.index(parts[0]) for parts in top], dtype=np.int64) if classes else None
    return x, y, classes


@contextlib.contextmanager
def _open_image(path: Path):
    """An image opened from a regular file; more pixels than Pillow's decompression-bomb limit is a `DataError`."""
    from PIL import Image, UnidentifiedImageError

    with open_regular(path, DataError) as (f, _), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(f)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise DataError(f"{path}: too many pixels ({e}); resize the image before using it") from None
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, zlib.error, struct.error) as e:
            raise DataError(f"{path}: cannot read the image ({e}); remove or replace that file") from None
        with im:
            yield im


def _image_header(path: Path) -> tuple[tuple[int, int], str]:
    """(size (width, height), mode) of an image, from its header."""
    with _open_image(path) as im:
        return im.size, im.mode
