"""Commands that write what a run learned: `sample`, `reconstruct`, `encode`, `report`, and `datasets`."""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from vaekit.cli.options import add_threads_option, print_json, refuse_existing
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, check_writable

if TYPE_CHECKING:
    from vaekit.runs import Run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="list datasets and whether each is available here")
    p.add_argument("--json", action="store_true", help="one JSON array on stdout")
    p.set_defaults(func=run_datasets)

    p = sub.add_parser("report", help="write RUN/report.html: pictures, curves, evaluation")
    p.add_argument("run")
    add_threads_option(p)
    p.set_defaults(func=run_report)

    p = sub.add_parser("sample", help="draw from the model; a picture grid for images")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", help="FILE.png, .npy or .csv (default: RUN/samples.png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", action="store_true", help="draw x ~ p(x|z) instead of showing the mean of p(x|z) "
                   "(a density model always draws)")
    p.add_argument("--label", type=int, default=None, metavar="Y", help="draw from class Y (conditional models)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_threads_option(p)
    p.set_defaults(func=run_sample)

    p = sub.add_parser("reconstruct", help="test images beside their reconstructions")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=32)
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--out", help="FILE.png (default: RUN/reconstructions.png)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_threads_option(p)
    p.set_defaults(func=run_reconstruct)

    p = sub.add_parser("encode", help="posterior means and variances of every split, to .npz (optionally refined "
                       "per datapoint)")
    p.add_argument("run")
    p.add_argument("--data", help="dataset name or path (default: the run's own data)")
    p.add_argument("--out", required=True, help="FILE.npz")
    p.add_argument("--refine", type=int, default=None, metavar="STEPS",
                   help="refine each q(z|x) by STEPS steps of gradient ascent on its own ELBO (per-datapoint inference, "
                        "vaekit.estimate.fit_posteriors) before writing it")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_threads_option(p)
    p.set_defaults(func=run_encode)


