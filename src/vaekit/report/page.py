"""`write_report`: draws the pictures, reads the run's files, and writes ``RUN/report.html`` atomically."""

from __future__ import annotations

from pathlib import Path

from vaekit.files import atomic_write
from vaekit.report.markup import _e, _figure, _page
from vaekit.report.pictures import _curves, _history, _model_pictures, _per_datapoint
from vaekit.report.sections import (
    _comparison,
    _config_section,
    _evaluation_details,
    _not_evaluated,
    _provenance_section,
    _read_evaluation,
)

REPORT = "report.html"


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report.html``: evaluation, pictures, training curves, configuration and provenance.

    Pictures go to ``RUN/report_files/`` (PNG, drawn by `vaekit.plots`, each written atomically) and are linked
    from the page by relative paths, so the run folder can be moved or served as it is. Random draws (prior
    samples, tabular samples) are seeded with the run's seed, so the same run gives the same pictures, and the
    caller's global RNG state is left as it was.

    Args:
        run_dir: a run directory made by `vaekit train`. ``RUN/evaluation.json`` (from `vaekit evaluate RUN`) is
            shown when present; without it the page says how to make it.

    Returns:
        The `Path` of the report, written atomically.

    Raises:
        RunError: the directory is not a loadable run, or its data can no longer be loaded.

    Example:
        >>> write_report("runs/demo")
        PosixPath('runs/demo/report.html')
    """
    run, splits, folder, image, summary, pictures = _model_pictures(run_dir)
    history, no_history = _history(run.path)
    evaluation, problem = _read_evaluation(run.path)

    m = run.model_config
    title = f"vaekit report: {_e(run.path.resolve().name)}"
    lead = (f"{_e(m.describe())}, trained with {_e(run.objective.describe())} on {_e(splits.name)} for "
            f"{len(history)} epochs.")
    what = (f"images of shape {_e(' × '.join(map(str, m.data_shape)))}" if image else
            f"rows of a table with {m.data_shape[0]} features")
    sections = [
        ("evaluation", "Evaluation",
         _comparison(evaluation, run) if evaluation is not None else _not_evaluated(run, summary, problem)),
        ("pictures", "What the model learned",
         f"<p>The data are {what}; the pictures use the test split and the best weights (by validation "
         f"{_e(run.best_by.removeprefix('valid_').removesuffix('_nats').replace('_', ' '))}).</p>\n" + "\n".join(_figure(p, run.path) for p in pictures)),
        ("training", "Training curves",
         _figure(_curves(history, folder), run.path) if history else f"<p>{_e(no_history)}</p>"),
    ]
    if evaluation is not None:
        details = _evaluation_details(evaluation, run, _per_datapoint(evaluation, folder))
        sections.append(("details", "Evaluation details", details))
    sections += [
        ("config", "Configuration", _config_section(run.config)),
        ("provenance", "How this run was produced", _provenance_section(run.config)),
    ]
    out = run.path / REPORT
    atomic_write(out, _page(title, lead, sections).encode("utf-8"))
    return out
