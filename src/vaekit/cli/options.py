"""Command-line options built from the config dataclasses, so that the command line, config.json and the schema can
never disagree: one option per field (`latent_dim` -> `--latent-dim`), typed from its annotation, help and checks
from its metadata (`vaekit.config.option`). Options are left as None when not given, so that the dataclasses stay
the one source of defaults, and a given option that does not apply (to the chosen model kind, objective, prior or
likelihood) is refused rather than ignored. A run's options (`add_run_options`: data, model, objective, training),
their --help sections (`GROUPS`) and the config classes that own them are shared by `vaekit train` and `vaekit
config`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from vaekit.config import INT_MAX, Source, choices_of, field_types, flag_of, suggest, validate, when_of
from vaekit.data.config import DataConfig
from vaekit.errors import VaekitError, cut, shown
from vaekit.models import MODELS, config_class
from vaekit.objectives import OBJECTIVES
from vaekit.train.config import TrainConfig

EXIT_USAGE = 2

#: --help sections of a run's options, in order: config metadata `group` -> title.
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


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (with a pointer to the --help of the command at fault) and exit 2,
    options are never abbreviated (so a misspelt option is an error, not silently another option), and a misspelt
    option or choice gets the closest valid one, as config files do (`vaekit.config.suggest`)."""

    def __init__(self, prog: str | None = None, **kwargs: typing.Any) -> None:
        super().__init__(prog, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        # argparse leaves a subcommand's unknown options to the top parser, which names itself; the subcommand's
        # parser reports them here, with its own --help.
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            parser = self._command_parser(parsed)
            hints = [suggest(arg.split("=", 1)[0], parser._option_string_actions) for arg in unknown
                     if arg.startswith("-")]
            parser.error(f"unrecognized arguments: {cut(' '.join(unknown), 200)}{''.join(h for h in hints if h)}")
        return parsed

    def _command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the subcommand `parsed` chose (itself where there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, Parser):
                    return chosen._command_parser(parsed)
        return self

    def _get_value(self, action: argparse.Action, arg_string: str) -> typing.Any:
        # Every typed option of every command passes here: a value that is not of the option's type is quoted
        # cut to a readable length, and a whole number must fit in 64 bits (`vaekit.config.INT_MAX`).
        try:
            value = super()._get_value(action, arg_string)
        except argparse.ArgumentError:
            kinds = {"int": "a whole number", "float": "a number", "whole_number_or_auto": "a whole number or auto"}
            kind = kinds.get(getattr(action.type, "__name__", ""), "a valid value")
            raise argparse.ArgumentError(action, f"must be {kind}, got {shown(arg_string)}") from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT_MAX:
            raise argparse.ArgumentError(action, f"must fit in 64 bits (at most {INT_MAX:,}), got "
                                                 f"{cut(arg_string, 30)}")
        return value

    def _check_value(self, action: argparse.Action, value: typing.Any) -> None:
        if action.choices is not None and value not in action.choices:
            hint = suggest(str(value), map(str, action.choices)) if isinstance(value, str) else ""
            raise argparse.ArgumentError(action, f"invalid choice: {shown(value)} (choose from "
                                                 f"{', '.join(map(repr, action.choices))}){hint}")


@dataclasses.dataclass(frozen=True)
class Owner:
    """A config class whose fields are options, and when they apply: `label` names it in messages."""

    cls: type
    label: str  # e.g. "--model hvae"


def model_owners() -> list[Owner]:
    """Each registered model kind's config class, as the owner of its options (`--model KIND`)."""
    return [Owner(config_class(kind), f"--model {kind}") for kind in MODELS]


def objective_owners() -> list[Owner]:
    """Each registered objective's config class, as the owner of its options (`--objective NAME`)."""
    return [Owner(cls.Config, f"--objective {name}") for name, cls in OBJECTIVES.items()]


def add_run_options(p: argparse.ArgumentParser, groups: dict[str, argparse._ArgumentGroup]) -> list[str]:
    """The options of a run's configuration (data, model, objective, training): `vaekit train`'s and `vaekit
    config`'s. Returns the config field names added."""
    names = add_config_options(p, [Owner(DataConfig, "data")], "data", groups)
    groups["model"].add_argument("--model", choices=MODELS.names(), default=None,
                                 help="the kind of model (default: vae): latent-variable models vae, hvae; "
                                      "conditional cvae; semi-supervised m2; classifier p(y|x); density model made")
    names += add_config_options(p, model_owners(), "model", groups)
    groups["objective"].add_argument("--objective", choices=OBJECTIVES.names(), default=None,
                                     help="the training objective (default: the model's own: elbo; likelihood for "
                                          "classifier and made; m2 for m2)")
    names += add_config_options(p, objective_owners(), "objective", groups)
    names += add_config_options(p, [Owner(TrainConfig, "training")], "training", groups)
    return names


def _shown(value: object) -> str:
    if value is None:
        return "auto"
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


def add_config_options(parser: argparse.ArgumentParser, owners: Sequence[Owner], title: str,
                       groups: dict[str, argparse._ArgumentGroup] | None = None) -> list[str]:
    """One option per field of the owners' config classes (each field once, whoever declares it first).

    A field with metadata `group` goes to that `--help` section (created on first use), the others to `title`.
    Defaults that differ between owners are listed per owner. Returns the field names added.
    """
    groups = groups if groups is not None else {}
    added: dict[str, dataclasses.Field] = {}
    for owner in owners:
        types = field_types(owner.cls)
        for f in dataclasses.fields(owner.cls):
            if f.name in added or not f.metadata.get("cli", True):
                continue
            added[f.name] = f
            defaults = {o.label: _shown(_default(o.cls, f.name)) for o in owners if _has(o.cls, f.name)}
            if len(set(defaults.values())) == 1:
                default = f"default: {next(iter(defaults.values()))}"
            else:
                default = "default: " + ", ".join(f"{label} {value}" for label, value in defaults.items())
            only = "" if len(defaults) == len(owners) else f"; {' or '.join(defaults)} only"
            group_name = f.metadata.get("group") or title
            if group_name not in groups:
                groups[group_name] = parser.add_argument_group(group_name)
            group = groups[group_name]
            kind, many, _ = types[f.name]
            help_ = f.metadata.get("help", "")
            if "default:" in help_:  # the field says what its default means ("keep every label"): no second one
                help_ += f" ({only.removeprefix('; ')})" if only else ""
            else:
                help_ += f" ({default}{only})"
            if kind is bool:
                group.add_argument(flag_of(f), dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                   help=help_)
            else:
                choices = choices_of(f)
                type_ = whole_number_or_auto if f.metadata.get("auto") else kind
                metavar = None if choices else "N|auto" if f.metadata.get("auto") else f.name.upper()
                group.add_argument(flag_of(f), dest=f.name, type=type_, nargs="+" if many else None, default=None,
                                   choices=choices, help=help_, metavar=metavar)
    return list(added)


def whole_number_or_auto(text: str) -> int | str:
    """The value of an option that takes a whole number or the word auto (`--threads`)."""
    return "auto" if text == "auto" else int(text)


def _has(cls: type, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(cls))


def _default(cls: type, name: str) -> object:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default if f.default is not dataclasses.MISSING else None


def given(args: argparse.Namespace, names: Iterable[str]) -> dict[str, object]:
    """The options among `names` that the user gave (lists become tuples)."""
    values = {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    return values


def refuse_inapplicable(values: dict[str, object], chosen: Owner, others: Sequence[Owner],
                        name_of: Callable[[dataclasses.Field], str] = flag_of) -> None:
    """Refuse options of other owners' classes (`--latent-dim2` with `--model vae`), and fields whose `when`
    condition does not hold for the chosen values (`--prior-components` with `--prior normal`).

    `name_of` names a field in messages: its option by default; an experiment file names the values it gave.
    """
    fields = {f.name: f for f in dataclasses.fields(chosen.cls)}
    for name in values:
        if name in fields:
            continue
        for other in others:
            if _has(other.cls, name):
                owners = [o.label for o in others if _has(o.cls, name)]
                f = next(f for f in dataclasses.fields(other.cls) if f.name == name)
                raise VaekitError(f"{name_of(f)} applies to {' or '.join(owners)} only, not {chosen.label}")
    for name, f in fields.items():
        when = when_of(f)
        if name in values and when is not None:
            condition, allowed = when
            value = values.get(condition, _default(chosen.cls, condition))
            if value not in allowed:
                flag = name_of(fields[condition])
                raise VaekitError(f"{name_of(f)} applies only with {flag} {' or '.join(map(str, allowed))}, not "
                                  f"{flag} {value}")


def config_from(cls: type, values: dict[str, object], **extra: object):
    """Build config dataclass `cls` from the given options (plus `extra` fields), through the schema."""
    names = {f.name for f in dataclasses.fields(cls)}
    return validate(cls, {**{k: v for k, v in values.items() if k in names}, **extra}, Source.command_line())


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """`--threads` for a command that computes and has no run configuration (evaluate, sample, ...), with the help
    of `vaekit train --threads`; `vaekit.cli` applies it around the command (`vaekit.limits.using_threads`)."""
    f = next(f for f in dataclasses.fields(TrainConfig) if f.name == "threads")
    p.add_argument("--threads", type=whole_number_or_auto, default="auto", metavar="N|auto",
                   help=f"{f.metadata['help']} (default: auto)")
    p.set_defaults(apply_threads=True)


def print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=float))


def progress_wanted(args: argparse.Namespace) -> bool:
    return not getattr(args, "json", False) and sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(wanted: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr fed with (done, total), or None when output is not a terminal."""
    if not wanted:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise VaekitError(f"{path}: already exists; choose another --out or pass --force to replace it")
