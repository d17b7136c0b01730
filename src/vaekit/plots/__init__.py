"""Pictures for reports: numpy arrays in, one PNG file out.

Every public function validates its arrays, draws one picture, writes it atomically (a temporary file in the
same folder, ``fsync``, ``os.replace``) and returns the `Path` it wrote. A reader of the folder therefore sees
either the old file or the new one, never half a PNG.

Image arrays are floats in [0, 1] shaped ``[N, C, H, W]`` with ``C`` in (1, 3): the layout a decoder's
``probs`` or ``loc`` comes out in (take ``sigmoid(logits)`` first). Grids of images are drawn with Pillow and
upscaled with nearest-neighbour so that an 8x8 digit is still visible on a web page; figures with axes are
drawn with matplotlib's object API (`matplotlib.figure.Figure` on a `FigureCanvasAgg`), never `pyplot`, so this
package selects no global backend, needs no display and can be called from several threads.

Figures are 800 px wide at 100 dpi; their heights are whole multiples of 50 px so that the pixel size is
exactly ``figsize * dpi``.

Modules: `common` (sizes, colours, argument checks, PNG writers), `grids` (Pillow image grids:
`image_grid`, `reconstructions`, `interpolations`, `manifold`, `traversals`), `charts` (matplotlib figures:
`latent_map`, `tabular_histograms`, `correlation_matrices`, `training_curves`, `histogram`), `overlay`
(`overlaid_curves`: several runs on shared axes), `calibration` (`reliability_diagram`); this package
re-exports their public functions and constants.
"""

from __future__ import annotations

from vaekit.plots.calibration import reliability_diagram
from vaekit.plots.charts import (
    correlation_matrices,
    histogram,
    latent_map,
    tabular_histograms,
    training_curves,
)
from vaekit.plots.common import (
    BORDER as BORDER,
)
from vaekit.plots.common import (
    BORDER_GREY as BORDER_GREY,
)
from vaekit.plots.common import (
    DPI as DPI,
)
from vaekit.plots.common import (
    FIG_WIDTH as FIG_WIDTH,
)
from vaekit.plots.common import (
    MIN_TILE as MIN_TILE,
)
from vaekit.plots.common import (
    PAIR_GAP as PAIR_GAP,
)
from vaekit.plots.common import (
    TITLE_BAND as TITLE_BAND,
)
from vaekit.plots.common import (
    PathLike as PathLike,
)
from vaekit.plots.grids import (
    image_grid,
    interpolations,
    manifold,
    reconstructions,
    traversals,
)
from vaekit.plots.overlay import overlaid_curves

__all__ = [
    "correlation_matrices",
    "histogram",
    "image_grid",
    "interpolations",
    "latent_map",
    "manifold",
    "overlaid_curves",
    "reconstructions",
    "reliability_diagram",
    "tabular_histograms",
    "training_curves",
    "traversals",
]
