"""The settings of a generation (:class:`GenerateOptions`) and which of them go together.

Every rule about combining settings is one row of :data:`RULES`: the setting, when the chosen
model and beat source have a use for it, the value that means "not used", and the sentence that
says so. From that one table come both ways a front end treats a setting it has no use for:

- :func:`conflicts` (the command lines, the worker, :func:`core.generate.generate_motion`): a
  setting given where it does nothing is a mistake, said in one sentence;
- :func:`normalised` (the panel, whose fields all stay set while the user switches models): a
  setting the chosen model has no use for goes back to its unused value, quietly, as the panel
  greys it out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from .beats.track import CONDUCTED_METERS
from .beats.tracking import TRACKERS
from .errors import ConductorError
from .installed_weights import default_weights_path, neural_weights_path
from .neural.precision import PRECISIONS
from .neural.runtimes import RUNTIMES
from .options import check, nested, option
from .procedural.style import ConductingStyle

PROCEDURAL = "procedural"
DEFAULT = "default"
NEURAL = "neural"


@dataclasses.dataclass
class GenerateOptions:
    """How to generate: each field is a setting of both CLIs and the add-on (see core.options).

    ``weights`` "default" is the project's weights, or the procedural conductor where none are
    installed; ``seed`` None draws a fresh one; ``noise_path`` is used instead of the seed.
    """

    weights: str = option(
        DEFAULT,
        "'default', 'procedural', 'neural' (our own trained M2S-GAN, experimental), "
        "or a .safetensors/.pt generator file",
    )
    seed: int | None = option(0, "noise seed: same seed, same motion", minimum=0, maximum=2**31 - 1, exclusive="noise")
    noise_path: str | None = option(
        None,
        "neural weights: noise .npy shaped (S, 8) or (1, S, 8), one 8-vector per second, instead of the seed",
        flag="--noise",
        exclusive="noise",
    )
    variation: float = option(
        1.0, "noise scale (procedural: human irregularity): 0 = calmest, 1 = as trained", minimum=0.0, maximum=4.0
    )
    device: str = option(
        "auto", "network device: auto (the CPU, without PyTorch), cpu, or with PyTorch a GPU: cuda, cuda:N or mps"
    )
    runtime: str = option(
        "auto",
        "what runs the network: auto (on the CPU ONNX Runtime where it imports, else NumPy; PyTorch for a GPU or "
        "bf16), onnxruntime, numpy, or torch (PyTorch, on the device asked for)",
        choices=RUNTIMES,
    )
    meter: int | None = option(
        None,
        "beats per bar instead of the detected meter, 5 as 2+3 or 3+2 by the accents (in generate: the procedural "
        "conductor only)",
        label="Beats per Bar",
        choices=CONDUCTED_METERS,
    )
    style: ConductingStyle = nested(ConductingStyle)
    tracker: str = option(
        "auto",
        "beat tracker: auto (the learned one where its weights are installed), learned, or dsp (signal "
        "processing, no weights)",
        label="Beat Tracker",
        choices=TRACKERS,
    )
    beats_path: str | None = option(
        None,
        "conduct on this beat grid instead of the tracked beats: beat times in .json/.txt/.csv (bar.beat "
        "labels optional) or a .mid file",
        flag="--beats",
    )
    beats_offset_s: float | None = option(
        None,
        "seconds added to the grid's times (default: 0, or for a MIDI file found from the music)",
        flag="--beats-offset",
        minimum=-3600.0,
        maximum=3600.0,
    )
    beat_lock: float | None = option(
        None,
        "neural weights: how far each stroke's ictus moves onto the beat grid, 0 to 1 (default: 1 with "
        "--beats, 0 without; given without --beats it locks to the tracked beats)",
        minimum=0.0,
        maximum=1.0,
    )
    precision: str = option(
        "float32",
        "network arithmetic: float32 (exact), or bf16 (PyTorch's music encoder in bfloat16, on CPUs with AVX-512 "
        "BF16 or AMX and on CUDA GPUs from Ampere on: the generator about twice as fast on such a CPU, keypoints "
        "moved by ~0.002 on average, ~0.04 at most)",
        choices=PRECISIONS,
    )

    def __post_init__(self) -> None:
        check(self)


def runs_procedural(weights: str) -> bool:
    """Whether ``weights`` (a :attr:`GenerateOptions.weights` value) conducts procedurally: named
    so, or the project default while no default weights are installed."""
    return weights == PROCEDURAL or (weights in ("", DEFAULT) and not default_weights_path().is_file())


@dataclasses.dataclass(frozen=True)
class Rule:
    """When a setting has a use: ``applies(options, procedural)``; ``unused`` is its value that
    means "not used" (``allowed`` values also do nothing where it does not apply); ``problem``
    is the sentence for a front end that was given it anyway."""

    setting: str
    applies: Callable[[GenerateOptions, bool], bool]
    unused: Any
    problem: str
    allowed: tuple[Any, ...] = ()


# In the order a command line says them (the first that applies is the one reported).
RULES = (
    Rule(
        "noise_path",
        lambda o, procedural: not procedural,
        None,
        "A noise file only applies to neural weights; drop --noise or choose a weights file.",
    ),
    Rule(
        "meter",
        lambda o, procedural: procedural,
        None,
        "Beats per bar can only be set for the procedural conductor; drop --meter or choose --weights procedural.",
    ),
    Rule(
        "precision",
        lambda o, procedural: not procedural,
        "float32",
        "The procedural conductor runs no network; drop --precision or choose neural weights.",
    ),
    Rule(
        "device",
        lambda o, procedural: not procedural,
        "auto",
        "The procedural conductor runs no network, so no GPU; drop --device or choose neural weights.",
        allowed=("cpu",),
    ),
    Rule(
        "runtime",
        lambda o, procedural: not procedural,
        "auto",
        "The procedural conductor runs no network; drop --runtime or choose neural weights.",
    ),
    Rule(
        "style",
        lambda o, procedural: procedural,
        ConductingStyle(),
        "Gesture size, energy, style and left hand shape the procedural conductor only; drop them or choose "
        "--weights procedural.",
    ),
    Rule(
        "meter",
        lambda o, procedural: o.beats_path is None,
        None,
        "A beat grid brings its own bars; drop --meter, or --beats to have the meter detected.",
    ),
    Rule(
        "tracker",
        lambda o, procedural: o.beats_path is None,
        "auto",
        "A beat grid replaces the tracker; drop --tracker or --beats.",
    ),
    Rule(
        "tracker",
        lambda o, procedural: procedural or bool(o.beat_lock),
        "auto",
        "Neural weights hear the beat themselves; --tracker chooses the beats of the procedural conductor "
        "or of --beat-lock.",
    ),
    Rule(
        "beat_lock",
        lambda o, procedural: not procedural,
        None,
        "The procedural conductor is always on the beat; --beat-lock is for neural weights.",
    ),
    Rule(
        "beats_offset_s",
        lambda o, procedural: o.beats_path is not None,
        None,
        "--beats-offset moves a beat grid; give the grid with --beats.",
    ),
)


def _unused(rule: Rule, options: GenerateOptions) -> bool:
    value = getattr(options, rule.setting)
    return value == rule.unused or value in rule.allowed


def conflicts(options: GenerateOptions, *, procedural: bool) -> list[Rule]:
    """The rules ``options`` breaks: settings given where the model or the beat source has no use
    for them, in :data:`RULES` order."""
    return [rule for rule in RULES if not rule.applies(options, procedural) and not _unused(rule, options)]


def check_combination(options: GenerateOptions, *, procedural: bool) -> None:
    """Raise ConductorError with the first of :func:`conflicts`' sentences."""
    broken = conflicts(options, procedural=procedural)
    if broken:
        raise ConductorError(broken[0].problem)


