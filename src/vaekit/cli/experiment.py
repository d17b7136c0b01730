"""Experiments as files: `vaekit train --config FILE` and `vaekit config`, through the one config schema.

An experiment file holds the sections of a run's config.json: `kind`, `[model]`, `[objective]` (with `name`),
`[data]` and `[train]`. Every key is checked by the schema that checks the command line and config.json
(`vaekit.config`), and every problem is one line naming the file, the section and the key; an unknown key
gets the closest valid name. A file is TOML (read with the standard library's tomllib, tomli on Python 3.10)
or JSON: a run's config.json, or the run directory itself, which repeats that run exactly.

Values are taken in this order, each overriding the one before: the defaults, the file, the command line.
Rules that make a run's config.json usable as an experiment file:

- A key set to its default is the same as a key left out. config.json records every field, including those
  that do not apply (the cosine schedule's `lr_final` under a constant schedule) at their defaults; any other
  value of a field that does not apply is refused, as its option would be.
- The keys config.json records about the run that was made (`RECORDED`: versions, command, time, dataset,
  pipeline, number of processes, the validation figure) are accepted and ignored: they are outcomes of the
  other sections, made again by the new run.
- `model.data_shape` is read from the data; a file may record it, and it must then match the data (unless the
  command line chose other data).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.cli.options import (
    GROUPS,
    Owner,
    add_run_options,
    config_from,
    given,
    model_owners,
    objective_owners,
    refuse_inapplicable,
)
from vaekit.config import (
    ConfigError,
    Source,
    check_value,
    choices_of,
    field_types,
    flag_of,
    suggest,
    validate,
    when_of,
)
from vaekit.data.config import DataConfig
from vaekit.errors import cut, shown
from vaekit.files import CONFIG_LIMIT, read_text
from vaekit.models import MODELS, config_class, default_objective
from vaekit.objectives import OBJECTIVES
from vaekit.train.config import TrainConfig
from vaekit.version import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: The sections of an experiment file, in the order `vaekit config` writes them.
SECTIONS = ("model", "objective", "data", "train")
#: Keys of a run's config.json that describe the run that was made; accepted in a file and ignored.
RECORDED = ("format", "vaekit_version", "torch_version", "command", "created", "best_by", "dataset", "pipeline",
            "processes")
#: What `kind` is when neither the file nor the command line says (the objective is then the kind's own).
DEFAULT_KIND = "vae"


@dataclass(frozen=True)
class Experiment:
    """The values an experiment file gives, checked by the schema.

    `values` maps field names (as the command line's options do: `latent_dim`, `lr`) to checked values; fields
    at their defaults are left out. `sections` says which section each came from, for messages.
    """

    path: Path
    kind: str | None
    objective: str | None
    values: dict[str, Any]
    sections: dict[str, str]
    data_shape: tuple[int, ...] | None

    def name_of(self, command_line: Mapping[str, object]) -> Callable[[dataclasses.Field], str]:
        """How messages name a field: by its option where the command line gave it or nobody did, else by the
        key of this file (`model.prior_components (exp.toml)`)."""

        def name(f: dataclasses.Field) -> str:
            if f.name in command_line or f.name not in self.sections:
                return flag_of(f)
            return f"{self.sections[f.name]}.{f.name} ({self.path})"

        return name

    def check_data_shape(self, data_shape: tuple[int, ...]) -> None:
        """Refuse a recorded `model.data_shape` that differs from the data's."""
        if self.data_shape is not None and tuple(self.data_shape) != tuple(data_shape):
            raise ConfigError(f"{self.path}: model.data_shape {list(self.data_shape)} does not match the data's "
                              f"shape {list(data_shape)}; remove the key (it is read from the data) or choose the "
                              "data it was made for")


def _parse(path: Path) -> dict:
    """The file's top-level table: TOML, or JSON for `.json` files (upgraded from earlier config.json formats).

    Read as every file is (`vaekit.files.read_text`: a regular file only, at most `CONFIG_LIMIT` bytes, UTF-8 with
    or without a byte-order mark), so that a FIFO, a device or a huge file is one line, not a hang."""
    from vaekit.runs import FORMAT, upgrade  # vaekit 0.1 runs kept the ELBO's settings under "train"

    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: not found; `vaekit config > exp.toml` writes an experiment file to start "
                          "from")
    text = read_text(path, ConfigError, CONFIG_LIMIT)
    if path.suffix == ".json":
        try:
            table = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise ConfigError(f"{path}: not valid JSON ({cut(str(e), 200)}); fix the file") from None
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: must be a JSON object of sections, as a run's config.json is")
        version = table.get("format", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT:
            raise ConfigError(f"{path}: format {shown(version)} is not one this vaekit reads (1 to {FORMAT}); the "
                              "file was edited or made by a newer vaekit")
        return upgrade(table)
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:  # ValueError: an integer of 4300+ digits
        raise ConfigError(f"{path}: not valid TOML ({cut(str(e), 200)}); fix the file") from None


def _default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default if f.default is not dataclasses.MISSING else None


def _choose(table: dict, key: str, registry_names: tuple[str, ...], given_name: str | None, where: str,
            path: Path) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or value not in registry_names):
        raise ConfigError(f"{path}: {where} {shown(value)} is not one of {', '.join(registry_names)}"
                          f"{suggest(str(value), registry_names)}")
    return given_name or value


