"""MkDocs hook: the command-line page's `--help` texts, made from vaekit's own parser at build time, so the page
can never disagree with the program."""

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
