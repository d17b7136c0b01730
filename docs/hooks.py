"""MkDocs hooks: the command-line page's `--help` texts, made from vaekit's own parser at build time, so the page
can never disagree with the program; and the links of pages included from the repository's root (BENCHMARKS.md),
which point into docs/ as seen from there, made relative to the site."""

from __future__ import annotations

import os

MARKER = "<!-- vaekit --help -->"


def _help_texts() -> str:
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width; fix it so builds are reproducible
    from vaekit.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    parts = [f"## vaekit\n\n```text\n{parser.format_help()}```\n"]
    for name, command in sub.choices.items():
        parts.append(f"## vaekit {name}\n\n```text\n{command.format_help()}```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' hook signature
    return markdown.replace(MARKER, _help_texts()) if MARKER in markdown else markdown


def on_page_content(html: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' hook signature
    # `--8<-- "BENCHMARKS.md"` keeps that file's `docs/NAME.png`: in the site, docs/NAME.png is NAME.png.
    return html.replace('src="docs/', 'src="').replace('href="docs/', 'href="')
