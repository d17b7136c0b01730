"""The `vaekit` command: a thin shell over the library. The only module that reads argv or prints.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import sys
import time
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from vaekit import __version__, distributed
from vaekit.errors import VaekitError
from vaekit.files import atomic_write

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (with a pointer to --help) and exit 2, and options are never
    abbreviated (so a misspelt option is an error, not silently another option)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _field_type(annotation: object) -> tuple[type, bool]:
    """(element type, is_tuple) of a config field annotation such as `int`, `tuple[int, ...] | None`."""
    if isinstance(annotation, str):
        annotation = eval(annotation, {"tuple": tuple, "int": int, "float": float, "str": str, "bool": bool})
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _field_type(args[0])
    if typing.get_origin(annotation) is tuple:
        return args[0], True
    return annotation, False


def _add_config_options(parser: argparse.ArgumentParser, cls: type, skip: Sequence[str] = ()) -> None:
    """One option per dataclass field (`--latent-dim`), typed from the annotation, help from the field metadata.

    Defaults are left as None so that the dataclass stays the one source of defaults.
    """
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        kind, many = _field_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        help_ = f"{f.metadata.get('help', '')} (default: {'auto' if shown is None else shown})"
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            choices = f.metadata.get("choices")
            group.add_argument(flag, type=kind, nargs="+" if many else None, default=None, choices=choices,
                               help=help_, metavar=None if choices else f.name.upper())


def _config_from(cls: type, args: argparse.Namespace, base: dict | None = None, **extra):
    """Build a config dataclass from `base` values overridden by the options the user gave."""
    values = dict(base or {})
    for f in dataclasses.fields(cls):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = tuple(given) if isinstance(given, list) else given
    values.update(extra)
    try:
        return cls(**values)
    except ValueError as e:
        raise VaekitError(f"invalid option: {e}") from None


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=float))


def _progress_wanted(args: argparse.Namespace) -> bool:
    return not getattr(args, "json", False) and sys.stderr.isatty()


@contextlib.contextmanager
def _progress_bar(wanted: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr fed with (done, total), or None when output is not a terminal."""
    if not wanted:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise VaekitError(f"{path}: already exists; choose another --out or pass --force to replace it")


# ---------------------------------------------------------------------------------------------- subcommands


