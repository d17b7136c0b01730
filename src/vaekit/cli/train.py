"""`vaekit train`: options from the data, model, objective and training configs; new runs and --resume."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from vaekit.cli.options import (
    Owner,
    add_config_options,
    config_from,
    given,
    print_json,
    progress_wanted,
)
from vaekit.data.config import DataConfig
from vaekit.errors import VaekitError
from vaekit.models import MODELS, config_class, data_fields
from vaekit.objectives import OBJECTIVES
from vaekit.train import distributed
from vaekit.train.config import TrainConfig
from vaekit.train.loggers import TRACKERS

#: --help sections, in order: config metadata `group` -> title.
GROUPS = {
    "run": "run directory",
    "data": "data",
    "model": "model: the architecture (--model)",
    "prior": "prior p(z) (--model vae)",
    "hierarchy": "second stochastic layer z2 (--model hvae)",
    "inference": "inference: q(z|x) amortised or per datapoint (--model vae)",
    "objective": "objective: what training maximises (--objective)",
    "training": "training",
}
#: Options a resumed run may change.
RESUMABLE = ("epochs", "device")


def _model_owners() -> list[Owner]:
    return [Owner(config_class(kind), f"--model {kind}") for kind in MODELS]


def _objective_owners() -> list[Owner]:
    return [Owner(cls.Config, f"--objective {name}") for name, cls in OBJECTIVES.items()]


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
    run.add_argument("--log", action="append", choices=TRACKERS, default=None,
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


def add_run_options(p: argparse.ArgumentParser, groups: dict[str, argparse._ArgumentGroup]) -> list[str]:
    """The options of a run's configuration (data, model, objective, training): `vaekit train`'s and `vaekit
    config`'s. Returns the config field names added."""
    names = add_config_options(p, [Owner(DataConfig, "data")], "data", groups)
    groups["model"].add_argument("--model", choices=MODELS.names(), default=None,
                                 help="the kind of model (default: vae): latent-variable models vae, hvae; "
                                      "conditional cvae; semi-supervised m2; classifier p(y|x); density model made")
    names += add_config_options(p, _model_owners(), "model", groups)
    groups["objective"].add_argument("--objective", choices=OBJECTIVES.names(), default=None,
                                     help="the training objective (default: the model's own: elbo; likelihood for "
                                          "classifier and made; m2 for m2)")
    names += add_config_options(p, _objective_owners(), "objective", groups)
    names += add_config_options(p, [Owner(TrainConfig, "training")], "training", groups)
    return names


def _changed_on_resume(args: argparse.Namespace, values: dict[str, object], run) -> list[str]:
    """'--flag OLD -> NEW' for each given option whose value differs from the saved run's (other than those a
    resumed run may change)."""
    saved: dict[str, object] = {"model": run.kind, "objective": run.objective.name}
    for config in (run.data_config, run.model_config, run.objective.config, run.train_config):
        saved.update(dataclasses.asdict(config))
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


def _resumable(values: dict[str, object]) -> dict[str, Any]:
    """The given options a resumed run may change (`RESUMABLE`): TrainConfig fields, as argparse typed them
    (`dataclasses.replace` runs TrainConfig's checks on them)."""
    return {k: values[k] for k in RESUMABLE if k in values}


