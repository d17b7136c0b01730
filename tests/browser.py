"""Open an HTML file in headless Chromium and report what a reader would see go wrong.

Used by tests that check generated HTML reports: every image decodes (``naturalWidth > 0``), the console has
no errors, and the page does not scroll sideways at desktop or phone width. It drives Debian's ``chromium``
through ``chromium-driver`` with Selenium; nothing is downloaded (the driver path is given, so Selenium
Manager is not consulted) and the browser's own background traffic is switched off.

    from browser import PHONE_WIDTH, check_page, require_browser
    require_browser()
    result = check_page(report_html, tmp_path / "report.png", phone_width=PHONE_WIDTH)
    assert result["ok"], result["problems"]

Missing pieces are reported by `browser_problem` as one message with the install commands; `require_browser`
turns it into a test failure, or into a skip when ``VAEKIT_SKIP_BROWSER=1``.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SKIP_ENV = "VAEKIT_SKIP_BROWSER"
PHONE_WIDTH = 390  # CSS px: an iPhone 12-15 in portrait
MAX_SCREENSHOT_HEIGHT = 16000  # px: Chromium cannot capture much taller in one piece
INSTALL_HINT = (
    "install them with `apt-get install -y chromium chromium-driver` (Debian) and "
    "`pip install selenium` (or `pip install -e .[dev]`), or set VAEKIT_SKIP_BROWSER=1 to skip browser tests"
)

_ARGS = (
    "--headless=new",
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers makes Chromium crash mid-page
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",  # scrollbars would take width from the viewport and differ between machines
)

# Everything is read in one script after the load event, so the numbers describe one moment of the page.
_PAGE_STATE_JS = """
const imgs = Array.from(document.images).map(img => ({
  src: img.currentSrc || img.getAttribute('src') || '',
  natural_width: img.naturalWidth,
  natural_height: img.naturalHeight,
  complete: img.complete,
}));
const root = document.documentElement;
return {
  title: document.title,
  images: imgs,
  document_width: Math.max(root.scrollWidth, document.body ? document.body.scrollWidth : 0),
  document_height: Math.max(root.scrollHeight, document.body ? document.body.scrollHeight : 0),
  viewport_width: window.innerWidth,
  client_width: root.clientWidth,
  has_viewport_meta: document.querySelector('meta[name="viewport"]') !== null,
};
"""


def browser_problem() -> str | None:
    """Return why the browser harness cannot run here (with the fix), or ``None`` when it can."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt package chromium)")
    if not os.access(CHROMEDRIVER, os.X_OK):
        missing.append(f"{CHROMEDRIVER} (apt package chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium Python package (pip install selenium)")
    if not missing:
        return None
    return "browser tests need " + ", ".join(missing) + "; " + INSTALL_HINT


def require_browser() -> None:
    """In a test: fail with the install commands when the browser is missing, or skip if VAEKIT_SKIP_BROWSER=1.

    Called from the test body rather than a fixture so that a missing browser reads as a FAILED test.
    """
    import pytest

    problem = browser_problem()
    if problem is None:
        return
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1 set: {problem}")
    pytest.fail(problem, pytrace=False)


def _short_src(src: str) -> str:
    # data: URIs are the whole image; keep results printable.
    if src.startswith("data:") and len(src) > 64:
        return f"{src[:48]}...({len(src)} chars)"
    return src


