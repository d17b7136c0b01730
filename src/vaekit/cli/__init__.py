"""The `vaekit` command: a thin shell over the library. The only package that reads argv or prints.

Exit codes: 0 success, 2 bad input or usage (one line on stderr, no traceback; also a path that cannot be used as
given: a file where a folder should be, a name too long), 74 a filesystem fault (no space left, read-only, permission
denied: one line saying what failed, on which path, what was kept and what to do), 130 interrupted. Each error class
carries its code (`VaekitError.exit_code`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from vaekit.cli import compare, evaluate, experiment, outputs, train
from vaekit.cli.options import EXIT_USAGE, Parser
from vaekit.errors import FileError, VaekitError
from vaekit.files import file_error
from vaekit.limits import using_threads
from vaekit.train import distributed
from vaekit.version import __version__

EXIT_IO = FileError.exit_code  # sysexits.h EX_IOERR: a filesystem fault, not bad input


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
    for name, least in (("n", 1), ("importance_samples", 1), ("limit", 1), ("gaps", 1), ("gap_steps", 1),
                        ("seed", 0), ("split_seed", 0)):
        value = getattr(args, name, None)
        if value is not None and value < least:
            flag = "-n" if name == "n" else f"--{name.replace('_', '-')}"
            print(f"vaekit {args.command}: error: {flag}: must be at least {least}, got {value}", file=sys.stderr)
            return EXIT_USAGE
    try:
        if distributed.launched() and args.command != "train":
            raise VaekitError("only `vaekit train` runs under torchrun (data-parallel); run this command as one "
                              "process")
        if getattr(args, "apply_threads", False):  # `train` applies its own --threads (a config field) in `fit`
            with using_threads(args.threads):
                return args.func(args)
        return args.func(args)
    except BrokenPipeError:  # `vaekit ... | head`: the reader left; stop quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush from failing again
        return 141
    except (VaekitError, OSError, MemoryError) as e:
        if isinstance(e, OSError) and not isinstance(e, VaekitError):  # one no layer below named: still one line
            e = file_error(e, "a file operation on", None, "every file vaekit finished writing is complete (each is "
                           "written atomically)")
        elif isinstance(e, MemoryError):
            e = VaekitError("out of memory; use smaller sizes (--hidden, --latent-dim, --batch-size, -n) or a "
                            "machine with more memory")
        if distributed.is_main_process():  # under torchrun every process fails alike; rank 0 says why
            print(f"vaekit {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        else:
            distributed.wait_for_main_to_report()
        return e.exit_code
    except KeyboardInterrupt:
        print(f"vaekit {args.command}: interrupted", file=sys.stderr)
        return 130
