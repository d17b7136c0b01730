"""One schema for every config: the dataclass fields, their types and their metadata.

Configs are dataclasses whose fields are declared with `option(...)`: a default, a help line, and the checks
that make a value valid (choices, a minimum, a maximum). `validate` builds a config from untrusted values (the
command line, config.json, a TOML file) with the same checks everywhere, so the three can never disagree, and
every problem is one line naming the option or the file and field:

    @dataclass
    class TrainConfig:
        epochs: int = option(300, "passes over the training split", minimum=1)

    validate(TrainConfig, {"epochs": 0}, Source.command_line())
    # ConfigError: --epochs: must be at least 1, got 0
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from vaekit.errors import VaekitError, cut, shown

if typing.TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")

#: Whole numbers must fit in 64 bits (a signed 64-bit integer, what PyTorch and numpy index with), wherever they come
#: from: an option, config.json or an experiment file. A field's own `maximum` may be smaller.
INT_MAX = (1 << 63) - 1
#: The most epochs an option counts (--epochs, --patience, --warmup-epochs, --lr-step-epochs): a run's history, one
#: row per epoch, lives in the header of its checkpoint, rewritten after every epoch.
MAX_EPOCHS = 100_000


class ConfigError(VaekitError, ValueError):
    """A config value (an option, or a field of a config file) that is unknown, of the wrong type, or out of range.

    Also a ValueError, as a config built in Python with a bad value raises one."""


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    cli: bool = True,
    group: str | None = None,
    when: tuple[str, tuple[Any, ...] | Callable[[], tuple[Any, ...]]] | None = None,
    flag: str | None = None,
    auto: bool = False,
) -> Any:
    """A dataclass field with the metadata the schema and the command line read.

    Args:
        default: the default value (tuples are immutable, so they are safe defaults).
        help: one line for `--help`.
        choices: the allowed values, or a callable returning them (for registries filled at import time).
        minimum: lower bound on a number (on every element of a tuple of numbers).
        maximum: upper bound on a number (on every element of a tuple of numbers).
        cli: whether the field is a command-line option.
        group: the `--help` section it is listed under (default: the config's own).
        when: (other field, values): the field only means something when the other field has one of these
            values; the command line refuses it otherwise rather than ignoring it silently. The values may be a
            callable returning them (read from a registry's components: `Registry.names_where`).
        flag: the option's name, when it is not the field's name with dashes.
        auto: a whole-number field (annotated `int | str`) that also takes the word "auto" (`--threads`).
    """
    metadata = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "cli": cli,
                "group": group, "when": when, "flag": flag, "auto": auto}
    return dataclasses.field(default=default, metadata=metadata)


def choices_of(f: dataclasses.Field) -> tuple[str, ...] | None:
    choices = f.metadata.get("choices")
    if choices is None:
        return None
    return tuple(choices() if callable(choices) else choices)


def when_of(f: dataclasses.Field) -> tuple[str, tuple[Any, ...]] | None:
    """(other field, the values of it under which this field applies), or None where the field always applies."""
    when = f.metadata.get("when")
    if when is None:
        return None
    other, allowed = when
    return other, tuple(allowed() if callable(allowed) else allowed)


def flag_of(f: dataclasses.Field) -> str:
    """The command-line option of a field: `--latent-dim` for `latent_dim`."""
    return "--" + (f.metadata.get("flag") or f.name.replace("_", "-"))


@dataclass(frozen=True)
class Source:
    """Where values come from, for error messages: how to name one field, how to name the whole section, and
    what the user should do about a bad value."""

    name: Callable[[dataclasses.Field], str]
    section: str
    fix: str = ""

    @classmethod
    def command_line(cls) -> Source:
        return cls(flag_of, "the command line")

    @classmethod
    def python(cls, config: type) -> Source:
        return cls(lambda f: f"{config.__name__}.{f.name}", config.__name__)

    @classmethod
    def file(cls, path: object, section: str | None, fix: str = "restore the file or train the run again") -> Source:
        where = f"{path}: {section}" if section else f"{path}"
        return cls(lambda f: f"{where}.{f.name}" if section else f"{path}: {f.name}", where, fix)

    def error(self, subject: str, problem: str) -> ConfigError:
        return ConfigError(f"{subject}: {problem}" + (f"; {self.fix}" if self.fix else ""))


def _fail(source: Source, f: dataclasses.Field, problem: str) -> typing.NoReturn:
    raise source.error(source.name(f), problem)


def _type_of(annotation: Any) -> tuple[type, bool, bool]:
    """(element type, is a tuple, may be None) of an annotation such as `int`, `tuple[int, ...] | None`."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], True, optional
    return annotation, False, optional


def field_types(cls: type) -> dict[str, tuple[type, bool, bool]]:
    """Field name -> (element type, is a tuple, may be None), for every field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: _type_of(hints[f.name]) for f in dataclasses.fields(cls)}


def _scalar(value: Any, kind: type, f: dataclasses.Field, source: Source) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            _fail(source, f, f"must be true or false, got {shown(value)}")
        return value
    if kind is int:
        if f.metadata.get("auto") and value == "auto":
            return value  # a field that also takes "auto" (`option(auto=True)`)
        value = _whole(value, f, source)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(source, f, f"must be a finite number, got {shown(value)}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            _fail(source, f, f"must be a string, got {shown(value)}")
        choices = choices_of(f)
        if choices is not None and value not in choices:
            _fail(source, f, f"{shown(value)} is not one of {', '.join(choices)}{suggest(value, choices)}")
        return value
    else:  # a structured field (dict, list) read from a file: at least of the declared type
        origin = typing.get_origin(kind) or kind
        if isinstance(origin, type) and not isinstance(value, origin):
            _fail(source, f, f"must be a{'n' * (origin.__name__[0] in 'aeiou')} {origin.__name__}, got "
                             f"{type(value).__name__}")
        return value
    low, high = f.metadata.get("minimum"), f.metadata.get("maximum")
    if low is not None and value < low:
        _fail(source, f, f"must be at least {_number(low)}, got {_number(value)}")
    if high is not None and value > high:
        _fail(source, f, f"must be at most {_number(high)}, got {_number(value)}")
    return value


def _whole(value: Any, f: dataclasses.Field, source: Source) -> int:
    """A whole number (an integral float such as 1e3 too) that fits in 64 bits (`INT_MAX`)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (isinstance(value, float) and not math.isfinite(value)) or value != int(value)):
        _fail(source, f, f"must be a whole number{' or auto' if f.metadata.get('auto') else ''}, got {shown(value)}")
    value = int(value)
    if abs(value) > INT_MAX:
        _fail(source, f, f"must fit in 64 bits (at most {INT_MAX:,}), got {_number(value)}")
    return value


def _number(value: float) -> str:
    """A bound or a value in a message: whole numbers as they are (up to 20 digits), others with %g."""
    if isinstance(value, int) and abs(value) >= 10**40:
        return f"about 10^{math.floor(math.log10(abs(value)))}"  # str() of 4300+ digits raises
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e16):
        return str(int(value))
    return f"{value:g}"