def normalised(options: GenerateOptions, *, procedural: bool) -> GenerateOptions:
    """``options`` with every setting the model and the beat source have no use for at its
    unused value (what a panel does with the fields it greys out); then no rule is broken."""
    changes: dict[str, Any] = {}
    for rule in RULES:
        current = dataclasses.replace(options, **changes)
        if not rule.applies(current, procedural) and not _unused(rule, current):
            changes[rule.setting] = rule.unused
    return dataclasses.replace(options, **changes)


def with_absolute_paths(options: GenerateOptions) -> GenerateOptions:
    """``options`` with the files it names (weights, beat grid, noise) as absolute paths, so a
    process started in another folder (the worker) finds what the user gave relative to theirs."""

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).expanduser().absolute())

    weights = options.weights
    if weights not in ("", DEFAULT, PROCEDURAL, NEURAL):
        weights = str(absolute(weights))
    return dataclasses.replace(
        options, weights=weights, beats_path=absolute(options.beats_path), noise_path=absolute(options.noise_path)
    )


def resolve_weights(weights: str) -> str:
    """Turn "default" and "neural" into a path (or "procedural"); check a given path exists."""
    if weights in ("", DEFAULT):
        path = default_weights_path()
        return str(path) if path.is_file() else PROCEDURAL
    if weights == PROCEDURAL:
        return PROCEDURAL
    if weights == NEURAL:
        path = neural_weights_path()
        if not path.is_file():
            raise ConductorError(
                f"The project's neural weights '{path.name}' are not installed here; "
                "reinstall the add-on or give a weights file."
            )
        return str(path)
    if not Path(weights).expanduser().is_file():
        raise ConductorError(f"Weights file '{weights}' does not exist; check the path or choose 'default'.")
    return str(Path(weights).expanduser())
