"""`write_comparison`: runs side by side as one self-contained HTML page.

The page holds the table of `vaekit.runs.compare.table` (the best of each evaluation group marked), the
settings that differ (highlighted), the flags, the validation curves overlaid and each run's samples. Pictures
are embedded as data: URIs, so the page is one file that can be mailed or moved; it loads nothing.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from pathlib import Path
from typing import cast

import torch

from vaekit import plots
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, read_regular
from vaekit.models import LatentVariableModel, generate, generates
from vaekit.objectives import label
from vaekit.report.markup import _e, _fmt, _page
from vaekit.report.page import REPORT
from vaekit.runs import open_run
from vaekit.runs.compare import Comparison, RunFigures, table

NUM_SAMPLES = 25  # per run, in a 5 x 5 grid
_CSS = """
td.best { font-weight: 700; background: #e7f1e4; }
td.diff { background: #fdf3d0; }
.flag { background: #fdf3d0; border-left: 4px solid #b8860b; padding: .4rem .9rem; margin: .75rem 0; }
.samples { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 230px), 1fr)); gap: 1rem; }
.samples figure { margin: .5rem 0; }
"""


def _image(path: Path, alt: str) -> str:
    """A PNG the page holds (base64), read as every file is (`vaekit.files.read_regular`)."""
    from PIL import Image

    raw = read_regular(path)
    with Image.open(io.BytesIO(raw)) as im:
        width, height = im.size
    uri = "data:image/png;base64," + base64.b64encode(raw).decode("ascii")
    return f'<img src="{uri}" alt="{_e(alt)}" width="{width}" height="{height}">'


def _names(comparison: Comparison) -> list[str]:
    names = [run.name for run in comparison.runs]
    return names if len(set(names)) == len(names) else [str(run.path) for run in comparison.runs]


def _figures_table(comparison: Comparison, names: list[str], out: Path) -> str:
    head = "<th></th>" + "".join(f"<th>{_e(name)}</th>" for name in names)
    body = []
    links = []
    for run in comparison.runs:
        report = run.path / REPORT
        where = f"<code>{_e(str(run.path))}</code>"
        if report.is_file():
            href = Path(os.path.relpath(report.resolve(), out.resolve().parent)).as_posix()
            where += f' (<a href="{_e(href)}">report</a>)'
        links.append(f"<td>{where}</td>")
    body.append("<tr><th>run directory</th>" + "".join(links) + "</tr>")
    for row in table(comparison):
        label = _e(row.label) + (f"<small>{_e(row.unit)}</small>" if row.unit else "")
        cells = "".join(f'<td class="best">{_e(cell)}</td>' if i in row.best else f"<td>{_e(cell)}</td>"
                        for i, cell in enumerate(row.cells))
        body.append(f"<tr><th>{label}</th>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            '<p>Figures are per datapoint, in nats unless named otherwise; those of evaluation come from each run\'s '
            "<code>evaluation.json</code>. Shaded bold: the best of the runs evaluated alike (highest ELBO and "
            "log p(x), lowest gap and bits/dim).</p>")


def _differences(comparison: Comparison, names: list[str]) -> str:
    if not comparison.differences:
        return "<p>The runs' settings are identical.</p>"
    head = "<th>setting</th>" + "".join(f"<th>{_e(name)}</th>" for name in names)
    body = []
    for key, values in comparison.differences.items():
        cells = "".join(f'<td class="{"diff" if value != values[0] else ""}">{_fmt(value, None)}</td>'
                        for value in values)
        body.append(f"<tr><th>{_e(key)}</th>{cells}</tr>")
    return ("<p>Every setting of the runs' config.json that is not the same in all of them; cells that differ "
            f"from the first run's are highlighted.</p><div class=\"scroll\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _curves(comparison: Comparison, names: list[str], folder: Path) -> str:
    figures = ["valid_elbo_nats"] + sorted({run.best_by for run in comparison.runs} - {"valid_elbo_nats"})
    panels = {}
    for key in [*figures, "train_elbo_nats"]:
        title = ("validation " if key.startswith("valid_") else "training ") + \
            label(key.removeprefix("valid_").removeprefix("train_").removesuffix("_nats"))
        panels[title] = {
            name: [(row["epoch"], row[key]) for row in run.history
                   if isinstance(row.get(key), (int, float)) and isinstance(row.get("epoch"), (int, float))]
            for name, run in zip(names, comparison.runs)}
    if not any(points for lines in panels.values() for points in lines.values()):
        return "<p>No run has a readable metrics.jsonl yet.</p>"
    path = plots.overlaid_curves(panels, folder / "curves.png")
    caption = ("Per-epoch figures from each run's metrics.jsonl, in nats per datapoint: the validation figures "
               "(the ELBO, and the figure that picked each run's best epoch where it is another) and the training "
               "ELBO.")
    return f"<figure>{_image(path, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def _samples(run: RunFigures, name: str, folder: Path, index: int) -> str:
    try:
        with torch.random.fork_rng(devices=[]):
            opened = open_run(run.path)
            if len(opened.model_config.data_shape) != 3:
                return f"<figure><figcaption>{_e(name)}: table data; no picture of samples.</figcaption></figure>"
            model = cast(LatentVariableModel, opened.model)
            if not generates(model):
                return (f"<figure><figcaption>{_e(name)}: a {opened.kind} model draws no samples on its own."
                        "</figcaption></figure>")
            x = generate(model, NUM_SAMPLES, mean=True, seed=opened.train_config.seed).float()
    except VaekitError as e:
        return f"<figure><figcaption>{_e(name)}: no samples ({_e(str(e))}).</figcaption></figure>"
    if opened.pipeline.levels is None:  # real-valued images: the samples' own range
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    path = plots.image_grid(x.clamp(0, 1).numpy(), folder / f"samples-{index}.png", nrow=5)
    caption = f"{name}: {NUM_SAMPLES} samples, the mean of p(x|z) for z ~ p(z) (seed {opened.train_config.seed})"
    return f"<figure>{_image(path, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def write_comparison(comparison: Comparison, out: str | Path) -> Path:
    """Write the comparison as one self-contained HTML page at `out` (atomically); returns its path."""
    out = Path(out)
    names = _names(comparison)
    with tempfile.TemporaryDirectory(prefix="vaekit-compare-") as tmp:
        folder = Path(tmp)
        flags = "".join(f'<p class="flag">{_e(flag)}</p>' for flag in comparison.flags)
        samples = "".join(_samples(run, name, folder, i) for i, (run, name) in enumerate(zip(comparison.runs,
                                                                                               names)))
        sections = [
            ("figures", "Runs side by side", flags + _figures_table(comparison, names, out)),
            ("settings", "Settings that differ", _differences(comparison, names)),
            ("curves", "Training curves", _curves(comparison, names, folder)),
            ("samples", "Samples", f'<div class="samples">{samples}</div>'),
        ]
        lead = f"{len(names)} runs: {_e(', '.join(names))}."
        page = _page(f"vaekit comparison of {len(names)} runs", lead, sections, _CSS)
    atomic_write(out, page.encode("utf-8"))
    return out


__all__ = ["write_comparison"]
