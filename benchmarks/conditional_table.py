"""Print the tables of BENCHMARKS.md's "Labels and conditional models" section from the JSON files that
benchmarks/conditional.sh writes (benchmarks/results/conditional/NAME.json and NAME.train.json).

    python benchmarks/conditional_table.py [--results benchmarks/results/conditional]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _load(folder: Path, name: str) -> tuple[dict | None, dict | None]:
    figures = folder / f"{name}.json"
    train = folder / f"{name}.train.json"
    return (json.loads(figures.read_text()) if figures.is_file() else None,
            json.loads(train.read_text()) if train.is_file() else None)


def _num(value: object, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _training(train: dict | None) -> str:
    if train is None:
        return "—"
    return f"{train['epochs']} ({train['train_seconds_total'] / 60:.1f} min)"


def _ll(f: dict) -> str:
    if "log_likelihood" not in f:
        return "—"
    what = "log p(x\\|y)" if f.get("conditioned_on_labels") else "log p(x)"
    k = "exact" if f.get("log_likelihood_method") == "exact" else f"K={f['importance_samples']}"
    return f"{what} {f['log_likelihood']:.2f} ± {f['log_likelihood_stderr']:.2f} ({k})"


def models_table(folder: Path) -> list[str]:
    rows = [("| run | labels | epochs (training time) | accuracy | log p(y\\|x) (nats) | ECE | ELBO (nats) | "
            "log-likelihood of x (nats) |"), "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, labels in (("classifier", "50,000"), ("cvae", "50,000"), ("m2-100", "100"), ("m2-1000", "1,000"),
                         ("vae", "none"), ("made", "none")):
        f, train = _load(folder, name)
        if f is None:
            continue
        rows.append(f"| {name} | {labels} | {_training(train)} | {_num(f.get('accuracy'), 4)} | "
                    f"{_num(f.get('label_log_likelihood'), 3)} | {_num(f.get('calibration_error'), 3)} | "
                    f"{_num(f.get('elbo'))} | {_ll(f)} |")
    return rows


def m2_table(folder: Path) -> list[str]:
    rows = [("| labels | M2: accuracy of q(y\\|x) | classifier on the labelled points alone | linear probe on a VAE's "
            "latents |"), "| ---: | ---: | ---: | ---: |"]
    for n in (100, 1000):
        m2, m2_train = _load(folder, f"m2-{n}")
        clf, clf_train = _load(folder, f"classifier-{n}")
        probe, _ = _load(folder, f"vae-probe-{n}")
        cell = lambda f, t: "—" if f is None else f"{f['accuracy']:.4f} ({_training(t)})"
        probe_cell = "—" if probe is None or not probe.get("probe") else f"{probe['probe']['latent_accuracy']:.4f}"
        rows.append(f"| {n} | {cell(m2, m2_train)} | {cell(clf, clf_train)} | {probe_cell} |")
    return rows


def amortisation_table(folder: Path) -> list[str]:
    rows = ["| q(z\\|x) | epochs (training time) | test ELBO (nats) | test log p(x) (nats) | gap (nats) |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for name in ("amortised", "non-amortised"):
        f, train = _load(folder, name)
        if f is None:
            continue
        rows.append(f"| {name} | {_training(train)} | {_num(f['elbo'])} | {_ll(f)} | {_num(f['gap'])} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "conditional")
    args = parser.parse_args()
    for table in (models_table, m2_table, amortisation_table):
        print("\n".join(table(args.results)) + "\n")


if __name__ == "__main__":
    main()
