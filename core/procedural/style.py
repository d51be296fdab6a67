"""The procedural conductor's controls: the meters it has patterns for and the style of its strokes.

Declared here, apart from ``core/procedural/conductor.py``, so that the option dataclasses (and the CLIs and
panel built from them) read them without importing the conductor itself.
"""

from __future__ import annotations

import dataclasses

from ..options import check, option

ARTICULATIONS = ("legato", "staccato", "marcato")  # stroke styles, round to stopped


@dataclasses.dataclass(frozen=True)
class ConductingStyle:
    """How the procedural conductor conducts: the user's controls, one setting each (core.options)."""

    gesture_size: float = option(
        1.0,
        "size of the beat pattern: 1 = a real conductor's, 0.5 half, 1.5 larger",
        label="Gesture Size",
        minimum=0.3,
        maximum=1.6,
    )
    energy: float = option(
        1.0,
        "how much loudness and intensity drive the gestures and the body: 0 = even, 1 = natural, 2 = dramatic",
        minimum=0.0,
        maximum=2.0,
    )
    articulation: str = option(
        "auto",
        "stroke style: auto (from the music), legato (round), staccato (light, straight, stopped), "
        "marcato (heavy, straight, stopped)",
        label="Style",
        choices=("auto",) + ARTICULATIONS,
    )
    left_hand_activity: float = option(
        1.0,
        "how much the left hand does: 0 = rests, 1 = mirrors loud passages, asks, calms and cues, 2 = more often",
        label="Left Hand",
        minimum=0.0,
        maximum=2.0,
    )

    def __post_init__(self) -> None:
        check(self)