def read_experiment(path: str | Path, kind: str | None = None, objective: str | None = None) -> Experiment:
    """Read and check an experiment file; `kind` and `objective`, where given, override the file's.

    The model and objective sections are checked against the chosen kind's and objective's configs. A key of
    another kind or objective is kept, for `refuse_inapplicable` to refuse by name; a key of none is unknown.
    """
    path = Path(path)
    if path.is_dir():  # a run directory: repeat the run
        path = path / "config.json"
    table = _parse(path)
    for key in table:
        if key not in ("kind", *SECTIONS, *RECORDED):
            raise ConfigError(f"{path}: unknown key {shown(key)}{suggest(str(key), ('kind', *SECTIONS))}; the keys are "
                              f"kind and the sections {', '.join(SECTIONS)}")
    sections = {}
    for section in SECTIONS:
        content = table.get(section, {})
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: {section} must be a table of keys ([{section}]), got {shown(content)}")
        sections[section] = dict(content)
    kind = _choose(table, "kind", MODELS.names(), kind, "kind", path)
    objective = _choose(sections["objective"], "name", OBJECTIVES.names(), objective, "objective.name", path)
    sections["objective"].pop("name", None)
    chosen: dict[str, list[type]] = {
        "model": [config_class(kind or DEFAULT_KIND)] + [config_class(k) for k in MODELS.names()],
        "objective": [OBJECTIVES[objective or default_objective(kind or DEFAULT_KIND)].Config]
        + [c.Config for _, c in OBJECTIVES.items()],
        "data": [DataConfig],
        "train": [TrainConfig],
    }
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    data_shape = None
    for section, content in sections.items():
        source = Source.file(path, section, fix="")
        classes = chosen[section]
        own = classes[0]
        own_values: dict[str, Any] = {}
        for key, raw in content.items():
            owner = next((c for c in classes if key in field_types(c)), None)
            if owner is None:
                known = sorted({name for c in classes for name in field_types(c)} - {"data_shape"})
                raise source.error(source.section, f"unknown key {shown(key)}{suggest(str(key), known)}")
            value = check_value(owner, key, raw, source)
            if key == "data_shape":
                data_shape = value
                continue
            if owner is own:
                own_values[key] = value
                if value == _default(own, key):
                    continue  # the same as leaving it out
            if key in origin:
                raise ConfigError(f"{path}: {key} is given in both [{origin[key]}] and [{section}]; keep one")
            values[key], origin[key] = value, section
        # The section's cross-field checks (`__post_init__`), named by the file.
        validate(own, own_values, source)
    return Experiment(path, kind, objective, values, origin, data_shape)


def resolve(args: argparse.Namespace, command_line: dict[str, object]
            ) -> tuple[str, str, dict[str, object], Experiment | None, Callable[[dataclasses.Field], str]]:
    """The model kind, the objective, the option values and the experiment (or None) of a new run from `--config`
    (where given) and the options, and how messages name each field.

    Options given on the command line override the file; the file's values go through the same applicability
    checks as options (`refuse_inapplicable`), named as the file's keys.
    """
    experiment = read_experiment(args.config, args.model, args.objective) if args.config else None
    if experiment is not None and {"data", "image_size"} & set(command_line):
        experiment = dataclasses.replace(experiment, data_shape=None)  # other data: its shape is the one to use
    values = {**(experiment.values if experiment else {}), **command_line}
    kind = args.model or (experiment and experiment.kind) or DEFAULT_KIND
    objective = args.objective or (experiment and experiment.objective) or default_objective(kind)
    name_of = experiment.name_of(command_line) if experiment else flag_of
    refuse_inapplicable(values, Owner(config_class(kind), f"--model {kind}"), model_owners(), name_of)
    refuse_inapplicable(values, Owner(OBJECTIVES[objective].Config, f"--objective {objective}"), objective_owners(),
                        name_of)
    refuse_inapplicable(values, Owner(DataConfig, "data"), [], name_of)
    refuse_inapplicable(values, Owner(TrainConfig, "training"), [], name_of)
    _refuse_label_options(values, kind, name_of)
    return kind, objective, values, experiment, name_of


#: Options about the training labels (DataConfig's and TrainConfig's): they apply to model kinds that model class
#: labels (whose config has `num_classes`), and would be recorded and ignored by any other.
LABEL_OPTIONS = ("labelled", "label_seed", "labelled_batch")


