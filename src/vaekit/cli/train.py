"""`vaekit train`: resolve one run specification (a new run from the options and an experiment file, or the saved
run in --out), train it with `fit`, report.

    resolve(args)  ->  Resolved(spec, splits, out, resume)     the only place the three paths differ:
                       new run        --config FILE (or none), then the options (`vaekit.cli.experiment.resolve`)
                       --resume       the run in --out: its saved `RunSpec` (`vaekit.runs`), where only --epochs
                                      and --device may change; a run with no completed epoch starts again from it
    fit(...)       ->  FitResult                               `vaekit.train.fit`
    _report(...)                                               one line (or --json) on stdout
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.cli.options import GROUPS, add_run_options, config_from, given, print_json, progress_wanted
from vaekit.data.config import DataConfig
from vaekit.errors import VaekitError
from vaekit.limits import resolve_threads
from vaekit.objectives import OBJECTIVES, Objective, label
from vaekit.train import distributed
from vaekit.train.config import TrainConfig
from vaekit.train.loggers import TRACKERS

if TYPE_CHECKING:  # imported when a command needs them: `vaekit --help` loads no model or data code
    from torch import nn

    from vaekit.data import Splits
    from vaekit.runs import RunSpec
    from vaekit.train.loop import FitResult

#: Options a resumed run may change (none of them changes what is computed).
RESUMABLE = ("epochs", "device", "threads")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and write a run directory",
                       description="Train a latent-variable model and write a run directory (never overwritten).")
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    run = groups["run"]
    run.add_argument("--out", help="run directory (default: runs/DATASET-TIMESTAMP); never overwritten")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    run.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    run.add_argument("--config", metavar="FILE", help="an experiment file: TOML (see `vaekit config`), or a run's "
                                                      "config.json or directory to repeat it; options given override it")
    run.add_argument("--log", action="append", choices=TRACKERS.names(), default=None,
                     help="also log to an experiment tracker (repeatable): tensorboard (RUN/tensorboard) or mlflow")
    run.add_argument("--mlflow-uri", metavar="URI", help="MLflow tracking store: a server http://host:port, or a "
                                                         "database such as sqlite:///mlflow.db (MLflow 3 refuses a "
                                                         "folder, file://...) (default: $MLFLOW_TRACKING_URI, else "
                                                         "MLflow's default, sqlite:///mlflow.db in the working "
                                                         "directory)")
    run.add_argument("--mlflow-experiment", metavar="NAME", help="MLflow experiment (default: "
                                                                 "$MLFLOW_EXPERIMENT_NAME, else vaekit)")
    names = add_run_options(p, groups)
    p.set_defaults(func=run_train, option_names=names)


# --------------------------------------------------------------------------------------------- resolve


@dataclass(frozen=True)
class Resolved:
    """A `vaekit train` command resolved: the run to train, its data, where it goes, and whether it continues."""

    spec: RunSpec
    splits: Splits             # loaded with `spec.data_config`
    out: Path | None           # the run directory; None: a new runs/DATASET-TIMESTAMP, made when training starts
    resume: bool               # continue the run in `out` from its last completed epoch


def resolve(args: argparse.Namespace) -> Resolved:
    """The run specification of a `vaekit train` command, its data loaded: the saved run in --out where --resume
    continues one (or starts again one that never completed an epoch), else a new run from --config and the
    options. Options that would change a saved run are refused, except `RESUMABLE`."""
    _refuse_misused(args)
    values = given(args, args.option_names)
    saved, resume = _saved_spec(args)
    if saved is None:
        return _new_run(args, values)
    changed = _changed(args, values, saved.settings())
    if changed and resume:
        raise VaekitError(f"{', '.join(changed)}: a resumed run keeps its saved configuration; only "
                          f"{' and '.join('--' + n for n in RESUMABLE)} may change (start a new run with another "
                          "--out to change the rest)")
    if changed:
        raise VaekitError(f"{', '.join(changed)}: {args.out} was started with another configuration; drop "
                          "--resume to start it with this one")
    spec = saved.with_training(**{k: values[k] for k in RESUMABLE if k in values})
    config = Path(args.out) / "config.json"
    resolve_threads(spec.train_config.threads, "--threads" if "threads" in values else f"{config}: train.threads "
                    "(a resumed run may change it with --threads)")
    return Resolved(spec, spec.load_splits(config), Path(args.out), resume)


def _refuse_misused(args: argparse.Namespace) -> None:
    """Options that cannot go together, refused before anything is read."""
    if (args.mlflow_uri or args.mlflow_experiment) and "mlflow" not in (args.log or []):
        raise VaekitError("--mlflow-uri and --mlflow-experiment apply only with --log mlflow")
    if distributed.launched() and args.out is None:
        raise VaekitError("--out RUN is needed under torchrun, so that every process trains the same run")
    if not args.resume:
        return
    if args.out is None:
        raise VaekitError("--resume needs --out RUN, the run directory to continue")
    if args.config:
        raise VaekitError("--config starts a new run; --resume continues the run in --out with its saved "
                          "configuration")
    if not Path(args.out).is_dir():
        raise VaekitError(f"{args.out}: no such run directory; drop --resume to start a new run there")


def _saved_spec(args: argparse.Namespace) -> tuple[RunSpec | None, bool]:
    """(the saved `RunSpec` that --resume continues, whether it has a completed epoch to continue from); (None,
    False) without --resume, or where the run in --out has neither a completed epoch nor a config.json."""
    from vaekit.runs import open_run, read_config
    from vaekit.train.state import CONFIG, completed_epochs

    if not args.resume:
        return None, False
    out = Path(args.out)
    if completed_epochs(out) > 0:
        return open_run(out).spec, True  # its weights are checked too, before anything trains
    return (read_config(out / CONFIG)[1] if (out / CONFIG).is_file() else None), False


def _changed(args: argparse.Namespace, values: dict[str, object], saved: dict[str, object]) -> list[str]:
    """'--flag OLD -> NEW' for each given option whose value differs from the saved run's `settings()` (other than
    those a resumed run may change)."""
    given_values = {**values, **{k: getattr(args, k) for k in ("model", "objective") if getattr(args, k)}}
    changed = []
    for name, value in given_values.items():
        if name in RESUMABLE or name not in saved:
            continue
        old = saved[name]
        if (tuple(old) if isinstance(old, list) else old) != value:
            show = lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
            changed.append(f"--{name.replace('_', '-')} {show(old)} -> {show(value)}")
    return changed


def _new_run(args: argparse.Namespace, values: dict[str, object]) -> Resolved:
    """A new run: --config (where given), then the options; the model's data fields come from the data."""
    from vaekit.cli.experiment import resolve as resolve_experiment
    from vaekit.data import load_data
    from vaekit.models import config_class, data_fields
    from vaekit.objectives import build_objective
    from vaekit.runs import RunSpec

    kind, objective_name, values, experiment, name_of = resolve_experiment(args, values)  # --config, then options
    data_config = config_from(DataConfig, values)
    train_config = config_from(TrainConfig, values)
    resolve_threads(train_config.threads, name_of(_field(TrainConfig, "threads")))  # refused before data is read
    objective = build_objective(objective_name, config_from(OBJECTIVES[objective_name].Config, values))
    splits = load_data(data_config)
    if experiment is not None:
        experiment.check_data_shape(splits.data_shape)
    model_config = config_from(config_class(kind), values, **data_fields(kind, splits))
    spec = RunSpec(kind, model_config, objective, data_config, train_config)
    return Resolved(spec, splits, Path(args.out) if args.out is not None else None, resume=False)


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


