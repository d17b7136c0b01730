"""`vaekit train`: options from the data, model, objective and training configs; new runs and --resume."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from vaekit.cli.options import (
    Owner,
    add_config_options,
    config_from,
    given,
    print_json,
    progress_wanted,
    refuse_inapplicable,
)
from vaekit.data.config import DataConfig
from vaekit.errors import VaekitError
from vaekit.models import MODELS, data_fields, default_objective
from vaekit.objectives import OBJECTIVES
from vaekit.train import distributed
from vaekit.train.config import TrainConfig

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
    return [Owner(cls.Config, f"--model {kind}") for kind, cls in MODELS.items()]


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
    p.set_defaults(func=run_train, option_names=names)


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


def run_train(args: argparse.Namespace) -> int:
    from vaekit import data as vdata
    from vaekit.objectives import build_objective
    from vaekit.runs import open_run
    from vaekit.train.loop import fit

    command = ["vaekit", *args.argv]
    if distributed.launched() and args.out is None:
        raise VaekitError("--out RUN is needed under torchrun, so that every process trains the same run")
    values = given(args, args.option_names)
    if args.resume:
        if args.out is None:
            raise VaekitError("--resume needs --out RUN, the run directory to continue")
        run = open_run(args.out)
        changed = _changed_on_resume(args, values, run)
        if changed:
            raise VaekitError(f"{', '.join(changed)}: a resumed run keeps its saved configuration; only "
                              f"{' and '.join('--' + n for n in RESUMABLE)} may change (start a new run with another "
                              "--out to change the rest)")
        data_config, objective = run.data_config, run.objective
        train_config = dataclasses.replace(run.train_config, **{k: values[k] for k in RESUMABLE if k in values})
        model = MODELS[run.kind](run.model_config)
        splits = run.load_splits()
    else:
        kind = args.model or "vae"
        objective_name = args.objective or default_objective(kind)
        refuse_inapplicable(values, Owner(MODELS[kind].Config, f"--model {kind}"), _model_owners())
        refuse_inapplicable(values, Owner(OBJECTIVES[objective_name].Config, f"--objective {objective_name}"),
                            _objective_owners())
        refuse_inapplicable(values, Owner(TrainConfig, "training"), [])
        data_config = config_from(DataConfig, values)
        train_config = config_from(TrainConfig, values)
        objective = build_objective(objective_name, config_from(OBJECTIVES[objective_name].Config, values))
        splits = vdata.load_data(data_config)
        import torch

        torch.manual_seed(train_config.seed)  # initialisation is part of the seeded run
        model_config = config_from(MODELS[kind].Config, values, **data_fields(kind, splits))
        try:
            model = MODELS[kind](model_config)
        except ValueError as e:
            raise VaekitError(f"invalid model: {e}") from None
    out = Path(args.out) if args.out else Path("runs") / f"{Path(splits.name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    with distributed.from_environment() as group:
        result = fit(model, splits, train_config, objective, run_dir=out, resume=args.resume,
                     data_config=data_config, command=command, progress=progress_wanted(args))
    if not group.is_main:  # rank 0 reports for all processes
        return 0
    history = result.history
    best_row = next((row for row in history if row["epoch"] == result.best_epoch), {})
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


__all__ = ["GROUPS", "add_parser", "run_train"]