def _refuse_label_options(values: Mapping[str, object], kind: str, name_of: Callable[[dataclasses.Field], str]) -> None:
    labelled_kinds = [k for k in MODELS.names() if "num_classes" in field_types(config_class(k))]
    if kind in labelled_kinds:
        return
    fields = {f.name: f for cls in (DataConfig, TrainConfig) for f in dataclasses.fields(cls)}
    for name in LABEL_OPTIONS:
        if name in values:
            raise ConfigError(f"{name_of(fields[name])} applies to {' or '.join(f'--model {k}' for k in labelled_kinds)} "
                              f"only, not --model {kind} (it does not use labels)")


# ------------------------------------------------------------------------------------------- vaekit config


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:  # control characters must be escaped in a TOML string
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: object) -> str:
    """A config value as TOML: strings, booleans, whole numbers, finite floats (every digit) and lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same double; TOML reads 1e-05 as Python does
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _placeholder(kind: type, many: bool) -> str:
    name = {bool: "true or false", int: "whole number", float: "number", str: "text"}.get(kind, kind.__name__)
    return f"[<{name}>, ...]" if many else f"<{name}>"


def _section(config: Any) -> list[str]:
    """The keys of one config dataclass, each under a comment with its help; unset fields and fields that do not
    apply to the values above them are commented out."""
    lines = []
    types = field_types(type(config))
    for f in dataclasses.fields(config):
        if not f.metadata.get("cli", True):
            continue  # data_shape: read from the data
        value = getattr(config, f.name)
        note = f.metadata.get("help", "")
        choices = choices_of(f)
        if choices is not None:
            note += f" (one of: {', '.join(choices)})"
        lines.append(f"# {note}".replace("\n", " "))
        when = when_of(f)
        if when is not None and getattr(config, when[0]) not in when[1]:
            allowed = " or ".join(toml_value(v) for v in when[1])
            shown = toml_value(value) if value is not None else _placeholder(*types[f.name][:2])
            lines.append(f"# {f.name} = {shown}    # applies only with {when[0]} = {allowed}")
        elif value is None:
            lines.append(f"# {f.name} = {_placeholder(*types[f.name][:2])}    # not set: the default applies")
        else:
            lines.append(f"{f.name} = {toml_value(value)}")
    return lines


def to_toml(kind: str, model: Any, objective: str, objective_config: Any, data: DataConfig, train: TrainConfig,
            command: list[str] | None = None) -> str:
    """A complete experiment file: every key of the chosen kind and objective, with its value and help."""
    made = f" Made by `{' '.join(command)}` (vaekit {__version__})." if command else ""
    lines = [
        "# A vaekit experiment: `vaekit train --config FILE` trains it, and options given on the command line",
        "# override it. Every key is listed with its help; commented keys are unset (their defaults apply) or do",
        "# not apply to the values above them." + (f"\n#{made}" if made else ""),
        "",
        "# the kind of model (one of: " + ", ".join(MODELS.names()) + ")",
        f"kind = {toml_value(kind)}",
        "",
        "[model]",
        "# data_shape is read from the data",
        *_section(model),
        "",
        "[objective]",
        "# what training maximises (one of: " + ", ".join(OBJECTIVES.names()) + ")",
        f"name = {toml_value(objective)}",
        *_section(objective_config),
        "",
        "[data]",
        *_section(data),
        "",
        "[train]",
        *_section(train),
    ]
    return "\n".join(lines) + "\n"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print a complete experiment file (TOML) for `vaekit train --config`",
                       description="Print an experiment file (TOML) with every key and its default for the chosen "
                                   "model kind and objective, with the options given applied: "
                                   "`vaekit config --prior vamp > exp.toml`, then `vaekit train --config exp.toml`.")
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items() if key != "run"}
    p.add_argument("--config", metavar="FILE", help="start from this experiment file (TOML, a run's config.json "
                                                    "or its directory); the options given override it")
    names = add_run_options(p, groups)
    p.set_defaults(func=run_config, option_names=names)


def run_config(args: argparse.Namespace) -> int:
    kind, objective, values, experiment, _ = resolve(args, given(args, args.option_names))
    shape = {"data_shape": experiment.data_shape} if experiment and experiment.data_shape else {}
    model = config_from(config_class(kind), values, **shape)
    objective_config = config_from(OBJECTIVES[objective].Config, values)
    text = to_toml(kind, model, objective, objective_config, config_from(DataConfig, values),
                   config_from(TrainConfig, values), ["vaekit", *args.argv])
    sys.stdout.write(text)
    return 0


__all__ = ["RECORDED", "SECTIONS", "Experiment", "add_parser", "read_experiment", "resolve", "to_toml", "toml_value"]