def _saved_run(out: Path):
    """The configs of the run in `out` (config.json read through the schema), as `_changed_on_resume` reads them."""
    from vaekit.runs import read_config

    _, kind, model_config, data_config, train_config, objective, _ = read_config(out / "config.json")
    return SimpleNamespace(kind=kind, model_config=model_config, data_config=data_config, train_config=train_config,
                           objective=objective)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from vaekit import data as vdata
    from vaekit.cli.experiment import resolve as resolve_experiment
    from vaekit.files import unique_dir
    from vaekit.objectives import build_objective
    from vaekit.runs import open_run
    from vaekit.train.footprint import check_training
    from vaekit.train.loggers import make_loggers
    from vaekit.train.loop import fit
    from vaekit.train.state import completed_epochs

    command = ["vaekit", *args.argv]
    if (args.mlflow_uri or args.mlflow_experiment) and "mlflow" not in (args.log or []):
        raise VaekitError("--mlflow-uri and --mlflow-experiment apply only with --log mlflow")
    if distributed.launched() and args.out is None:
        raise VaekitError("--out RUN is needed under torchrun, so that every process trains the same run")
    values = given(args, args.option_names)
    resume = args.resume
    saved = None
    if resume:
        if args.out is None:
            raise VaekitError("--resume needs --out RUN, the run directory to continue")
        if args.config:
            raise VaekitError("--config starts a new run; --resume continues the run in --out with its saved "
                              "configuration")
        if not Path(args.out).is_dir():
            raise VaekitError(f"{args.out}: no such run directory; drop --resume to start a new run there")
        if completed_epochs(args.out) == 0:  # nothing completed: start afresh, from its saved configs if any
            resume = False
            saved = _saved_run(Path(args.out)) if (Path(args.out) / "config.json").is_file() else None
    if resume:
        run = open_run(args.out)
        changed = _changed_on_resume(args, values, run)
        if changed:
            raise VaekitError(f"{', '.join(changed)}: a resumed run keeps its saved configuration; only "
                              f"{' and '.join('--' + n for n in RESUMABLE)} may change (start a new run with another "
                              "--out to change the rest)")
        data_config, objective = run.data_config, run.objective
        train_config = dataclasses.replace(run.train_config, **_resumable(values))
        model = MODELS[run.kind](run.model_config)
        splits = run.load_splits()
    else:
        experiment = None
        if saved is not None:
            changed = _changed_on_resume(args, values, saved)
            if changed:
                raise VaekitError(f"{', '.join(changed)}: {args.out} was started with another configuration; drop "
                                  "--resume to start it with this one")
            kind, data_config, objective = saved.kind, saved.data_config, saved.objective
            train_config = dataclasses.replace(saved.train_config, **_resumable(values))
        else:
            kind, objective_name, values, experiment, _ = resolve_experiment(args, values)  # --config, then options
            data_config = config_from(DataConfig, values)
            train_config = config_from(TrainConfig, values)
            objective = build_objective(objective_name, config_from(OBJECTIVES[objective_name].Config, values))
        splits = vdata.load_data(data_config)
        torch.manual_seed(train_config.seed)  # initialisation is part of the seeded run
        if saved is not None:
            model_config = saved.model_config
            if tuple(model_config.data_shape) != tuple(splits.data_shape):
                raise VaekitError(f"{args.out}: the run was started on data of shape {model_config.data_shape}, but "
                                  f"{data_config.data} now has shape {tuple(splits.data_shape)}; pass the original data")
        else:
            if experiment is not None:
                experiment.check_data_shape(splits.data_shape)
            model_config = config_from(config_class(kind), values, **data_fields(kind, splits))
        check_training(kind, model_config, objective, train_config.batch_size,
                       splits.sizes()["train"] + splits.sizes()["valid"])
        try:
            model = MODELS[kind](model_config)
        except ValueError as e:
            raise VaekitError(f"invalid model: {e}") from None
    if args.out is not None:
        out = Path(args.out)
    else:  # a new name, created exclusively: two runs started in the same second never share one
        out = unique_dir(Path("runs") / f"{Path(splits.name).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    loggers = make_loggers(args.log or [], out, mlflow_uri=args.mlflow_uri, mlflow_experiment=args.mlflow_experiment)
    with distributed.from_environment() as group:
        result = fit(model, splits, train_config, objective, run_dir=out, resume=resume,
                     data_config=data_config, command=command, progress=progress_wanted(args), loggers=loggers)
    if not group.is_main:  # rank 0 reports for all processes
        return 0
    if args.resume and not resume:  # said once it is done: a failure is one line, which says what was kept
        print(f"vaekit train: {out} had no completed epoch; it was started afresh", file=sys.stderr)
    history = result.history
    best_row: dict = next((row for row in history if row["epoch"] == result.best_epoch), {})
    summary = {
        "run": str(out),
        "epochs": len(history),
        "best_epoch": result.best_epoch,
        "best_by": result.best_by,
        "best_valid": result.best_valid,
        "best_valid_elbo": best_row.get("valid_elbo_nats"),
        "images_per_second": history[-1].get("images_per_second") if history else None,
        "train_seconds_total": sum(row["epoch_seconds"] for row in history),
    }
    if args.json:
        print_json(summary)
    else:
        figure = result.best_by.removeprefix("valid_").removesuffix("_nats")
        label = {"elbo": "ELBO", "iwae_bound": "IWAE bound", "unlabelled_bound": "unlabelled bound U(x)"}.get(
            figure, figure.replace("_", " "))
        print(f"run: {out}  ({len(history)} epochs, {summary['train_seconds_total']:.1f} s, "
              f"{summary['images_per_second'] or 0:,.0f} images/s)")
        print(f"best validation {label}: {result.best_valid:.3f} nats per datapoint (epoch {result.best_epoch})")
    return 0


__all__ = ["GROUPS", "add_parser", "add_run_options", "run_train"]
