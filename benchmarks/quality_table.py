"""The quality table (issue 18) written from benchmarks/results/quality.json, never by hand: the markdown table goes
between the `quality-table` markers of README.md and BENCHMARKS.md, and the learning curves (the validation figure
that picks each row's best epoch, per epoch, from each row's kept metrics.jsonl) into docs/quality-curves.png.

    .venv/bin/python benchmarks/quality_table.py            # rewrite both tables and the figure
    .venv/bin/python benchmarks/quality_table.py --print    # print the table only
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
#: The issue's targets (test log p(x), nats per image); the best row of the table should reach BEST.
TARGETS = {"vae": -89.0, "iwae": -87.0, "made": -88.4}
BEST = -85.5
NAMES = {"vae": "VAE (one stochastic layer)", "iwae": "IWAE", "vamp": "VampPrior VAE", "hvae": "two-layer hierarchy",
         "made": "MADE"}
START, END = "<!-- quality-table:start -->", "<!-- quality-table:end -->"


def _options(command: str) -> str:
    """The recipe part of a row's command (what is not the data, budget or output)."""
    words = command.split()
    kept, skip = [], False
    for word in words[2:]:
        if skip:
            skip = False
            continue
        if word in ("--data", "--out", "--max-minutes"):
            skip = True
            continue
        kept.append(word)
    return " ".join(kept)


def table(rows: list[dict]) -> str:
    """The markdown table of the rows, with the targets and the published figures."""
    lines = ["| model | test log p(x) (nats) | test ELBO | published | target | epochs (best) | training | recipe |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    best = max((r["test_log_likelihood"] for r in rows), default=None)
    for r in rows:
        exact = r.get("importance_samples") is None
        how = "exact" if exact else f"K = {r['importance_samples']}"
        target = TARGETS.get(r["model"])
        reached = "" if target is None else (" (reached)" if r["test_log_likelihood"] >= target else " (not reached)")
        elbo = "—" if r.get("test_elbo") is None else f"{r['test_elbo']:.2f}"
        bold = "**" if r["test_log_likelihood"] == best else ""
        lines.append(
            f"| {NAMES.get(r['model'], r['model'])} | {bold}{r['test_log_likelihood']:.2f}{bold} ± {r['stderr']:.2f} "
            f"({how}) | {elbo} | {r['published']:.2f} | {'' if target is None else f'{target:.1f}'}{reached} | "
            f"{r['epochs']} ({r['best_epoch']}) | {r['train_seconds'] / 60:.0f} min | `{_options(r['command'])}` |")
    if best is not None:
        lines.append("")
        lines.append(f"Best row: {best:.2f} nats against the target {BEST:.1f} "
                     f"({'reached' if best >= BEST else 'not reached'}). Each row trained at most 60 minutes on one "
                     "thread of a 2-core AMD EPYC VM, another row beside it; log p(x) is the test split's mean "
                     "with its standard error over images.")
    lines += [f"\n{r['note']}" for r in rows if r.get("note")]
    return "\n".join(lines)


def curves(rows: list[dict], out: Path) -> None:
    """Each row's validation figure per epoch (the one that picks its best epoch) and its training figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for r in rows:
        path = REPO / r["weights"] / "metrics.jsonl"
        if not path.exists():
            continue
        history = [json.loads(line) for line in path.read_text().splitlines()]
        key = r["best_by"]
        line, = ax.plot([h["epoch"] for h in history], [h[key] for h in history],
                        label=f"{r['model']}: {key.removeprefix('valid_').removesuffix('_nats')} (validation)")
        train = key.replace("valid_", "train_")
        if all(train in h for h in history):
            ax.plot([h["epoch"] for h in history], [h[train] for h in history], color=line.get_color(), alpha=0.4,
                    linestyle="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image (dashed: training)")
    ax.set_ylim(-110, -80)
    ax.set_title("Static binarized MNIST: validation figure per epoch (quality.json rows)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def splice(path: Path, text: str) -> None:
    """Replace what lies between the markers in `path` with `text`."""
    old = path.read_text()
    if START not in old or END not in old:
        raise SystemExit(f"{path}: no {START} ... {END} markers to write the table between")
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{START}\n{text}\n{END}", old, flags=re.S)
    path.write_text(new)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--print", action="store_true", help="print the table; write nothing")
    args = p.parse_args()
    rows = json.loads((RESULTS / "quality.json").read_text())
    text = table(rows)
    if args.print:
        print(text)
        return
    for doc in (REPO / "README.md", REPO / "BENCHMARKS.md"):
        splice(doc, text)
    curves(rows, REPO / "docs" / "quality-curves.png")
    print(f"wrote the table of {len(rows)} rows into README.md and BENCHMARKS.md, and docs/quality-curves.png")


if __name__ == "__main__":
    main()
