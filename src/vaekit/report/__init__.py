"""The HTML report of a run: what the model learned (pictures), how well (evaluation), how it was made.

`write_report(run)` writes ``RUN/report.html`` and its pictures, ``RUN/report_files/*.png``. The page is
self-contained apart from those relative links: no network, no external CSS, scripts or fonts. It reads
well from phone to desktop width (tables scroll inside their own box). Everything taken from a file is
HTML-escaped.

Pictures, all drawn by `vaekit.plots`:
    images   samples from the prior, reconstructions, latent interpolations, traversals of the dimensions
             with the most KL, the latent map of posterior means, the decoded manifold (latent_dim == 2)
    tables   per-feature histograms and correlation matrices of test data vs samples, the latent map
    any run  training curves (metrics.jsonl); with ``RUN/evaluation.json`` (`vaekit evaluate RUN`) the
             evaluation table, baselines beside the VAE, and histograms of the per-datapoint figures

Modules: `pictures` (runs the model and draws the PNGs), `html` (style sheet, formatting, tables, the page
frame), `sections` (evaluation, configuration and provenance sections), `page` (`write_report`).
"""

from __future__ import annotations

from vaekit.report.page import REPORT, write_report
from vaekit.report.pictures import FILES
from vaekit.report.sections import EVALUATION

__all__ = ["EVALUATION", "FILES", "REPORT", "write_report"]