def cmd_datasets(args: argparse.Namespace) -> int:
    from vaekit.data import list_datasets

    rows = list_datasets()
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        state = "available" if row["available"] else "not here"
        shape = "x".join(map(str, row["shape"]))
        print(f"{row['name']:<16} {state:<10} {shape:<10} {row.get('where') or ''}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vaekit import data as vdata
    from vaekit.model import VAE, ModelConfig
    from vaekit.runs import open_run
    from vaekit.train import DataConfig, TrainConfig, fit

    command = ["vaekit", *args.argv]
    if distributed.launched() and args.out is None:
        raise VaekitError("--out RUN is needed under torchrun, so that every process trains the same run")
    if args.resume:
        if args.out is None:
            raise VaekitError("--resume needs --out RUN, the run directory to continue")
        fixed = [f.name for cls in (DataConfig, ModelConfig, TrainConfig) for f in dataclasses.fields(cls)
                 if f.name not in ("epochs", "device") and getattr(args, f.name, None) is not None]
        if fixed:
            flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
            raise VaekitError(f"{flags}: a resumed run keeps its saved configuration; only --epochs and --device "
                              "may change (start a new run with another --out to change the rest)")
        run = open_run(args.out)
        data_config, model_config = run.data_config, run.model_config
        train_config = _config_from(TrainConfig, argparse.Namespace(epochs=args.epochs, device=args.device),
                                    dataclasses.asdict(run.train_config))
        model = VAE(model_config)
        splits = run.load_splits()
    else:
        data_config = _config_from(DataConfig, args)
        train_config = _config_from(TrainConfig, args)
        splits = vdata.load(data_config.data, seed=data_config.split_seed, image_size=data_config.image_size)
        torch.manual_seed(train_config.seed)  # initialisation is part of the seeded run
        model_config = _config_from(ModelConfig, args, data_shape=splits.data_shape)
        try:
            model = VAE(model_config)
        except ValueError as e:
            raise VaekitError(f"invalid model: {e}") from None
    out = Path(args.out) if args.out else Path("runs") / f"{Path(splits.name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    with distributed.from_environment() as group:
        result = fit(model, splits, train_config, run_dir=out, resume=args.resume, data_config=data_config,
                     command=command, progress=_progress_wanted(args))
    if not group.is_main:  # rank 0 reports for all processes
        return 0
    last = result.history[-1] if result.history else {}
    summary = {
        "run": str(out),
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "best_valid_elbo": result.best_valid_elbo,
        "images_per_second": last.get("images_per_second"),
        "train_seconds_total": sum(row["epoch_seconds"] for row in result.history),
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"run: {out}  ({len(result.history)} epochs, {summary['train_seconds_total']:.1f} s, "
              f"{summary['images_per_second'] or 0:,.0f} images/s)")
        print(f"best validation ELBO: {result.best_valid_elbo:.3f} nats per datapoint (epoch {result.best_epoch})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vaekit.checkpoint import write_json
    from vaekit.runs import evaluate_run, open_run

    run = open_run(args.run)
    with _progress_bar(_progress_wanted(args), f"log p(x), K = {args.importance_samples}") as on_batch:
        figures = evaluate_run(run, split=args.split, num_samples=args.importance_samples, limit=args.limit,
                               gap_points=args.gaps or 0, gap_steps=args.gap_steps, probe=args.probe,
                               baselines=args.baselines, on_batch=on_batch, device=args.device)
    write_json(run.path / "evaluation.json", figures)
    if args.json:
        _print_json({k: v for k, v in figures.items() if k != "per_datapoint"})
        return 0
    f = figures
    print(f"{f['dataset']}, {f['split']} split, n = {f['n']}; {f['units']}:")
    print(f"  ELBO               {f['elbo']:10.3f}    reconstruction {f['reconstruction']:.3f}, KL {f['kl']:.3f}")
    print(f"  log p(x)           {f['log_likelihood']:10.3f} ± {f['log_likelihood_stderr']:.3f}   importance sampling, "
          f"K = {f['importance_samples']}; mean ESS {f['log_likelihood_ess_mean']:.1f}, "
          f"{f['low_ess_points']} points with ESS < {f['low_ess_threshold']:g}")
    print(f"  gap                {f['gap']:10.3f}    log p(x) - ELBO, estimates KL(q(z|x) || p(z|x))")
    if "approximation_gap" in f:
        print(f"    approximation    {f['approximation_gap']:10.3f}    log p(x) - ELBO[q*]  ({f['gap_points']} points, "
              f"{f['gap_steps']} steps)")
        print(f"    amortization     {f['amortization_gap']:10.3f}    ELBO[q*] - ELBO[q]")
    if f["bits_per_dim"] is not None:
        print(f"  bits/dim           {f['bits_per_dim']:10.4f}    bits per dimension, from log p(x)")
    print(f"  active units       {f['active_units']:>10d}    of {f['latent_dim']} (Cov_x E_q[z_j] > 0.01)")
    top = sorted(enumerate(f["kl_per_dim"]), key=lambda t: -t[1])[:8]
    print("  KL per dimension   " + ", ".join(f"z{j} {v:.2f}" for j, v in top) + " nats" +
          (" (largest 8)" if len(f["kl_per_dim"]) > 8 else ""))
    probe = f.get("probe")
    if probe:
        print(f"  linear probe       {probe['latent_accuracy']:10.4f}    test accuracy on posterior means "
              f"(raw inputs: {probe['raw_accuracy']:.4f})")
    elif args.probe:
        print("  linear probe              -    the data has no labels")
    if f.get("baselines"):
        _print_baselines(f["baselines"], vae=(f["log_likelihood"], f["log_likelihood_stderr"]))
    print(f"written: {run.path / 'evaluation.json'}")
    return 0


def _print_baselines(rows: list[dict], vae: tuple[float, float] | None = None) -> None:
    print("  test log-likelihood, nats per datapoint:")
    if vae is not None:
        print(f"    {'VAE (this run)':<28} {vae[0]:10.3f} ± {vae[1]:.3f}")
    for row in rows:
        chosen = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["hyperparameters"].items())
        note = f"; {row['note']}" if row["note"] else ""
        print(f"    {row['name']:<28} {row['log_likelihood']:10.3f} ± {row['stderr']:.3f}   ({chosen}{note})")


def cmd_baselines(args: argparse.Namespace) -> int:
    from vaekit import data as vdata
    from vaekit.pipeline import Pipeline
    from vaekit.runs import baseline_rows

    splits = vdata.load(args.data, seed=args.split_seed)
    binarize = args.binarize if splits.levels not in (None, 2) else "none"
    pipeline = Pipeline(binarize=binarize, dequantize=splits.levels not in (None, 2) and binarize == "none",
                        levels=splits.levels, seed=args.split_seed)
    rows = baseline_rows(splits, pipeline, seed=args.split_seed)
    if args.json:
        _print_json({"dataset": splits.name, "split": "test", "units": "nats per datapoint", "baselines": rows})
        return 0
    print(f"{splits.name}, test split (n = {len(splits.x_test)})")
    _print_baselines(rows)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vaekit.report import write_report

    print(write_report(args.run))
    return 0


def _default_picture(run_path: Path, name: str, given: str | None, force: bool, image: bool) -> Path:
    if given is not None:
        path = Path(given)
        _refuse_existing(path, force)
        return path
    return run_path / f"{name}{'.png' if image else '.csv'}"


def _write_array(path: Path, array: np.ndarray) -> None:
    if path.suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write(path, buffer.getvalue())
    elif path.suffix == ".csv":
        rows = array.reshape(len(array), -1)
        atomic_write(path, "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in rows).encode())
    else:
        raise VaekitError(f"{path}: unsupported output type; use .png (images), .npy or .csv")


def cmd_sample(args: argparse.Namespace) -> int:
    from vaekit import plots
    from vaekit.runs import open_run

    run = open_run(args.run)
    image = len(run.model.data_shape) == 3
    path = _default_picture(run.path, "samples", args.out, args.force, image)
    generator = torch.Generator().manual_seed(args.seed)
    x = run.model.sample(args.n, mean=not args.draw, generator=generator).numpy()
    if path.suffix == ".png":
        if not image:
            raise VaekitError(f"{path}: this run's data is not images; write samples to .csv or .npy")
        plots.image_grid(x.clip(0, 1), path, title=f"{args.n} samples from the model")
    else:
        _write_array(path, x)
    print(path)
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from vaekit import plots
    from vaekit.runs import open_run

    run = open_run(args.run)
    if len(run.model.data_shape) != 3:
        raise VaekitError(f"{args.run}: reconstruct draws pictures, and this run's data is not images")
    path = _default_picture(run.path, "reconstructions", args.out, args.force, True)
    splits = run.load_splits()
    x = run.pipeline.fixed(getattr(splits, f"x_{args.split}")[: args.n], args.split)
    with torch.inference_mode():
        x_hat = run.model.decode(run.model.encode(x).mean).mean
    plots.reconstructions(x.numpy(), x_hat.numpy().clip(0, 1), path)
    print(path)
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from vaekit import data as vdata
    from vaekit.evaluate import batches
    from vaekit.runs import open_run

    run = open_run(args.run)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise VaekitError(f"{out}: --out must end in .npz")
    _refuse_existing(out, args.force)
    splits = (run.load_splits() if args.data is None else
              vdata.load(args.data, seed=run.data_config.split_seed, image_size=run.data_config.image_size))
    if tuple(splits.data_shape) != run.model.data_shape:
        raise VaekitError(f"{args.data}: data shape {tuple(splits.data_shape)} does not match the run's "
                          f"{run.model.data_shape}")
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "valid", "test"):
        x = run.pipeline.fixed(getattr(splits, f"x_{split}"), split)
        locs, scales = [], []
        with torch.inference_mode():
            for xb in batches(x, 1024):
                qz_x = run.model.encode(xb).base_dist
                locs.append(qz_x.loc)
                scales.append(qz_x.scale)
        arrays[f"{split}_loc"] = torch.cat(locs).numpy()
        arrays[f"{split}_variance"] = torch.cat(scales).square().numpy()
        labels = getattr(splits, f"y_{split}")
        if labels is not None:
            arrays[f"{split}_labels"] = labels.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(out, buffer.getvalue())
    print(out)
    return 0


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from vaekit.model import ModelConfig
    from vaekit.train import DataConfig, TrainConfig

    parser = _Parser(prog="vaekit", description="Variational autoencoders: train, evaluate honestly, compare.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.add_argument("--json", action="store_true", help="one JSON array on stdout")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("train", help="train a VAE and write a run directory")
    p.add_argument("--out", help="run directory (default: runs/DATASET-TIMESTAMP); never overwritten")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_config_options(p, DataConfig)
    _add_config_options(p, ModelConfig)
    _add_config_options(p, TrainConfig)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="ELBO, importance-sampled log p(x), gap, bits/dim, active units")
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--importance-samples", type=int, default=1000, metavar="K", help="K for log p(x) (default 1000)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate the first N points of the split")
    p.add_argument("--gaps", type=int, nargs="?", const=100, default=None, metavar="N",
                   help="split the gap into approximation and amortization parts on N points (default N: 100)")
    p.add_argument("--gap-steps", type=int, default=500, metavar="S", help="Adam steps fitting q* per point")
    p.add_argument("--probe", action="store_true", help="linear classifier on posterior means vs raw inputs")
    p.add_argument("--baselines", action="store_true", help="fit the density baselines on the same splits")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when available)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("baselines", help="classic density estimators' test log-likelihood on a dataset")
    p.add_argument("--data", default="digits", help="dataset name or path (default: digits)")
    p.add_argument("--binarize", default="none", choices=("none", "static"),
                   help="binarize grey-level data once (as a static-binarized VAE sees it)")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_baselines)

    p = sub.add_parser("report", help="write RUN/report.html: pictures, curves, evaluation")
    p.add_argument("run")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sample", help="draw from the model; a picture grid for images")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", help="FILE.png, .npy or .csv (default: RUN/samples.png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", action="store_true", help="draw x ~ p(x|z) instead of showing the mean of p(x|z)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("reconstruct", help="test images beside their reconstructions")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=32)
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--out", help="FILE.png (default: RUN/reconstructions.png)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("encode", help="posterior means and variances of every split, to .npz")
    p.add_argument("run")
    p.add_argument("--data", help="dataset name or path (default: the run's own data)")
    p.add_argument("--out", required=True, help="FILE.npz")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_encode)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `vaekit` command line; returns the exit code (under torchrun, leaves the process with it)."""
    code = _main(argv)
    if distributed.launched():
        distributed.exit_process(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors: argparse has printed what it had to
        return int(e.code or 0)
    args.argv = argv  # recorded in a run's config.json
    for name in ("n", "importance_samples", "limit", "gaps", "gap_steps"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"vaekit {args.command}: error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return EXIT_USAGE
    try:
        if distributed.launched() and args.command != "train":
            raise VaekitError("only `vaekit train` runs under torchrun (data-parallel); run this command as one "
                              "process")
        return args.func(args)
    except VaekitError as e:
        if distributed.is_main_process():  # under torchrun every process fails alike; rank 0 says why
            print(f"vaekit {args.command}: error: {e}", file=sys.stderr)
        else:
            distributed.wait_for_main_to_report()
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"vaekit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vaekit ... | head`: the reader left; stop quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush from failing again
        return 141