class Browser:
    """One headless Chromium, reused for several pages; use as a context manager.

    Example:
        >>> with Browser() as b:
        ...     desktop = b.check(Path("report.html"), Path("report.png"))
    """

    def __init__(self, page_load_timeout: float = 30.0):
        problem = browser_problem()
        if problem:
            raise RuntimeError(problem)
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.TemporaryDirectory(prefix="vaekit-chromium-", ignore_cleanup_errors=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in _ARGS:
            options.add_argument(arg)
        options.add_argument(f"--user-data-dir={self._profile.name}")
        # ChromeDriver keeps console messages only when asked for them; read back with get_log("browser").
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        except Exception:
            self._profile.cleanup()
            raise
        self.driver.set_page_load_timeout(page_load_timeout)

    def __enter__(self) -> Browser:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            self._profile.cleanup()

    def _cdp(self, cmd: str, params: dict | None = None) -> dict:
        return self.driver.execute_cdp_cmd(cmd, params or {})

    def _visit(self, url: str, screenshot_path: Path, width: int, height: int, mobile: bool) -> dict:
        # Emulation fixes the layout viewport exactly; a window size would lose pixels to browser chrome.
        self._cdp(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        self.driver.get_log("browser")  # drop messages left from an earlier page
        self.driver.get(url)  # returns after the load event: images have loaded or failed
        state = self.driver.execute_script(_PAGE_STATE_JS)
        console = [
            {"level": e.get("level", ""), "source": e.get("source", ""), "message": e.get("message", "")}
            for e in self.driver.get_log("browser")
        ]
        # A full-page capture: grow the viewport to the content height (not width: overflow must show).
        full_height = min(max(height, int(state["document_height"])), MAX_SCREENSHOT_HEIGHT)
        self._cdp(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": full_height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        shot = self._cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        self._cdp("Emulation.clearDeviceMetricsOverride")
        screenshot_path.parent.mkdir(parents=True, exist_ok=True)
        screenshot_path.write_bytes(base64.b64decode(shot["data"]))

        images = [{**img, "src": _short_src(img["src"])} for img in state["images"]]
        broken = [img["src"] for img in images if img["natural_width"] == 0]
        errors = [e["message"] for e in console if e["level"] == "SEVERE"]
        # Wider than the device means sideways scrolling; on a phone, a page without a viewport meta is laid
        # out at 980 px and this catches it too.
        overflow = int(state["document_width"]) > width
        problems = [f"image did not load: {src}" for src in broken]
        problems += [f"console error: {msg}" for msg in errors]
        if overflow:
            problems.append(f"horizontal overflow: document {state['document_width']} px wide, viewport {width} px")
        return {
            "url": url,
            "title": state["title"],
            "width": width,
            "images": images,
            "broken_images": broken,
            "console": console,
            "errors": errors,
            "document_width": int(state["document_width"]),
            "viewport_width": int(state["viewport_width"]),
            "has_viewport_meta": bool(state["has_viewport_meta"]),
            "horizontal_overflow": overflow,
            "screenshot": screenshot_path,
            "problems": problems,
            "ok": not problems,
        }

    def check(
        self,
        html_path: os.PathLike | str,
        screenshot_path: os.PathLike | str,
        width: int = 1280,
        height: int = 900,
        phone_width: int | None = None,
    ) -> dict:
        """Load ``html_path`` over file:// and report its images, console messages and width; see `check_page`."""
        html_path = Path(html_path).resolve()
        if not html_path.is_file():
            raise FileNotFoundError(f"no HTML file at {html_path}")
        screenshot_path = Path(screenshot_path)
        url = html_path.as_uri()
        result = self._visit(url, screenshot_path, width, height, mobile=False)
        if phone_width is not None:
            phone_shot = screenshot_path.with_name(f"{screenshot_path.stem}-phone{screenshot_path.suffix}")
            phone = self._visit(url, phone_shot, phone_width, 844, mobile=True)
            result["phone"] = phone
            result["problems"] = result["problems"] + [f"at {phone_width} px: {p}" for p in phone["problems"]]
            result["ok"] = not result["problems"]
        return result


def check_page(
    html_path: os.PathLike | str,
    screenshot_path: os.PathLike | str,
    width: int = 1280,
    height: int = 900,
    phone_width: int | None = None,
) -> dict:
    """Open an HTML file in headless Chromium, screenshot the full page, and report what went wrong.

    Args:
        html_path: the page, opened as a file:// URL so relative image paths resolve beside it.
        screenshot_path: where to write the full-page PNG (``width`` wide, as tall as the page).
        width: the desktop viewport width in CSS px.
        height: the viewport height before the page is grown to full height for the screenshot.
        phone_width: when given, the page is also loaded in a mobile viewport this wide (e.g. `PHONE_WIDTH`);
            its screenshot goes next to ``screenshot_path`` with a ``-phone`` suffix.

    Returns:
        A dict with ``images`` (``src``, ``natural_width``, ``natural_height``, ``complete``; data: URIs
        shortened), ``broken_images`` (srcs with ``naturalWidth == 0``), ``console`` (``level``, ``source``,
        ``message``), ``errors`` (messages at level SEVERE), ``document_width`` and ``viewport_width`` (CSS px),
        ``horizontal_overflow``, ``has_viewport_meta``, ``title``, ``screenshot``, ``problems`` (one line each),
        ``ok`` (no problems, phone included), and ``phone`` (the same keys) when ``phone_width`` is given.
    """
    with Browser() as b:
        return b.check(html_path, screenshot_path, width=width, height=height, phone_width=phone_width)