# ----------------------------------------------------------------------------------------- fit, report


def run_train(args: argparse.Namespace) -> int:
    from vaekit.files import unique_dir
    from vaekit.train.loggers import make_loggers
    from vaekit.train.loop import fit

    resolved = resolve(args)
    spec = resolved.spec
    model = _model(resolved)
    # A default run name is created exclusively: two runs started in the same second never share one.
    stem = f"{Path(resolved.splits.name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = resolved.out or unique_dir(Path("runs") / stem)
    loggers = make_loggers(args.log or [], out, mlflow_uri=args.mlflow_uri, mlflow_experiment=args.mlflow_experiment)
    with distributed.from_environment() as group:
        result = fit(model, resolved.splits, spec.train_config, spec.objective, run_dir=out, resume=resolved.resume,
                     data_config=spec.data_config, command=["vaekit", *args.argv], progress=progress_wanted(args),
                     loggers=loggers)
    if group.is_main:  # rank 0 reports for all processes
        if args.resume and not resolved.resume:  # said once it is done: a failure is one line, saying what was kept
            print(f"vaekit train: {out} had no completed epoch; it was started afresh", file=sys.stderr)
        _report(args, out, result, spec.objective)
    return 0


def _model(resolved: Resolved) -> nn.Module:
    """The model to train: a new run's initialised from its seed, after its memory footprint is checked; a resumed
    run's weights come from its checkpoint (`fit` loads them)."""
    from vaekit.train.footprint import check_training

    spec = resolved.spec
    if not resolved.resume:
        import torch

        torch.manual_seed(spec.train_config.seed)  # initialisation is part of the seeded run
        sizes = resolved.splits.sizes()
        check_training(spec.kind, spec.model_config, spec.objective, spec.train_config.batch_size,
                       sizes["train"] + sizes["valid"], labelled_batch=spec.train_config.labelled_batch,
                       epochs=spec.train_config.epochs)
    return spec.build_model()


def _report(args: argparse.Namespace, out: Path, result: FitResult, objective: Objective) -> None:
    """What training achieved: a JSON summary (--json) or two lines, on stdout."""
    history = result.history
    best_row: dict = next((row for row in history if row["epoch"] == result.best_epoch), {})
    summary = {
        "run": str(out),
        "epochs": len(history),
        "best_epoch": result.best_epoch,
        "best_by": result.best_by,
        "best_valid": result.best_valid,
        "best_valid_elbo": best_row.get("valid_elbo_nats"),
        "best_weights": result.best_weights,
        "images_per_second": history[-1].get("images_per_second") if history else None,
        "train_seconds_total": sum(row["epoch_seconds"] for row in history),
    }
    if args.json:
        print_json(summary)
        return
    print(f"run: {out}  ({len(history)} epochs, {summary['train_seconds_total']:.1f} s, "
          f"{summary['images_per_second'] or 0:,.0f} images/s)")
    ema = any(key.startswith("ema_valid_") for key in best_row)  # both weights were validated
    kept = ("" if not ema else "; the moving average of the weights (--ema-decay), which validated better than the "
            "trained weights, is kept" if result.best_weights == "ema" else "; the trained weights, which validated "
            "better than their moving average (--ema-decay), are kept")
    print(f"best validation {label(objective.validation_figure)}: {result.best_valid:.3f} nats per datapoint (epoch "
          f"{result.best_epoch}{kept})")


__all__ = ["RESUMABLE", "Resolved", "add_parser", "resolve", "run_train"]
