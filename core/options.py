"""Each user setting declared once: a dataclass field with its help, range and choices.

The option dataclasses (:class:`core.generate.GenerateOptions`,
:class:`core.retarget.RetargetSettings`, ...) declare every setting with :func:`option`. From
that one declaration come the command-line flags of both CLIs (:func:`add_arguments`, read back
by :func:`from_arguments`), the arguments the add-on hands its worker (:func:`to_arguments`),
the checks that run before any work (:func:`check`), and the add-on's Blender properties
(``addon/properties.py`` builds them from :func:`option_fields`). A new setting is one field.

A field whose type is itself an option dataclass is flattened: its fields become flags of their
own (names stay unique across the nesting).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
import typing
from typing import Any, Sequence

from .errors import ConductorError


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """What a CLI or a panel needs to offer one setting.

    Attributes
    ----------
    name : str
        The field's name; the flag is ``--`` + name with "-" for "_" unless ``flag`` is given.
    kind : type
        bool, int, float or str (the field's type without ``None``).
    optional : bool
        Whether None is a value (it means "not set": detect, or use the default behaviour).
    default : Any
    help : str
        One line, said the same way in ``--help`` and the panel's tooltip.
    label : str
        Title-case name for the panel.
    minimum, maximum : float or None
        Inclusive range of a number.
    choices : tuple or None
        The only values allowed (besides None where optional).
    flag : str
        The command-line flag.
    exclusive : str or None
        Options sharing this name cannot be given together on a command line.
    """

    name: str
    kind: type
    optional: bool
    default: Any
    help: str
    label: str
    minimum: float | None
    maximum: float | None
    choices: tuple[Any, ...] | None
    flag: str
    exclusive: str | None

    def problem(self, value: Any) -> str:
        """Why ``value`` is not allowed ("" when it is), as the end of a sentence."""
        if value is None:
            return "" if self.optional else "must be given"
        if self.kind is bool:
            return "" if isinstance(value, bool) else "must be true or false"
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"must be a number, got {value!r}"
            if self.kind is int and int(value) != value:
                return f"must be a whole number, got {value!r}"
            if not math.isfinite(value):
                return f"must be a finite number, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}, got {value!r}"
        if self.minimum is not None and self.maximum is not None and not self.minimum <= value <= self.maximum:
            return f"must be between {self.minimum:g} and {self.maximum:g}, got {value:g}"
        if self.minimum is not None and value < self.minimum:
            return f"must be {self.minimum:g} or more, got {value:g}"
        if self.maximum is not None and value > self.maximum:
            return f"must be {self.maximum:g} or less, got {value:g}"
        return ""


def option(
    default: Any,
    help: str,
    *,
    label: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    flag: str = "",
    exclusive: str | None = None,
) -> Any:
    """A dataclass field declaring a setting (see :class:`OptionInfo` for the arguments)."""
    metadata = {
        "help": help,
        "label": label,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices is not None else None,
        "flag": flag,
        "exclusive": exclusive,
    }
    return dataclasses.field(default=default, metadata={"option": metadata})


def nested(cls: type) -> Any:
    """A dataclass field holding another option dataclass (its fields are flattened)."""
    return dataclasses.field(default_factory=cls)


_FIELDS: dict[type, tuple[OptionInfo, ...]] = {}


def option_fields(cls: type) -> tuple[OptionInfo, ...]:
    """The settings of option dataclass ``cls``, nested ones flattened, in declaration order."""
    if cls not in _FIELDS:
        _FIELDS[cls] = _read_fields(cls)
    return _FIELDS[cls]


def _read_fields(cls: type) -> tuple[OptionInfo, ...]:
    hints = typing.get_type_hints(cls)
    found: list[OptionInfo] = []
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            found.extend(option_fields(kind))
            continue
        meta = field.metadata.get("option")
        if meta is None:
            continue  # not a user setting (e.g. a path filled in by the caller)
        arguments = (
            typing.get_args(kind)
            if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union
            else ()
        )
        optional = type(None) in arguments
        if optional:
            kind = next(argument for argument in arguments if argument is not type(None))
        found.append(
            OptionInfo(
                name=field.name,
                kind=kind,
                optional=optional,
                default=field.default,
                help=meta["help"],
                label=meta["label"] or field.name.replace("_", " ").title(),
                minimum=meta["minimum"],
                maximum=meta["maximum"],
                choices=meta["choices"],
                flag=meta["flag"] or "--" + field.name.replace("_", "-"),
                exclusive=meta["exclusive"],
            )
        )
    names = [info.name for info in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"{cls.__name__} declares {duplicates} twice through its nested options"
    return tuple(found)


def check(instance: Any) -> None:
    """Raise ConductorError naming the first setting of ``instance`` that is out of range."""
    for info in option_fields(type(instance)):
        problem = info.problem(_value(instance, info.name))
        if problem:
            raise ConductorError(f"{info.label} {problem}.")


def _value(instance: Any, name: str) -> Any:
    """The value of setting ``name``, looked up through nested option dataclasses."""
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if field.name == name:
            return value
        if dataclasses.is_dataclass(value) and name in {info.name for info in option_fields(type(value))}:  # nested
            return _value(value, name)
    raise KeyError(name)


# ---------------------------------------------------------------------------------- command lines
def add_arguments(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    *,
    exclude: Sequence[str] = (),
    nested: bool = True,
    only: Sequence[str] | None = None,
) -> None:
    """Add a flag for every setting of ``cls`` (but ``exclude``; with ``nested`` False, only
    those declared on ``cls`` itself; with ``only``, just those) to ``parser`` or an argument
    group. Values are checked as argparse reads them, so a bad one is a usage error (exit 2)."""
    groups: dict[str, Any] = {}
    own = {field.name for field in dataclasses.fields(cls)}
    for info in option_fields(cls):
        if (
            info.name in exclude
            or (not nested and info.name not in own)
            or (only is not None and info.name not in only)
        ):
            continue
        target = parser
        if info.exclusive is not None:
            if info.exclusive not in groups:
                groups[info.exclusive] = parser.add_mutually_exclusive_group()
            target = groups[info.exclusive]
        if info.kind is bool:  # (argparse adds no default to these on every Python: said here)
            target.add_argument(
                info.flag,
                dest=info.name,
                action=argparse.BooleanOptionalAction,
                default=info.default,
                help=f"{info.help} (default: {'on' if info.default else 'off'})",
            )
            continue
        said = [] if info.default in (None, "") else [f"default: {_flag_text(info.default)}"]
        if info.minimum is not None and info.maximum is not None and info.choices is None:
            said.append(f"{_flag_text(info.minimum)} to {_flag_text(info.maximum)}")
        target.add_argument(
            info.flag,
            dest=info.name,
            type=functools.partial(_parse_value, info),
            default=info.default,
            metavar=_metavar(info),
            help=info.help + (f" ({'; '.join(said)})" if said else ""),
        )


def _metavar(info: OptionInfo) -> str:
    if info.choices is not None:
        return "{" + ",".join(map(str, info.choices)) + "}"
    return "FILE" if info.name.endswith("_path") else info.flag.lstrip("-").replace("-", "_").upper()


def _parse_value(info: OptionInfo, text: str) -> Any:
    try:
        value = info.kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {info.kind.__name__}") from None
    problem = info.problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _flag_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def from_arguments(cls: type, args: argparse.Namespace, **given: Any) -> Any:
    """An instance of ``cls`` from parsed arguments; ``given`` fills fields that are not
    settings (and overrides settings)."""
    names = {info.name for info in option_fields(cls)}
    return from_values(cls, {name: value for name, value in vars(args).items() if name in names}, **given)


def from_values(cls: type, values: dict[str, Any], **given: Any) -> Any:
    """An instance of ``cls`` (nested option dataclasses included) from setting values by name;
    settings missing from ``values`` keep their defaults; ``given`` sets fields directly."""
    unknown = set(values) - {info.name for info in option_fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no settings {sorted(unknown)}")
    return _from_values(cls, values, given)


def _from_values(cls: type, values: dict[str, Any], given: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in given:
            kwargs[field.name] = given[field.name]
        elif dataclasses.is_dataclass(hints[field.name]):
            kwargs[field.name] = _from_values(hints[field.name], values, given)
        elif "option" in field.metadata and field.name in values:
            kwargs[field.name] = values[field.name]
    return cls(**kwargs)


def to_arguments(instance: Any) -> list[str]:
    """The command-line flags that :func:`add_arguments` reads back into an equal instance:
    one for each setting that is not at its default."""
    arguments: list[str] = []
    for info in option_fields(type(instance)):
        value = _value(instance, info.name)
        if value == info.default and type(value) is type(info.default):
            continue
        if value is None:
            raise ValueError(f"{info.name}=None has no command-line form (its default is {info.default!r})")
        if info.kind is bool:
            arguments.append(info.flag if value else "--no-" + info.flag[2:])
        else:
            arguments += [info.flag, repr(float(value)) if info.kind is float else str(value)]
    return arguments
