"""The headless-Chromium harness in `browser.py`, tested on pages written here.

The harness must pass a good page and catch each way a report page can break: an image that does not load,
a console error, a page wider than a phone. Without Chromium these tests fail with the install commands,
unless VAEKIT_SKIP_BROWSER=1 asks for a skip.
"""

import base64
import io

import browser
import numpy as np
import pytest
from browser import PHONE_WIDTH, Browser, check_page, require_browser
from PIL import Image

from vaekit.plots import image_grid


def _png_data_uri(size: tuple[int, int], colour: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _page(title: str, body: str, viewport_meta: bool = True) -> str:
    meta = '<meta name="viewport" content="width=device-width, initial-scale=1">' if viewport_meta else ""
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{meta}<title>{title}</title>'
        "<style>img { max-width: 100%; height: auto; }</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


@pytest.fixture(scope="module")
def shared():
    """One Chromium for the module's tests (start-up is most of a check's time); created on first use."""
    holder: dict[str, Browser] = {}
    yield holder
    if "browser" in holder:
        holder["browser"].close()


def _browser(shared) -> Browser:
    require_browser()  # in the test body, so a missing browser is a failure, not a fixture error
    if "browser" not in shared:
        shared["browser"] = Browser()
    return shared["browser"]


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_good_page_passes(tmp_path):
    require_browser()
    image_grid(np.random.default_rng(0).random((4, 1, 8, 8)), tmp_path / "grid.png")
    body = (
        "<h1>Report</h1>\n"
        f'<img alt="red" src="{_png_data_uri((40, 30), (200, 30, 30))}">\n'
        f'<img alt="blue" src="{_png_data_uri((20, 20), (30, 30, 200))}">\n'
        '<img alt="samples" src="grid.png">\n'
        '<div style="height: 1500px">long page</div>'
    )
    html = tmp_path / "good.html"
    html.write_text(_page("good", body), encoding="utf-8")

    result = check_page(html, tmp_path / "good.png", phone_width=PHONE_WIDTH)

    assert result["ok"], result["problems"]
    assert [img["natural_width"] for img in result["images"]] == [40, 20, 118]
    assert result["images"][0]["src"].startswith("data:image/png;base64,")
    assert result["images"][2]["src"] == (tmp_path / "grid.png").resolve().as_uri()
    assert result["errors"] == [] and result["broken_images"] == []
    assert result["document_width"] <= result["viewport_width"] == 1280
    assert not result["horizontal_overflow"] and not result["phone"]["horizontal_overflow"]
    width, height = _png_size(result["screenshot"])
    assert width == 1280 and height >= 1500  # the full page, not the 900 px viewport
    assert _png_size(tmp_path / "good-phone.png")[0] == PHONE_WIDTH


def test_broken_image_and_console_error_fail(tmp_path, shared):
    b = _browser(shared)
    body = '<img alt="gone" src="missing.png">\n<script>console.error("x")</script>'
    html = tmp_path / "bad.html"
    html.write_text(_page("bad", body), encoding="utf-8")

    result = b.check(html, tmp_path / "bad.png")

    assert not result["ok"]
    assert result["broken_images"] == [(tmp_path / "missing.png").resolve().as_uri()]
    assert result["images"][0]["natural_width"] == 0
    assert any('"x"' in message for message in result["errors"]), result["console"]
    assert any("missing.png" in message for message in result["errors"]), result["console"]
    assert {e["level"] for e in result["console"]} == {"SEVERE"}
    assert any(p.startswith("image did not load") for p in result["problems"])
    assert any(p.startswith("console error") for p in result["problems"])
    assert not result["horizontal_overflow"]


@pytest.mark.parametrize(
    ("body", "viewport_meta", "desktop_ok"),
    [
        ('<div style="width: 1000px">a fixed-width table</div>', True, True),
        ("<p>no viewport meta: a phone lays the page out 980 px wide</p>", False, True),
        ('<div style="width: 1600px">too wide everywhere</div>', True, False),
    ],
    ids=["fixed-width", "no-viewport-meta", "too-wide"],
)
def test_horizontal_overflow(tmp_path, shared, body, viewport_meta, desktop_ok):
    b = _browser(shared)
    html = tmp_path / "wide.html"
    html.write_text(_page("wide", body, viewport_meta=viewport_meta), encoding="utf-8")

    result = b.check(html, tmp_path / "wide.png", phone_width=PHONE_WIDTH)

    assert result["horizontal_overflow"] is not desktop_ok
    assert result["phone"]["horizontal_overflow"]
    assert result["phone"]["document_width"] > PHONE_WIDTH
    assert not result["ok"]
    assert any(p.startswith(f"at {PHONE_WIDTH} px: horizontal overflow") for p in result["problems"])
    assert result["errors"] == []


def test_missing_browser_fails_with_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMEDRIVER", str(tmp_path / "no-chromedriver"))
    monkeypatch.delenv(browser.SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium chromium-driver"):
        require_browser()
    with pytest.raises(RuntimeError, match="chromium-driver"):
        Browser()


def test_missing_browser_skips_when_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv(browser.SKIP_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match="VAEKIT_SKIP_BROWSER=1 set: .*apt package chromium"):
        require_browser()
