"""Settings declared once (core/options.py): flags, checks and the worker's command line come
from the dataclass fields, so they cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from core.errors import ConductorError
from core.generate import GenerateOptions
from core.options import add_arguments, check, from_arguments, from_values, nested, option, option_fields, to_arguments
from core.retarget import RetargetSettings


@dataclasses.dataclass
class Inner:
    depth: float = option(0.5, "how deep", minimum=0.0, maximum=1.0)
    style: str = option("auto", "how", choices=("auto", "legato"))


@dataclasses.dataclass
class Outer:
    inner: Inner = nested(Inner)
    count: int | None = option(None, "how many", choices=(2, 3))
    loud: bool = option(False, "loudly")
    name_path: str | None = option(None, "a file", flag="--name", exclusive="source")
    seed: int = option(0, "a seed", minimum=0, exclusive="source")
    note: str = ""  # not a setting: no flag

    def __post_init__(self) -> None:
        check(self)


def parser_for(cls) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, cls)
    return parser


def test_nested_settings_are_flattened_in_order() -> None:
    assert [info.name for info in option_fields(Outer)] == ["depth", "style", "count", "loud", "name_path", "seed"]
    assert option_fields(Outer)[4].flag == "--name" and option_fields(Outer)[2].optional


@pytest.mark.parametrize(
    "value",
    [
        Outer(),
        Outer(Inner(depth=0.25, style="legato"), count=3, loud=True, seed=9),
        Outer(name_path="x.npy"),
    ],
)
def test_to_arguments_reads_back_equal(value: Outer) -> None:
    parsed = parser_for(Outer).parse_args(to_arguments(value))
    assert from_arguments(Outer, parsed, note=value.note) == value


def test_bad_values_are_one_sentence_and_usage_errors() -> None:
    with pytest.raises(ConductorError, match=r"^Depth must be between 0 and 1, got 2\.$"):
        Outer(Inner(depth=2.0))
    with pytest.raises(ConductorError, match=r"^Count must be one of 2, 3, got 4\.$"):
        Outer(count=4)
    with pytest.raises(ConductorError, match=r"^Seed must be a whole number, got 1\.5\.$"):
        Outer(seed=1.5)  # type: ignore[arg-type]
    for arguments in (["--depth", "2"], ["--count", "4"], ["--seed", "x"], ["--name", "a", "--seed", "1"]):
        with pytest.raises((argparse.ArgumentError, SystemExit)):
            parser_for(Outer).parse_args(arguments)


def test_from_values_refuses_a_setting_it_does_not_have() -> None:
    assert from_values(Outer, {"depth": 0.1}).inner.depth == 0.1
    with pytest.raises(TypeError, match="dpeth"):
        from_values(Outer, {"dpeth": 0.1})


def test_the_real_options_declare_help_and_ranges() -> None:
    for cls in (GenerateOptions, RetargetSettings):
        for info in option_fields(cls):
            assert info.help and not info.help[0].isupper() and not info.help.endswith("."), info.name
            if info.kind in (int, float) and info.choices is None and info.name != "seed":
                assert info.minimum is not None and info.maximum is not None, info.name
    assert GenerateOptions().meter is None and RetargetSettings().amplitude == 1.0
