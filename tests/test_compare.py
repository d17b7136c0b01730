"""`vaekit compare` on three tiny real runs: every figure is the one in the runs' files, runs evaluated with a
different K are flagged and not ranked together, the settings that differ are listed, and the HTML page is
self-contained and works in a browser at desktop and phone widths."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from browser import PHONE_WIDTH, Browser, require_browser

from vaekit.cli import main
from vaekit.runs import open_run
from vaekit.runs.compare import compare_runs, table

TINY = ["--epochs", "3", "--hidden", "16", "--latent-dim", "2", "--batch-size", "64"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """normal: a VAE (K = 20); mixture: a mixture prior (K = 20); hvae: two layers, evaluated with K = 10."""
    root = tmp_path_factory.mktemp("compare")
    trainings = {
        "normal": [],
        "mixture": ["--prior", "mixture", "--prior-components", "3", "--seed", "1"],
        "hvae": ["--model", "hvae", "--latent-dim2", "2", "--hidden2", "8"],
    }
    for name, options in trainings.items():
        assert main(["train", "--out", str(root / name), *TINY, *options]) == 0
        k = "10" if name == "hvae" else "20"
        assert main(["evaluate", str(root / name), "--importance-samples", k, "--gaps", "5", "--gap-steps", "20"]) == 0
    return root


def _copy(runs: Path, tmp_path: Path, *names: str) -> list[Path]:
    copies = []
    for name in names:
        shutil.copytree(runs / name, tmp_path / name)
        copies.append(tmp_path / name)
    return copies


def _json(argv: list[str], capsys) -> dict:
    assert main(["compare", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_figure_is_read_from_the_runs_files(runs, capsys):
    paths = [runs / name for name in ("normal", "mixture", "hvae")]
    result = _json([str(p) for p in paths], capsys)
    assert result["units"] == "nats per datapoint"
    for row, path in zip(result["runs"], paths):
        evaluation = json.loads((path / "evaluation.json").read_text())
        metrics = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        config = json.loads((path / "config.json").read_text())
        model = open_run(path).model
        assert row["name"] == path.name and row["kind"] == config["kind"]
        assert row["parameters"] == sum(p.numel() for p in model.parameters())
        assert row["epochs"] == len(metrics) == row["epochs_planned"] == 3
        assert row["train_seconds"] == pytest.approx(sum(m["epoch_seconds"] for m in metrics))
        best = max(metrics, key=lambda m: m[config["best_by"]])
        assert (row["best_epoch"], row["best_valid"]) == (best["epoch"], best[config["best_by"]])
        for key in ("elbo", "log_likelihood", "log_likelihood_stderr", "importance_samples", "gap",
                    "approximation_gap", "amortization_gap", "active_units", "bits_per_dim", "split", "n"):
            assert row["evaluation"][key] == evaluation[key], key
    assert result["runs"][1]["prior"] == "mixture (3 components)" and result["runs"][2]["prior"] is None


def test_runs_evaluated_with_different_k_are_flagged_and_ranked_apart(runs, capsys):
    result = _json([str(runs / n) for n in ("normal", "mixture", "hvae")], capsys)
    groups = [group["runs"] for group in result["groups"]]
    assert groups == [["normal", "mixture"], ["hvae"]]
    assert [group["setting"]["importance_samples"] for group in result["groups"]] == [20, 10]
    lls = [row["evaluation"]["log_likelihood"] for row in result["runs"][:2]]
    assert [row["rank"] for row in result["runs"][:2]] == ([1, 2] if lls[0] > lls[1] else [2, 1])
    assert result["runs"][2]["rank"] is None  # alone in its group: ranked against nobody
    assert any(flag.startswith("evaluated differently") and "K = 10: hvae" in flag for flag in result["flags"])
    # The settings that differ, and only those.
    differences = result["differences"]
    assert differences["kind"] == ["vae", "vae", "hvae"]
    assert differences["model.prior"] == ["normal", "mixture", None]  # the hvae has no prior setting
    assert differences["train.seed"] == [0, 1, 0]
    assert "data.data" not in differences and "train.epochs" not in differences


def test_runs_evaluated_alike_are_ranked_together(runs, capsys):
    result = _json([str(runs / "mixture"), str(runs / "normal")], capsys)
    assert len(result["groups"]) == 1 and not any("evaluated differently" in f for f in result["flags"])
    ranks = {row["name"]: row["rank"] for row in result["runs"]}
    lls = {row["name"]: row["evaluation"]["log_likelihood"] for row in result["runs"]}
    assert sorted(ranks.values()) == [1, 2] and ranks[max(lls, key=lls.get)] == 1
    # The runner-up's distance to the best, over the same test points: paired, so its standard error is that of
    # the per-datapoint differences.
    best, other = (max(lls, key=lls.get), min(lls, key=lls.get))
    per_point = {name: np.array(json.loads((runs / name / "evaluation.json").read_text())["per_datapoint"]
                                ["log_likelihood"]) for name in (best, other)}
    d = per_point[other] - per_point[best]
    behind = {row["name"]: row["log_likelihood_behind_best"] for row in result["runs"]}
    assert behind[best] is None
    assert behind[other]["difference"] == pytest.approx(d.mean(), abs=1e-9)
    assert behind[other]["difference"] == pytest.approx(lls[other] - lls[best], abs=1e-9)
    assert behind[other]["stderr"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)), rel=1e-9)
    # The two runs binarized the test split with their own seeds (0 and 1): said, not hidden.
    assert any("scored different draws of the binarized" in flag for flag in result["flags"])


def test_runs_whose_split_holds_other_points_are_not_ranked_together(runs, tmp_path, capsys):
    normal, other = _copy(runs, tmp_path, "normal", "mixture")
    config = json.loads((other / "config.json").read_text())
    config["data"]["split_seed"] = 1  # the same K and split name, but other test points
    (other / "config.json").write_text(json.dumps(config))
    result = _json([str(normal), str(other)], capsys)
    assert len(result["groups"]) == 2 and [row["rank"] for row in result["runs"]] == [None, None]
    assert any("split seed 1" in flag and "split seed 0" in flag for flag in result["flags"])


def test_the_text_table_marks_the_best_and_prints_the_flags(runs, capsys):
    assert main(["compare", str(runs / "normal"), str(runs / "mixture"), str(runs / "hvae")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["normal", "mixture", "hvae"]
    ll_line = next(line for line in lines if line.startswith("log p(x)"))
    assert ll_line.count("*") == 1  # the best of the two runs evaluated alike; hvae is in its own group
    comparison = compare_runs([runs / "normal", runs / "mixture", runs / "hvae"])
    best = next(row for row in table(comparison) if row.label == "log p(x)").best
    assert best == {comparison.ranks.index(1)}
    assert "settings that differ:" in out and any(line.startswith("model.prior") for line in lines)
    assert any(line.startswith("! evaluated differently") for line in lines)


def test_problems_with_a_runs_files_are_flagged_not_fatal(runs, tmp_path, capsys):
    normal, mixture, hvae = _copy(runs, tmp_path, "normal", "mixture", "hvae")
    (normal / "evaluation.json").write_text("{broken")
    (mixture / "metrics.jsonl").unlink()
    (hvae / "evaluation.json").unlink()
    (hvae / "evaluations").mkdir(exist_ok=True)  # the kept evaluations: compare reads evaluation.json only
    (hvae / "evaluations" / "test-K1000.json").write_text('{"log_likelihood": 1e9}')
    result = _json([str(normal), str(mixture), str(hvae)], capsys)
    flags = "\n".join(result["flags"])
    assert "evaluation.json could not be read" in flags and "metrics.jsonl could not be read" in flags
    assert "not evaluated: hvae" in flags
    assert [row["evaluation"] for row in result["runs"]][::2] == [None, None]
    assert result["runs"][1]["epochs"] == 0 and result["runs"][1]["train_seconds"] is None


def test_bad_runs_and_existing_outputs_are_refused(runs, tmp_path, capsys):
    assert main(["compare", str(runs / "normal"), str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing: no such run directory" in err
    page = tmp_path / "page.html"
    page.write_text("mine")
    assert main(["compare", str(runs / "normal"), "--html", str(page)]) == 2
    assert "already exists" in capsys.readouterr().err and page.read_text() == "mine"


class _Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: set[str] = set()
        self.best_cells = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.sources.append(attrs["src"])
        if tag == "td" and attrs.get("class") == "best":
            self.best_cells += 1


def test_the_page_is_self_contained_and_works_in_a_browser(runs, tmp_path, capsys):
    page = tmp_path / "compare.html"
    paths = [str(runs / n) for n in ("normal", "mixture", "hvae")]
    assert main(["compare", *paths, "--html", str(page)]) == 0
    assert capsys.readouterr().out.endswith(f"written: {page}\n")
    text = page.read_text(encoding="utf-8")
    parsed = _Page(text)
    assert len(parsed.sources) == 4  # the curves and three grids of samples
    assert all(src.startswith("data:image/png;base64,") for src in parsed.sources)
    assert not parsed.tags & {"script", "link", "iframe"} and "http" not in text.replace("http-equiv", "")
    comparison = compare_runs(paths)
    assert parsed.best_cells == sum(len(row.best) for row in table(comparison)) > 0
    assert "evaluated differently" in text and "model.prior" in text

    require_browser()
    with Browser() as browser:
        result = browser.check(page, tmp_path / "compare.png", width=1280, phone_width=PHONE_WIDTH)
    assert result["ok"], result["problems"]
    for view in (result, result["phone"]):
        assert len(view["images"]) == 4 and all(img["natural_width"] > 0 for img in view["images"])
        assert view["errors"] == [] and not view["horizontal_overflow"]
