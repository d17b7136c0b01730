"""`vaekit.report.write_report` on tiny runs: every picture is a valid PNG with a caption, the evaluation is shown
when there is one (and the way to make it when there is not), and the page works in a real browser at desktop
and phone widths."""

from __future__ import annotations

import json
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from browser import PHONE_WIDTH, Browser, require_browser
from PIL import Image

from vaekit.cli import main
from vaekit.report import EVALUATION, FILES, REPORT, write_report

TINY = ["--epochs", "2", "--hidden", "16", "--latent-dim", "2"]
PICTURES = {
    "image": {"samples", "reconstructions", "interpolations", "traversals", "latent_map", "manifold",
              "training_curves"},
    "table": {"histograms", "correlations", "latent_map", "training_curves"},
}
NOT_EVALUATED = "vaekit evaluate "


class _Page(HTMLParser):
    """The parts of a report a test looks at: image sources and the caption of each figure."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.captions: list[str] = []
        self.figures = 0
        self._in_caption = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "figure":
            self.figures += 1
        elif tag == "figcaption":
            self._in_caption = True
            self.captions.append("")

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.captions[-1] += data


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """An image run (digits, 2-D latent) and a table run (CSV, Gaussian, 3-D latent), trained once."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(120, 5)) @ rng.normal(size=(5, 5))
    table = root / "table.csv"
    table.write_text("height,weight,age,income,score\n" + "\n".join(",".join(f"{v:.5f}" for v in r) for r in rows))
    assert main(["train", "--out", str(root / "image"), *TINY]) == 0
    assert main(["train", "--data", str(table), "--out", str(root / "table"), "--epochs", "2", "--hidden", "16",
                 "--latent-dim", "3", "--likelihood", "gaussian"]) == 0
    return root


def _copy(trained: Path, kind: str, tmp_path: Path) -> Path:
    run = tmp_path / kind
    shutil.copytree(trained / kind, run)
    return run


def _check_pictures(run: Path, expected: set[str]) -> _Page:
    page = _Page((run / REPORT).read_text(encoding="utf-8"))
    assert {Path(src).stem for src in page.images} == expected
    for src in page.images:
        assert src.startswith(f"{FILES}/") and src.endswith(".png")
        with Image.open(run / src) as im:
            assert im.format == "PNG" and min(im.size) > 0
            im.verify()
    assert page.figures == len(page.images) == len(page.captions)
    assert all(len(c.strip()) > 20 for c in page.captions)
    assert not list(run.rglob(".*.tmp"))  # every write was atomic
    return page


def _evaluate(run: Path) -> dict:
    """`vaekit evaluate` writes evaluation.json; baselines (slow to fit) and a non-finite gap are added by hand."""
    assert main(["evaluate", str(run), "--importance-samples", "20", "--probe"]) == 0
    figures = json.loads((run / EVALUATION).read_text())
    figures["per_datapoint"]["gap"][-1] = math.nan
    figures["baselines"] = [
        {"name": "mixture of Bernoullis", "log_likelihood": figures["elbo"] - 3.0, "stderr": 0.25, "n_test": 359,
         "hyperparameters": {"components": 20}, "note": "<script>alert('note')</script>"},
        {"name": "factorised Bernoulli", "log_likelihood": figures["elbo"] - 9.0, "stderr": 0.5, "n_test": 359,
         "hyperparameters": {"pseudocount": 0.5}, "note": ""},
    ]
    (run / EVALUATION).write_text(json.dumps(figures))
    return figures


@pytest.mark.parametrize("kind", ["image", "table"])
def test_every_picture_is_a_valid_png_with_a_caption(trained, tmp_path, kind):
    run = _copy(trained, kind, tmp_path)
    assert write_report(run) == run / REPORT
    _check_pictures(run, PICTURES[kind])
    text = (run / REPORT).read_text(encoding="utf-8")
    assert f"{NOT_EVALUATED}{run}" in text  # no evaluation.json: the page says how to make one
    for section in ("model", "data", "train", "pipeline"):
        assert f"<h3>{section}</h3>" in text
    assert "torch version" in text and "nats per datapoint" in text and '<meta name="viewport"' in text


def test_evaluation_is_shown_with_baselines_and_the_gap_histogram(trained, tmp_path):
    run = _copy(trained, "image", tmp_path)
    figures = _evaluate(run)
    write_report(run)
    per_datapoint = {f"per_datapoint_{key}" for key in figures["per_datapoint"]}
    assert "per_datapoint_gap" in per_datapoint
    _check_pictures(run, PICTURES["image"] | per_datapoint)
    text = (run / REPORT).read_text(encoding="utf-8")
    assert NOT_EVALUATED not in text
    for key in ("log_likelihood", "log_likelihood_stderr", "elbo", "reconstruction", "kl", "gap"):
        assert f">{figures[key]:.3f}<" in text, key
    assert f">{figures['bits_per_dim']:.4f}<" in text
    assert "mixture of Bernoullis" in text and "components = 20" in text and "linear probe" in text
    assert "<script>" not in text and "&lt;script&gt;" in text  # text from files is escaped
    assert "1 non-finite values left out" in text


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ('{"log_likelihood": -30.5, "something_new": [1, 2]}', ">-30.500<"),
        ("{not json", "could not be read"),
    ],
    ids=["partial", "broken"],
)
def test_partial_or_broken_evaluation_does_not_stop_the_report(trained, tmp_path, content, shown):
    run = _copy(trained, "table", tmp_path)
    (run / EVALUATION).write_text(content)
    (run / "metrics.jsonl").unlink()
    write_report(run)
    _check_pictures(run, PICTURES["table"] - {"training_curves"})
    text = (run / REPORT).read_text(encoding="utf-8")
    assert shown in text and "metrics.jsonl could not be read" in text


def test_pictures_are_reproducible_and_the_global_rng_is_left_alone(trained, tmp_path):
    run = _copy(trained, "table", tmp_path)
    state = torch.get_rng_state()
    write_report(run)
    first = {p.name: p.read_bytes() for p in (run / FILES).iterdir()}
    write_report(run)
    assert {p.name: p.read_bytes() for p in (run / FILES).iterdir()} == first
    assert torch.equal(torch.get_rng_state(), state)


def test_report_in_a_browser(trained, tmp_path):
    require_browser()
    image, table = _copy(trained, "image", tmp_path), _copy(trained, "table", tmp_path)
    _evaluate(image)
    with Browser() as browser:
        for run in (image, table):
            result = browser.check(write_report(run), tmp_path / f"{run.name}.png", width=1280,
                                   phone_width=PHONE_WIDTH)
            assert result["ok"], result["problems"]
            for view in (result, result["phone"]):
                assert view["images"] and all(img["natural_width"] > 0 for img in view["images"])
                assert view["errors"] == [] and not view["horizontal_overflow"]
            assert result["phone"]["document_width"] <= PHONE_WIDTH
            with Image.open(tmp_path / f"{run.name}.png") as shot:
                assert shot.width == 1280 and shot.height > 900
