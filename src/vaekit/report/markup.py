"""HTML building blocks of the report: the style sheet, value formatting, tables, figures and the page frame.

Everything taken from a file goes through `_fmt` or `_e` (HTML escaping); table cells and key/value rows are
HTML already. `_page` wraps the sections in a self-contained document: no network, no external CSS, scripts
or fonts.
"""

from __future__ import annotations

import html
import math
import time
from pathlib import Path

from PIL import Image

from vaekit.report.pictures import Picture
from vaekit.version import __version__

_CSS = """
:root { color-scheme: light; --fg: #1d1f23; --muted: #5d6470; --line: #d9dce1; --box: #f5f6f8; --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       color: var(--fg); background: #fff; }
main { max-width: 960px; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2.25rem 0 .75rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
p { overflow-wrap: anywhere; }
.lead { color: var(--muted); margin: 0 0 1rem; }
nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .95rem; }
a { color: var(--accent); }
figure { margin: 1.25rem 0 1.75rem; text-align: center; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .4rem; text-align: left; }
.scroll { overflow-x: auto; max-width: 100%; margin: .5rem 0 1rem; border: 1px solid var(--line); border-radius: 4px; }
table { border-collapse: collapse; font-size: .9rem; width: 100%; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
tr:last-child > * { border-bottom: 0; }
thead th { background: var(--box); vertical-align: bottom; }
th small { display: block; font-weight: normal; font-size: .78rem; color: var(--muted); min-width: 5.5em;
           white-space: normal; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tbody th { font-weight: 600; white-space: nowrap; }
.kv th { width: 45%; font-weight: normal; color: var(--muted); white-space: normal; }
.note { background: var(--box); border-left: 4px solid var(--accent); padding: .1rem .9rem; margin: 1rem 0; }
code, pre { font: .85rem/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre { background: var(--box); padding: .6rem .8rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: .5rem 0; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr)); gap: 0 1rem; }
footer { color: var(--muted); font-size: .85rem; margin-top: 2.5rem; }
"""

_e = html.escape


def _fmt(value: object, digits: int | None = 3) -> str:
    """A value from a file as escaped text: floats to `digits` decimals (None: 6 significant digits), None as a
    dash, dicts and short lists flattened."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and math.isfinite(value):
        if digits is None:
            return f"{value:.6g}"
        return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10**-digits else f"{value:.3g}"
    if isinstance(value, dict):
        return "; ".join(f"{_e(str(k))} = {_fmt(v, digits)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in value) if len(value) <= 12 else f"{len(value)} values"
    return _e(str(value))


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A table in a box that scrolls sideways rather than widening the page; cells are HTML already."""
    thead = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table></div>'


def _kv(rows: list[tuple[str, str]]) -> str:
    """A two-column key/value table; keys and values are HTML already."""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'


def _num(value: object, digits: int = 3) -> str:
    return f'<td class="num">{_fmt(value, digits)}</td>'


def _head(name: str, unit: str) -> str:
    return f"{name}<small>{unit}</small>"


def _figure(picture: Picture, run_path: Path) -> str:
    with Image.open(picture.path) as im:
        width, height = im.size
    src = _e(picture.path.relative_to(run_path).as_posix())
    caption = _e(picture.caption)
    return (f'<figure><img src="{src}" alt="{caption}" width="{width}" height="{height}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _page(title: str, lead: str, sections: list[tuple[str, str, str]], css: str = "") -> str:
    nav = "".join(f'<a href="#{key}">{heading}</a>' for key, heading, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{heading}</h2>\n{content}\n</section>'
                     for key, heading, content in sections)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_CSS}{css}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p class="lead">{lead}</p>
<nav>{nav}</nav>
{body}
<footer>Made by vaekit {_e(__version__)} on {_e(time.strftime("%Y-%m-%d %H:%M"))}.
Figures are per datapoint, in nats, unless a name says otherwise.</footer>
</main>
</body>
</html>
"""
