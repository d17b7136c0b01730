"""The documentation against the program: every run file the pages name is one a run holds (and the getting-started
page names each of them), and the built site can be browsed from the file system, offline: every link between its
pages is a relative link to a file that the build wrote (no directory URLs, which only a web server resolves)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from vaekit.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
#: A run's files as the pages name them: `name.safetensors`, `name.json`, `name.jsonl`.
RUN_FILE = re.compile(r"`([A-Za-z0-9_.-]+\.(?:safetensors|jsonl|json))`")


@pytest.fixture(scope="module")
def run_files(tmp_path_factory) -> set[str]:
    run = tmp_path_factory.mktemp("docs") / "run"
    assert main(["train", "--out", str(run), "--epochs", "1", "--hidden", "8", "--latent-dim", "2"]) == 0
    assert main(["evaluate", str(run), "--importance-samples", "2"]) == 0
    return {p.name for p in run.iterdir() if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_run_files_a_page_names_are_those_a_run_holds(page, run_files):
    named = set(RUN_FILE.findall(page.read_text(encoding="utf-8")))
    assert named <= run_files, f"{page.name} names {sorted(named - run_files)}, which no run holds"
    if page.name == "index.md":
        assert named == run_files, f"index.md does not name {sorted(run_files - named)}"


def test_the_site_is_configured_for_the_file_system():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^use_directory_urls: false\b", config, re.MULTILINE)  # default true: pages as folders


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason="MkDocs is not installed here (`make setup-docs` installs it); "
                           "test_the_site_is_configured_for_the_file_system still checks the setting")
def test_the_built_site_links_only_to_files(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")  # 404: a web server's page, by design
    assert {"index.html", "cli.html", "workflows.html", "api.html"} <= {p.name for p in pages}
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            url = urlparse(link)
            if url.scheme or url.netloc or not url.path:  # another host (not fetched by the page), or an anchor
                continue
            target = (page.parent / unquote(url.path)).resolve()
            assert target.is_file(), f"{page.relative_to(site)} links to {link}, not a file of the built site"
