"""The `vaekit` command: a thin shell over the library. The only package that reads argv or prints.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from vaekit import __version__
from vaekit.cli import compare, evaluate, experiment, outputs, train
from vaekit.cli.options import EXIT_USAGE, Parser
from vaekit.errors import VaekitError
from vaekit.train import distributed


def build_parser() -> Parser:
    parser = Parser(prog="vaekit", description="Latent-variable models on PyTorch: train, evaluate honestly, compare.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    outputs.add_parsers(sub)  # datasets, report, sample, reconstruct, encode
    train.add_parser(sub)
    experiment.add_parser(sub)  # config
    evaluate.add_parsers(sub)  # evaluate, baselines
    compare.add_parser(sub)
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
