"""`vaekit compare RUN [RUN ...]`: runs side by side, as a text table, JSON (--json) or a page (--html)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.cli.options import add_threads_option, print_json, refuse_existing

if TYPE_CHECKING:
    from vaekit.runs.compare import Comparison


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="runs side by side: figures, the settings that differ, curves and samples",
                       description="Put runs side by side: what was trained, the figures of their evaluation.json "
                                   "(runs evaluated with different K, splits or points are flagged and ranked only "
                                   "within their group), and the settings that differ.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--html", metavar="OUT.html", help="also write a self-contained page: the table, the validation "
                                                      "curves overlaid and each run's samples")
    p.add_argument("--force", action="store_true", help="replace --html if it exists")
    add_threads_option(p)
    p.set_defaults(func=run_compare)


def _columns(rows: list[tuple[str, list[str]]], names: list[str]) -> list[str]:
    """Text lines: a label column, then one column per run."""
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(name), *(len(cells[i]) for _, cells in rows)) for i, name in enumerate(names)]
    line = lambda label, cells: "  ".join([label.ljust(label_width), *(c.ljust(w) for c, w in zip(cells, widths))])
    return [line("", names).rstrip(), *(line(label, cells).rstrip() for label, cells in rows)]


def _names(comparison: Comparison) -> list[str]:
    names = [run.name for run in comparison.runs]
    return names if len(set(names)) == len(names) else [str(run.path) for run in comparison.runs]


def render_text(comparison: Comparison) -> str:
    """The comparison as plain text: the table (best of each evaluation group marked *), the settings that
    differ, and the flags."""
    from vaekit.runs.compare import table

    names = _names(comparison)
    rows = [(f"{row.label}" + (f" ({row.unit})" if row.unit else ""),
             [cell + (" *" if i in row.best else "") for i, cell in enumerate(row.cells)]) for row in table(comparison)]
    lines = _columns(rows, names)
    if comparison.differences:
        lines += ["", "settings that differ:"]
        shown = lambda v: ("—" if v is None else " ".join(map(str, v)) if isinstance(v, list)
                           else str(v).lower() if isinstance(v, bool) else str(v))
        lines += _columns([(key, [shown(v) for v in values]) for key, values in comparison.differences.items()], names)
    elif len(comparison.runs) > 1:
        lines += ["", "settings: identical"]
    if any(row.best for row in table(comparison)):
        lines += ["", "* the best of the runs evaluated alike; figures per datapoint, in nats unless named otherwise"]
    lines += [f"! {flag}" for flag in comparison.flags]
    return "\n".join(lines) + "\n"


def run_compare(args: argparse.Namespace) -> int:
    from vaekit.runs.compare import compare_runs

    if args.html:
        refuse_existing(Path(args.html), args.force)
    comparison = compare_runs(args.runs)
    if args.json:
        print_json(comparison.to_json())
    else:
        print(render_text(comparison), end="")
    if args.html:
        from vaekit.report.compare import write_comparison

        written = write_comparison(comparison, args.html)
        if not args.json:
            print(f"written: {written}")
    return 0


__all__ = ["add_parser", "render_text", "run_compare"]