def check_value(cls: type, name: str, value: Any, source: Source) -> Any:
    """The value of field `name` of `cls` after the schema's checks (tuples from lists), or ConfigError."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    kind, many, optional = field_types(cls)[name]
    if value is None:
        if not optional:
            _fail(source, f, "must be given (null is not allowed)")
        return None
    if many:
        if not isinstance(value, (list, tuple)):
            _fail(source, f, f"must be a list of {kind.__name__} values, got {shown(value)}")
        return tuple(_scalar(v, kind, f, source) for v in value)
    return _scalar(value, kind, f, source)


def suggest(name: str, known: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest known name, or ''."""
    close = difflib.get_close_matches(cut(name, 100), list(known), n=1)  # a long name is close to none
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(cls: type[C], values: Any, source: Source) -> C:
    """Build config dataclass `cls` from untrusted `values` (a mapping of field names), checking every field.

    Unknown keys are refused with the closest valid name; missing keys take the field's default (a field without
    one must be given); cross-field checks in `__post_init__` become `ConfigError` too.
    """
    if not isinstance(values, Mapping):
        raise source.error(source.section, f"must be an object of fields, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise source.error(source.section, f"unknown field {key!r}{suggest(str(key), fields)}")
    checked = {name: check_value(cls, name, value, source) for name, value in values.items()}
    for name, f in fields.items():
        if name not in checked and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            _fail(source, f, "is missing")
    try:
        return cls(**checked)
    except ValueError as e:
        raise source.error(source.section, str(e)) from None


def check(config: Any) -> None:
    """Apply the schema's checks to a config dataclass built directly in Python, in place (lists become tuples).

    Call it first in `__post_init__`, so that `VAEConfig(latent_dim=0)` fails as `--latent-dim 0` does.
    """
    source = Source.python(type(config))
    for f in dataclasses.fields(config):
        object.__setattr__(config, f.name, check_value(type(config), f.name, getattr(config, f.name), source))


def to_dict(config: Any) -> dict:
    """A config dataclass as a JSON-ready dict (tuples become lists when serialised)."""
    return dataclasses.asdict(config)
