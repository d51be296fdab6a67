"""Settings declared once (core/options.py): flags, checks and the worker's command line come
from the dataclass fields, so they cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from core.errors import ConductorError
from core.generate_options import GenerateOptions
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


def test_help_gives_each_default_and_range_on_and_off_included() -> None:
    text = " ".join(parser_for(Outer).format_help().split())
    assert "how deep (default: 0.5; 0.0 to 1.0)" in text
    assert "loudly (default: off)" in text and "how many " in text  # no default for None, no range for choices
    assert "a seed (default: 0)" in text  # a minimum alone is no range


def test_the_real_options_declare_help_and_ranges() -> None:
    for cls in (GenerateOptions, RetargetSettings):
        for info in option_fields(cls):
            assert info.help and not info.help[0].isupper() and not info.help.endswith("."), info.name
            if info.kind in (int, float) and info.choices is None and info.name != "seed":
                assert info.minimum is not None and info.maximum is not None, info.name
    assert GenerateOptions().meter is None and RetargetSettings().amplitude == 1.0


# ------------------------------------------------------------------- which settings go together
def test_each_rule_is_a_conflict_on_a_command_line_and_dropped_by_the_panel():
    from core.generate_options import RULES, conflicts, normalised

    procedural = GenerateOptions(weights="procedural")
    neural = GenerateOptions(weights="neural")
    given = [
        (neural, {"meter": 3}, "Beats per bar"),
        (procedural, {"noise_path": "noise.npy"}, "noise file"),
        (procedural, {"precision": "bf16"}, "runs no network;"),
        (procedural, {"device": "cuda"}, "so no GPU"),
        (procedural, {"beat_lock": 0.5}, "always on the beat"),
        (neural, {"tracker": "dsp"}, "hear the beat themselves"),
        (procedural, {"beats_path": "grid.txt", "meter": 3}, "brings its own bars"),
        (procedural, {"beats_path": "grid.txt", "tracker": "dsp"}, "replaces the tracker"),
        (procedural, {"beats_offset_s": 1.0}, "moves a beat grid"),
    ]
    for base, changes, words in given:
        options = dataclasses.replace(base, **changes)
        is_procedural = options.weights == "procedural"
        found = conflicts(options, procedural=is_procedural)
        assert found and words in found[0].problem, (changes, [rule.problem for rule in found])
        kept = normalised(options, procedural=is_procedural)
        assert conflicts(kept, procedural=is_procedural) == []
        # only what the rules name changed; a grid stays
        assert kept.beats_path == options.beats_path and kept.weights == options.weights
    assert {rule.setting for rule in RULES} <= {info.name for info in option_fields(GenerateOptions)} | {"style"}


def test_settings_that_fit_pass_untouched():
    from core.generate_options import conflicts, normalised

    fitting = [
        (GenerateOptions(weights="procedural", meter=3, tracker="dsp", device="cpu"), True),
        (GenerateOptions(weights="neural", beat_lock=0.5, tracker="dsp", precision="bf16"), False),
        (GenerateOptions(weights="neural", beats_path="grid.txt", beats_offset_s=0.5), False),
    ]
    for options, procedural in fitting:
        assert conflicts(options, procedural=procedural) == []
        assert normalised(options, procedural=procedural) == options


def test_generate_motion_refuses_a_conflict_before_reading_the_music(tmp_path):
    from conftest import DEMO_PIECE

    from core.generate import generate_motion

    with pytest.raises(ConductorError, match="always on the beat"):
        generate_motion(DEMO_PIECE, GenerateOptions(weights="procedural", beat_lock=1.0))