def run_datasets(args: argparse.Namespace) -> int:
    from vaekit.data import list_datasets

    rows = list_datasets()
    if args.json:
        print_json(rows)
        return 0
    print(f"{'name':<16} {'here?':<10} {'shape':<10} {'labels':<11} where")
    for row in rows:
        state = "available" if row["available"] else "not here"
        shape = "x".join(map(str, row["shape"]))
        labels = f"{row['classes']} classes" if row.get("labels") else "none"
        print(f"{row['name']:<16} {state:<10} {shape:<10} {labels:<11} {row.get('where') or ''}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from vaekit.report import write_report

    print(write_report(args.run))
    return 0


def _default_output(run_path: Path, name: str, given: str | None, force: bool, image: bool) -> Path:
    if given is not None:
        path = Path(given)
        refuse_existing(path, force)
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


def run_sample(args: argparse.Namespace) -> int:
    from vaekit import plots
    from vaekit.models import generate
    from vaekit.runs import open_run
    from vaekit.train.footprint import check_sampling

    run = open_run(args.run)
    image = len(run.model_config.data_shape) == 3
    path = _default_output(run.path, "samples", args.out, args.force, image)
    check_sampling(run.kind, run.model_config, args.n, f"sample -n {args.n}")
    check_writable(path.parent)
    # Samples in the data's own units (standardized data is mapped back).
    x = run.pipeline.restore(generate(run.model, args.n, mean=not args.draw, seed=args.seed, label=args.label)).numpy()
    if path.suffix == ".png":
        if not image:
            raise VaekitError(f"{path}: this run's data is not images; write samples to .csv or .npy")
        of = f" of class {args.label}" if args.label is not None else ""
        plots.image_grid(x.clip(0, 1), path, title=f"{args.n} samples{of} from the model")
    else:
        _write_array(path, x)
    print(path)
    return 0


def _latent_view(run: Run, x: torch.Tensor, y: torch.Tensor | None, doing: str, training_rows: bool = False) -> Any:
    """The latent-variable model of the run's figures for x (`vaekit.runs.evaluate.latent_view`), or a one-line
    refusal saying why the run's model has no q(z|x) to `doing` (e.g. "encode with")."""
    from vaekit.models import ConditionalModel
    from vaekit.runs.evaluate import latent_view

    view = latent_view(run.model, x, y, training_rows=training_rows)
    if view is not None:
        return view
    if isinstance(run.model, ConditionalModel):
        raise VaekitError(f"{run.path}: a {run.kind} model's q(z|x, y) needs the label of every row, and this data lacks some; "
                          "give labelled data")
    raise VaekitError(f"{run.path}: a {run.kind} model has no latent variables, so no q(z|x) to {doing}")


def run_reconstruct(args: argparse.Namespace) -> int:
    from vaekit import plots
    from vaekit.estimate import posterior_moments
    from vaekit.runs import open_run

    run = open_run(args.run)
    if len(run.model_config.data_shape) != 3:
        raise VaekitError(f"{args.run}: reconstruct draws pictures, and this run's data is not images")
    splits = run.load_splits()
    x = run.pipeline.fixed(getattr(splits, f"x_{args.split}")[: args.n], args.split)
    y = getattr(splits, f"y_{args.split}")
    model = _latent_view(run, x, None if y is None else y[: args.n], "reconstruct through")
    path = _default_output(run.path, "reconstructions", args.out, args.force, True)
    check_writable(path.parent)
    with torch.inference_mode(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # posterior means a hierarchy estimates from draws
        x_hat = model.decode(posterior_moments(model.encode(x))[0]).mean
    plots.reconstructions(x.numpy(), x_hat.numpy().clip(0, 1), path)
    print(path)
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from vaekit import data as vdata
    from vaekit.estimate import fit_posteriors, posterior_moments
    from vaekit.models import chunks
    from vaekit.runs import open_run

    run = open_run(args.run)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise VaekitError(f"{out}: --out must end in .npz")
    if args.refine is not None and args.refine < 1:
        raise VaekitError(f"--refine {args.refine}: must be at least 1 step")
    refuse_existing(out, args.force)
    check_writable(out.parent)
    # Every label the data holds, also the training labels a semi-supervised run did not use: a conditional model
    # encodes q(z|x, y) at each row's label.
    splits = (vdata.load_data(dataclasses.replace(run.data_config, labelled=None)) if args.data is None else
              vdata.load(args.data, seed=run.data_config.split_seed,
                         image_size=cast("tuple[int, int] | None", run.data_config.image_size)))  # checked: H W
    if tuple(splits.data_shape) != tuple(run.model_config.data_shape):
        raise VaekitError(f"{args.data}: data shape {tuple(splits.data_shape)} does not match the run's "
                          f"{tuple(run.model_config.data_shape)}")
    arrays: dict[str, np.ndarray] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # posterior moments a hierarchy estimates from draws; the refinement's draws
        for split in ("train", "valid", "test"):
            x = run.pipeline.fixed(getattr(splits, f"x_{split}"), split)
            labels = getattr(splits, f"y_{split}")
            model = _latent_view(run, x, labels, "encode with", training_rows=split == "train" and args.data is None)
            with torch.inference_mode():
                moments = [posterior_moments(part.encode(xb)) for part, xb in chunks(model, x, 1024)]
            loc, scale = torch.cat([m[0] for m in moments]), torch.cat([m[1] for m in moments])
            if args.refine:
                loc, scale = fit_posteriors(model, x, start=(loc, scale), steps=args.refine)
            arrays[f"{split}_loc"] = loc.numpy()
            arrays[f"{split}_variance"] = scale.square().numpy()
            if labels is not None:
                arrays[f"{split}_labels"] = labels.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # the stub fears **arrays fills allow_pickle: bool
    atomic_write(out, buffer.getvalue())
    print(out)
    return 0
