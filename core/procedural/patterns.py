"""The textbook beat patterns (Rudolf, *The Grammar of Conducting*), where they stand in the image,
and which pattern each beat of a piece is drawn in.

Each meter has its pattern (1, 2, 3, 4, 5 as 2+3 or 3+2, and 6): beat 1 falls straight down, the
last beat rises to prepare the next bar, in 4 the second beat crosses the body and the third goes
out wide, in 3 the second goes out wide. A grave 2, 3 or 4 (slower than a conductor beats) is
beaten subdivided: each beat's stroke, then smaller ones on its half beat, or on the second and
third thirds of a compound beat (:func:`subdivided`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..beats.track import COMPOUND_DIVISIONS, CONDUCTED_TEMPO_BPM, BeatTrack
from .articulation import BeatSound

# Height of beat 1's ictus, the lowest of the pattern, at mezzo-forte: 0.16 below the shoulders
# in arm units, about the navel of a figure of our proportions (the lift keeps the arms' lengths,
# not the image's torso). The plane rises with the loudness-driven part of the size, PLANE_RISE a
# unit of it (image units), and sinks for soft music at most PLANE_SINK.
BEAT_PLANE_Y = 0.61
PLANE_RISE, PLANE_SINK = 0.12, 0.025
PATTERN_CENTRE_X = 0.44  # where beat 1 falls: in front of the right half of the chest
TOP_Y, TOP_SOFTNESS = 0.26, 0.03  # at mezzo-forte the hand rises to the top of the head at most, easing in over this


@dataclasses.dataclass(frozen=True)
class Pattern:
    """One meter's beat pattern for the right hand at gesture size 1.

    Points are (outward, height) in image units from (``PATTERN_CENTRE_X``, ``BEAT_PLANE_Y``):
    outward is toward the conductor's right (smaller image x), height is up.

    Attributes
    ----------
    ictus : tuple of (float, float), one per beat of the bar
        Where each beat lands.
    rebound : tuple of (float, float), one per beat of the bar
        The top of the rebound after each beat; the last one prepares the next downbeat.
    """

    ictus: tuple[tuple[float, float], ...]
    rebound: tuple[tuple[float, float], ...]


# Textbook geometry (Rudolf): 1 straight down, the last beat up, in 4 the second beat across the
# body and the third out wide, in 3 the second out wide; 5 is a 4 with a second beat on the
# right (2+3) or on the left (3+2); 6 is the German six (two small beats in, two out, one up);
# 5 and 6 lift before they cross the body and before the last beat.
# Every rebound stands at least 0.08 above the ictus before and after it, so each ictus stays a
# clear lowest point even at pianissimo.
PATTERNS: dict[str, Pattern] = {
    "1": Pattern(ictus=((0.0, 0.0),), rebound=((0.0, 0.34),)),
    "2": Pattern(ictus=((0.0, 0.0), (0.12, 0.03)), rebound=((0.28, 0.18), (-0.05, 0.35))),
    "3": Pattern(ictus=((0.0, 0.0), (0.20, 0.02), (0.07, 0.05)), rebound=((-0.11, 0.15), (0.21, 0.18), (-0.01, 0.35))),
    "4": Pattern(
        ictus=((0.0, 0.0), (-0.12, 0.03), (0.19, 0.02), (0.07, 0.05)),
        rebound=((-0.05, 0.14), (-0.14, 0.17), (0.20, 0.18), (0.01, 0.35)),
    ),
    "2+3": Pattern(
        ictus=((0.0, 0.0), (-0.12, 0.02), (0.13, 0.01), (0.22, 0.02), (0.07, 0.03)),
        rebound=((-0.05, 0.19), (-0.14, 0.27), (0.16, 0.18), (0.23, 0.27), (0.01, 0.36)),
    ),
    "3+2": Pattern(
        ictus=((0.0, 0.0), (-0.07, 0.03), (-0.14, 0.04), (0.19, 0.02), (0.07, 0.05)),
        rebound=((-0.04, 0.17), (-0.10, 0.17), (-0.15, 0.24), (0.20, 0.24), (0.01, 0.35)),
    ),
    "6": Pattern(
        ictus=((0.0, 0.0), (-0.07, 0.03), (-0.14, 0.04), (0.13, 0.02), (0.21, 0.03), (0.065, 0.05)),
        rebound=((-0.04, 0.15), (-0.10, 0.16), (-0.15, 0.29), (0.14, 0.16), (0.21, 0.29), (0.01, 0.35)),
    ),
}


# A subdivided pattern (Rudolf): after each beat's ictus a smaller stroke on each of its
# divisions (the half beat; the second and third thirds of a compound beat), each a little further
# the way the beat came (beat 1's, which falls straight, the way its rebound goes) and a little
# higher; between them a small rebound of SUBDIVISION_REBOUND above both (the least any rebound
# rises, REBOUND_CLEARANCE). The last division's rebound is the beat's own, on to the next beat.
SUBDIVISION_STEP, SUBDIVISION_RISE, SUBDIVISION_REBOUND = 0.05, 0.02, 0.08
SUBDIVIDED_METERS = (2, 3, 4)
SIMPLE_DIVISIONS = 2  # a simple beat subdivides in halves (a compound one in COMPOUND_DIVISIONS)


def subdivided_name(meter: int, compound: bool) -> str:
    """The name of a meter's subdivided pattern in :data:`PATTERNS`: "4 subdivided" (halves),
    "4 subdivided in three" (a slow 12/8 in twelve), or "6" for a 2 in thirds (a slow 6/8 in six
    has a textbook pattern of its own)."""
    if compound and meter == 2:
        return "6"
    return f"{meter} subdivided" + (" in three" if compound else "")


def subdivided_pattern(pattern: Pattern, divisions: int) -> Pattern:
    """``pattern`` with each beat followed by its further ``divisions - 1`` divisions (see
    ``SUBDIVISION_*``): ``divisions`` times the places."""
    ictus, rebound = np.asarray(pattern.ictus), np.asarray(pattern.rebound)
    beats = ictus.shape[0]
    places, rebounds = [], []
    for beat in range(beats):
        here = ictus[beat]
        way = here[0] - ictus[beat - 1][0] if beat > 0 else rebound[0][0] - here[0]
        strokes = [here + k * np.array([np.sign(way) * SUBDIVISION_STEP, SUBDIVISION_RISE]) for k in range(divisions)]
        for before, after in zip(strokes, strokes[1:]):
            rebounds.append((0.5 * (before[0] + after[0]), max(before[1], after[1]) + SUBDIVISION_REBOUND))
        rebounds.append((rebound[beat][0], max(rebound[beat][1], strokes[-1][1] + SUBDIVISION_REBOUND)))
        places += strokes
    return Pattern(
        ictus=tuple((float(x), float(y)) for x, y in places), rebound=tuple((float(x), float(y)) for x, y in rebounds)
    )


PATTERNS.update(
    {
        subdivided_name(meter, compound): subdivided_pattern(
            PATTERNS[str(meter)], COMPOUND_DIVISIONS if compound else SIMPLE_DIVISIONS
        )
        for meter in SUBDIVIDED_METERS
        for compound in (False, True)
        if subdivided_name(meter, compound) not in PATTERNS
    }
)


def subdivides(track: BeatTrack) -> bool:
    """Whether a piece is beaten subdivided: its beats, each the notated beat of a bar of 2, 3 or
    4 (not regrouped, not already divided by the tracker), slower than a conductor beats
    (:data:`core.beats.track.CONDUCTED_TEMPO_BPM`): an adagio in 4 at 30 a minute is beaten in
    eight, a slow 12/8 at 30 dotted quarters in twelve."""
    meters = track.beat_meters()
    return (
        track.level == "beat"
        and 0.0 < float(track.tempo_bpm) < CONDUCTED_TEMPO_BPM[0]
        and meters.size > 1
        and bool(np.all(np.isin(meters, SUBDIVIDED_METERS)))
    )


def subdivided(track: BeatTrack, sound: BeatSound | None = None) -> tuple[BeatTrack, BeatSound | None]:
    """The beats a subdivided piece is drawn on: each beat and its divisions (halves, or thirds
    of a compound beat; none after a beat that holds: a fermata is not divided), at that many
    times the places in bars of that many times the beats; and ``sound`` (of ``track``'s beats,
    or None) with each division played as its beat.

    Returns
    -------
    drawn : BeatTrack
        ``level`` "division": :func:`beat_patterns` draws it in the subdivided patterns.
    sound : BeatSound or None
    """
    parts = COMPOUND_DIVISIONS if track.compound else SIMPLE_DIVISIONS
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    held = np.asarray(track.held, dtype=bool)
    divided = np.flatnonzero(~held[:-1])
    share = np.arange(1, parts) / parts
    later_s = beats_s[divided, None] + share[None, :] * (beats_s[divided + 1] - beats_s[divided])[:, None]
    times_s = np.concatenate([beats_s, later_s.ravel()])
    source = np.concatenate([np.arange(beats_s.size), np.repeat(divided, parts - 1)])
    part = np.concatenate([np.zeros(beats_s.size, int), np.tile(np.arange(1, parts), divided.size)])
    order = np.argsort(times_s, kind="stable")
    times_s, source, part = times_s[order], source[order], part[order]
    position = parts * np.asarray(track.bar_position, dtype=int)[source] + part
    curve = np.asarray(track.tempo_curve_bpm, dtype=np.float64)
    drawn = BeatTrack(
        beats_s=times_s,
        downbeats_s=times_s[position == 0],
        bar_position=position,
        meter=parts * int(track.meter),
        tempo_bpm=parts * float(track.tempo_bpm),
        bar_number=np.asarray(track.bar_number, dtype=int)[source],
        bar_meters=parts * np.asarray(track.bar_meters, dtype=int),
        tempo_curve_bpm=parts * curve[source] if curve.size == beats_s.size else np.zeros(0),
        notated_beats_s=track.notated_beats_s,
        notated_meter=track.notated_meter,
        compound=track.compound,
        level="division",
        tracker=track.tracker,
        held=held[source] & (part == 0),
    )
    if sound is not None:
        sound = dataclasses.replace(
            sound, rise_db=sound.rise_db[source], dip_db=sound.dip_db[source], peak_db=sound.peak_db[source]
        )
    return drawn, sound


def plane_height(loudness: np.ndarray) -> np.ndarray:
    """The beat plane's image y [shape=(N,)] for each beat's loudness-driven size factor
    ``loudness`` [shape=(N,)] (1 at mezzo-forte): higher (smaller y) the louder the music."""
    return BEAT_PLANE_Y - np.maximum(PLANE_RISE * (np.asarray(loudness, dtype=np.float64) - 1.0), -PLANE_SINK)


def to_image(points: np.ndarray, size: np.ndarray, *, plane_y: np.ndarray | float = BEAT_PLANE_Y) -> np.ndarray:
    """Pattern points at gesture sizes, in the image.

    Parameters
    ----------
    points : np.ndarray [shape=(N, 2), float64]
        (outward, height) as in :class:`Pattern`, image units at size 1.
    size : np.ndarray [shape=(N,), float64]
        Gesture size of each point (1 = mezzo-forte).
    plane_y : np.ndarray [shape=(N,), float64] or float
        The beat plane's image y under each point (:func:`plane_height`).

    Returns
    -------
    np.ndarray [shape=(N, 2), float64]
        Image coordinates; the height eases in under ``TOP_Y``, raised as much as the plane is.
    """
    points = np.asarray(points, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    y = plane_y - size * points[:, 1]
    top_y = TOP_Y + (np.asarray(plane_y) - BEAT_PLANE_Y)
    y = top_y + TOP_SOFTNESS * np.logaddexp(0.0, (y - top_y) / TOP_SOFTNESS)  # a big preparation flattens out
    return np.stack([PATTERN_CENTRE_X - size * points[:, 0], y], axis=1)


def pattern_name(meter: int, bar_position: np.ndarray, accent_db: np.ndarray) -> str:
    """The key of :data:`PATTERNS` for a meter: a 5 is 2+3 when its third beat is accented
    more than its fourth, else 3+2; meters without a pattern are beaten in 4.

    Parameters
    ----------
    meter : int
        Beats per bar.
    bar_position : np.ndarray [shape=(B,), int]
        Each beat's place in its bar (:attr:`core.beats.track.BeatTrack.bar_position`).
    accent_db : np.ndarray [shape=(B,), float64]
        Each beat's accent in dB (:attr:`core.procedural.articulation.BeatSound.peak_db`), or zeros.
    """
    if meter == 5:
        third, fourth = (accent_db[bar_position == p].mean() if np.any(bar_position == p) else 0.0 for p in (2, 3))
        return "2+3" if third >= fourth else "3+2"
    return str(meter) if str(meter) in PATTERNS else "4"


def beat_patterns(track: BeatTrack, piece_pattern: str) -> list[Pattern]:
    """The pattern each beat is drawn in, one per beat of ``track``: its bar's meter's (a bar of
    3 in a piece in 4 is beaten in 3, from its barline), the piece's own choice
    (``piece_pattern``, a key of :data:`PATTERNS`: a 5 as 2+3 or 3+2) for the bars in its meter;
    a divided track's (:func:`subdivided`, or the tracker's 6/8 in six) in the subdivided patterns
    (a bar of 6 halves there is a 3's)."""
    if track.level == "division":
        parts = COMPOUND_DIVISIONS if track.compound else SIMPLE_DIVISIONS
        divided = [subdivided_name(int(meter) // parts, track.compound) for meter in track.beat_meters()]
        if all(name in PATTERNS for name in divided):
            return [PATTERNS[name] for name in divided]
    names = {int(track.meter): piece_pattern}
    return [
        PATTERNS[names.get(int(meter)) or pattern_name(int(meter), np.zeros(0, int), np.zeros(0))]
        for meter in track.beat_meters()
    ]


def regroup(track: BeatTrack, meter: int, accent_db: np.ndarray) -> BeatTrack:
    """The tracked beats in bars of 1 or 5: every beat a downbeat, or the downbeat where the
    accents are strongest on average.

    Parameters
    ----------
    track : BeatTrack
    meter : int
        Beats per bar: 1 or 5 here (the tracker groups the others itself).
    accent_db : np.ndarray [shape=(B,), float64]
        Each beat's attack in dB (:attr:`core.procedural.articulation.BeatSound.peak_db`).
    """
    beats_s = track.beats_s
    if meter == 1 or beats_s.size == 0:
        position = np.zeros(beats_s.size, dtype=int)
    else:
        phase = int(
            np.argmax([accent_db[p::meter].mean() if accent_db[p::meter].size else -np.inf for p in range(meter)])
        )
        position = (np.arange(beats_s.size) - phase) % meter
    return BeatTrack(
        beats_s=beats_s,
        downbeats_s=beats_s[position == 0],
        bar_position=position,
        meter=meter,
        tempo_bpm=track.tempo_bpm,
    )
