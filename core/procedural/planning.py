"""The beat plan: where and how big every beat is drawn, from its place in the bar, its loudness
and its articulation, and the piece's shape around the beats (holds and their cut-offs, the
raise before the first beat, where the conductor is conducting at all).

A beat's size follows its loudness at the scale of real conductors (the hand travels about two
shoulder widths); the bar's own accents are mostly left to the pattern.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..audio.filters import running_mean
from ..beats.track import BeatTrack, local_period_s
from ..motion.keypoints import MOTION_FPS
from .articulation import BeatSound, articulation_weights
from .irregularity import noise_at
from .loudness import LOUDNESS_SMEAR_S, mean_over, sustained_until
from .patterns import Pattern, plane_height, to_image
from .phrasing import PEAK_LIMITS, BarShape, bar_shapes
from .style import ARTICULATIONS, ConductingStyle

ARTICULATION_SIZE = {"legato": 1.0, "staccato": 0.9, "marcato": 1.12}  # relative gesture size
# Faster beats are smaller, as conductors beat them: a stroke shorter than FULL_SIZE_PERIOD_S
# (100 a minute) shrinks with it, to FAST_SIZE_FLOOR at the most, so the hand's speed stays near
# that of a beat at 100 (at 170 a minute in 4, full size took the hand past 10 m/s).
FULL_SIZE_PERIOD_S, FAST_SIZE_FLOOR = 0.6, 0.55
SIZE_PER_DB = 1.0 / 20.0  # gesture size change per dB from the piece's median beat (energy 1)
SIZE_LIMITS = (0.35, 1.4)  # gesture size from pianissimo to fortissimo (1 = mezzo-forte)
METRIC_ACCENT_SHARE = 0.7  # of each beat's level above its bar's mean, taken out before sizing
SILENCE_DB = -45.0  # below the piece's loud level: no music
# A held hand sustains its rebound's height, at least HOLD_HEIGHT above the beat plane (size 1)
# and at most HOLD_TOP (at any size; about the chin): up, so it is seen to sustain, but never at
# a preparation's height over the head.
HOLD_HEIGHT, HOLD_TOP = 0.17, 0.19
# Beat to beat, at variation 1 (standard deviations): the stroke's size and when its legato
# rebound peaks (share of the beat); the bars vary on top (core.procedural.phrasing).
BEAT_SIZE_SD, BEAT_PEAK_SD = 0.18, 0.08
REBOUND_CLEARANCE = 0.08  # the least rise of a rebound above the ictus on either side (size 1), as the patterns have
MIN_REBOUND_RISE = 0.07  # ... and at any size (image units, 12 cm): the softest beat is still a stroke
# The piece's timeline around the beats (the right hand draws it, the plan says when it is engaged).
RAISE_S, READY_HOLD_S = 0.8, 0.5  # hands up from rest, then still, before the preparation
# The preparatory beat breathes up: its top at least this high over the beat plane (size 1, a
# beat 1's preparation rises 0.35), and across at most this much beyond the ready point and the
# first ictus (a beat 1's, as the patterns draw it, is within it).
PREPARATION_HEIGHT, PREPARATION_ACROSS = 0.25, 0.05
POST_CUTOFF_S, LOWER_S = 0.6, 1.5  # still after a cut-off, then down to rest


def lead_in_frames(track: BeatTrack) -> int:
    """Motion frames (30 fps) the conducting needs before the music starts: the still ready point
    and the preparatory beat one beat ahead of the first, in tempo, where the music starts too soon
    after its first beat for them (an orchestra plays on the conductor's upbeat, in silence before
    it); 0 where they fit in the music or there is nothing to beat.
    """
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    if beats_s.size < 2:
        return 0
    period_s = local_period_s(beats_s, np.asarray(track.held, dtype=bool))
    needed_s = READY_HOLD_S + float(period_s[0]) - float(beats_s[0])
    return max(0, int(np.ceil(needed_s * MOTION_FPS - 1e-6)))


@dataclasses.dataclass
class BeatPlan:
    """Where and how every beat is drawn, and the piece's shape around them.

    Attributes
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times, seconds.
    ictus : np.ndarray [shape=(B, 2), float64]
        Each beat's ictus, image coordinates.
    rebound : np.ndarray [shape=(B, 2), float64]
        The top of the rebound after each beat (sized for the beat it prepares), image coordinates.
    hold : np.ndarray [shape=(B, 2), float64]
        Where the hand holds after a held beat: its rebound, ``HOLD_HEIGHT`` to ``HOLD_TOP`` up; image
        coordinates.
    size : np.ndarray [shape=(B,), float64]
        Gesture size of the stroke into each beat (1 = mezzo-forte).
    plane_y : np.ndarray [shape=(B,), float64]
        The beat plane's image y at each beat: higher (smaller) the louder it is.
    peak_share : np.ndarray [shape=(B,), float64]
        When the legato rebound after each beat peaks, as a share of the beat (it varies by bar).
    push : np.ndarray [shape=(B,), float64]
        How far the hand pushes forward into each ictus, image units (it varies by bar).
    level_db : np.ndarray [shape=(B,), float64]
        Each beat's loudness relative to the piece's median beat, dB.
    articulation : np.ndarray [shape=(B, 3), float64]
        Legato, staccato, marcato weights per beat.
    period_s : np.ndarray [shape=(B,), float64]
        The local beat period around each beat, seconds.
    held : np.ndarray [shape=(B,), bool]
        Whether the gap after each beat is a hold (fermata, rest); the last beat's is True.
    release_s : np.ndarray [shape=(B,), float64]
        For a held beat: when its sound stops (the cut-off), seconds; NaN when it sounds on.
    ready : np.ndarray [shape=(2,), float64], prep_top : np.ndarray [shape=(2,), float64]
        Where the hand waits before the preparatory beat and the top it rises to, image coordinates.
    engaged : np.ndarray [shape=(T,), float64] in [0, 1]
        Per motion frame (30 fps): 1 from the raise before the first beat to the end of the last
        cut-off, else 0 (smoothed): where the conductor is conducting.
    """

    beats_s: np.ndarray
    ictus: np.ndarray
    rebound: np.ndarray
    hold: np.ndarray
    size: np.ndarray
    plane_y: np.ndarray
    peak_share: np.ndarray
    push: np.ndarray
    level_db: np.ndarray
    articulation: np.ndarray
    period_s: np.ndarray
    held: np.ndarray
    release_s: np.ndarray
    ready: np.ndarray
    prep_top: np.ndarray
    engaged: np.ndarray


def plan_beats(
    track: BeatTrack,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    *,
    patterns: list[Pattern],
    style: ConductingStyle,
    articulation: np.ndarray,
    rng: np.random.Generator,
    bar_rng: np.random.Generator,
    variation: float,
    peak_db: np.ndarray | None = None,
    typical_peak_db: float | None = None,
) -> BeatPlan:
    """Each beat's ictus, rebound and size from its place in the bar and its loudness, and the
    holds, cut-offs and engagement around them.

    Parameters
    ----------
    track : BeatTrack
        Beats, bar positions, bar numbers and holds.
    loudness_db : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps), dB (:func:`core.procedural.loudness.loudness_30fps`).
    times_s : np.ndarray [shape=(T,), float64]
        Each frame's time, seconds.
    patterns : list of Pattern, one per beat
        From :func:`core.procedural.patterns.beat_patterns`.
    style : ConductingStyle
    articulation : np.ndarray [shape=(B, 3), float64]
        Legato, staccato, marcato weights per beat (:func:`used_articulation`).
    rng, bar_rng : np.random.Generator
        The beats' and the bars' own streams of irregularity (:mod:`core.procedural.phrasing`).
    variation : float >= 0
        Their scale.
    peak_db : np.ndarray [shape=(B,), float64] or None
        The peak level of each beat's note, dB relative to the piece's loud level
        (:attr:`core.procedural.articulation.BeatSound.peak_db`); None takes the mean of
        ``loudness_db`` over the beat.
    typical_peak_db : float or None
        A typical note's peak on the scale of ``peak_db``
        (:attr:`core.procedural.articulation.BeatSound.typical_peak_db`), the level of
        mezzo-forte; None takes it from ``loudness_db`` (:func:`typical_level_db`).
    """
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    places = np.array(
        [min(int(p), len(pattern.ictus) - 1) for p, pattern in zip(track.bar_position, patterns)], dtype=int
    )
    held = np.asarray(track.held, dtype=bool)
    period_s = local_period_s(beats_s, held)
    level_db = beat_levels(
        beats_s,
        loudness_db,
        times_s,
        period_s=period_s,
        bar_number=track.bar_number,
        peak_db=peak_db,
        typical_db=typical_peak_db
        if peak_db is not None and typical_peak_db is not None
        else typical_level_db(loudness_db),
    )
    loudness = np.clip(1.0 + style.energy * SIZE_PER_DB * level_db, *SIZE_LIMITS)
    span_s = times_s[-1] if times_s.size else 0.0
    bars = bar_shapes(track, rng=bar_rng, variation=variation, span_s=span_s)
    # Each beat's own draws: its ictus across and up, its rebound's height, its size, its timing.
    jitter = variation * noise_at(rng, beats_s, span_s=span_s, channels=5)
    size = beat_sizes(style, articulation=articulation, loudness=loudness, bars=bars, jitter=jitter)
    stroke_s = np.diff(beats_s, prepend=beats_s[0] - period_s[0]) if beats_s.size else period_s  # into each beat
    size *= np.clip(stroke_s / FULL_SIZE_PERIOD_S, FAST_SIZE_FLOOR, 1.0)  # its own beat's: an edit stays local
    plane_y = plane_height(loudness)
    peak_share = np.clip(bars.peak_share + BEAT_PEAK_SD * np.clip(jitter[:, 4], -2.0, 2.0), *PEAK_LIMITS)

    ictus, rebound, hold = beat_points(patterns, places, size, jitter=jitter, plane_y=plane_y, bars=bars)
    release_s = release_times(beats_s, period_s, held, loudness_db=loudness_db, times_s=times_s)
    ready, prep_top = ready_points(patterns[0], int(places[0]), size, plane_y=plane_y)
    first_s = beats_s[0] - period_s[0] - READY_HOLD_S - RAISE_S
    # Conducting ends after the last cut-off, or never when the last note sounds to the end.
    last_s = release_s[-1] + POST_CUTOFF_S + LOWER_S if np.isfinite(release_s[-1]) else np.inf
    engaged = smooth(((times_s >= first_s) & (times_s <= last_s)).astype(float), 0.3)
    return BeatPlan(
        beats_s=beats_s,
        ictus=ictus,
        rebound=rebound,
        hold=hold,
        size=size,
        plane_y=plane_y,
        peak_share=peak_share,
        push=bars.push,
        level_db=level_db,
        articulation=articulation,
        period_s=period_s,
        held=held,
        release_s=release_s,
        ready=ready,
        prep_top=prep_top,
        engaged=engaged,
    )


def beat_sizes(
    style: ConductingStyle, *, articulation: np.ndarray, loudness: np.ndarray, bars: BarShape, jitter: np.ndarray
) -> np.ndarray:
    """Each beat's gesture size [shape=(B,)] (1 = mezzo-forte): the style's, by its articulation
    (``articulation`` [shape=(B, 3)]), its loudness (``loudness`` [shape=(B,)], a factor), its
    bar (``bars``) and its own draw (``jitter`` [shape=(B, 5)], its fourth channel)."""
    articulation_size = articulation @ np.array([ARTICULATION_SIZE[name] for name in ARTICULATIONS])
    size = style.gesture_size * articulation_size * loudness * bars.size
    return size * (1.0 + BEAT_SIZE_SD * np.clip(jitter[:, 3], -2.0, 2.0))


TYPICAL_WINDOW_FRAMES = 8  # 0.27 s at 30 fps: the windows whose peaks make a typical note's level


def typical_level_db(loudness_db: np.ndarray) -> float:
    """A typical note's level from the 30-fps loudness: the median over windows of
    ``TYPICAL_WINDOW_FRAMES`` frames (fixed in time, not at the beats) of each sounding window's
    peak, so the silence between staccato notes does not count and an edited beat changes
    nothing. dB on ``loudness_db``'s scale; 0 where nothing sounds.

    Parameters
    ----------
    loudness_db : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps), dB.
    """
    count = loudness_db.size // TYPICAL_WINDOW_FRAMES
    if count == 0:
        return 0.0
    peaks = loudness_db[: count * TYPICAL_WINDOW_FRAMES].reshape(count, TYPICAL_WINDOW_FRAMES).max(axis=1)
    sounding = peaks > SILENCE_DB
    return float(np.median(peaks[sounding])) if sounding.any() else 0.0


def beat_levels(
    beats_s: np.ndarray,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    *,
    period_s: np.ndarray,
    bar_number: np.ndarray,
    peak_db: np.ndarray | None,
    typical_db: float,
) -> np.ndarray:
    """Each beat's loudness, as its gesture size shows it: the peak level of its note
    (``peak_db``) or else its level over one period from the beat (past the loudness curve's
    spill from the beat before), against the piece's median, with most of its bar's own accent
    taken out.

    The piece-wide level, ``typical_db``, comes from the signal (a typical note's peak), not the
    beats, and the accents from each bar's own mean, so one beat moved or deleted by the user
    resizes only its bar.

    Parameters
    ----------
    beats_s, period_s : np.ndarray [shape=(B,), float64]
        Beat times and the local beat period around each, seconds.
    loudness_db, times_s : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps) in dB, and each frame's time in seconds.
    bar_number : np.ndarray [shape=(B,), int]
        Each beat's bar, -1 for a pickup (:attr:`core.beats.track.BeatTrack.bar_number`).
    peak_db : np.ndarray [shape=(B,), float64] or None
        As :func:`plan_beats` takes it.

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        dB relative to the piece's median level.
    """
    gaps_s = np.append(np.diff(beats_s), np.inf)
    spans_s = np.minimum(gaps_s, period_s)
    raw_db = mean_over(
        loudness_db,
        times_s,
        starts_s=beats_s + np.minimum(LOUDNESS_SMEAR_S, 0.5 * spans_s),
        ends_s=beats_s + spans_s,
        empty=SILENCE_DB,
    )
    if peak_db is not None:  # the note itself, not the silence after a short one
        raw_db = np.where(raw_db > SILENCE_DB, np.asarray(peak_db, dtype=np.float64), raw_db)
    sounding = raw_db > SILENCE_DB
    level_db = raw_db - typical_db
    # The bar's own accents (a loud downbeat, a soft upbeat) are mostly left to the pattern:
    # the size shows the dynamics, not the meter.
    bars = np.asarray(bar_number, dtype=int) + 1  # 0: the pickup
    heard_sum = np.bincount(bars, weights=np.where(sounding, level_db, 0.0), minlength=bars.max(initial=0) + 1)
    heard_count = np.bincount(bars, weights=sounding.astype(float), minlength=heard_sum.size)
    bar_mean = np.where(heard_count[bars] > 0, heard_sum[bars] / np.maximum(heard_count[bars], 1), level_db)
    return level_db - METRIC_ACCENT_SHARE * (level_db - bar_mean)


def beat_points(
    patterns: list[Pattern],
    places: np.ndarray,
    size: np.ndarray,
    *,
    jitter: np.ndarray,
    plane_y: np.ndarray,
    bars: BarShape,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each beat's ictus, the top of its rebound (sized for the beat it prepares) and where a
    held hand waits after it (well up, so it is seen to sustain the note).

    Parameters
    ----------
    patterns : list of Pattern, one per beat
    places : np.ndarray [shape=(B,), int]
        Each beat's place in its pattern.
    size : np.ndarray [shape=(B,), float64]
        Gesture size of the stroke into each beat.
    jitter : np.ndarray [shape=(B, 3), float64]
        Standard-normal irregularity per beat, scaled by the variation.
    plane_y : np.ndarray [shape=(B,), float64]
        The beat plane's image y at each beat.
    bars : BarShape
        How each beat's bar is beaten this time (:func:`core.procedural.phrasing.bar_shapes`).

    Returns
    -------
    ictus, rebound, hold : np.ndarray [shape=(B, 2), float64]
        Image coordinates.
    """
    ictus_points = np.array([pattern.ictus[p] for p, pattern in zip(places, patterns)])
    ictus_points = ictus_points + np.stack([0.010 * jitter[:, 0], 0.006 * np.clip(jitter[:, 1], -2, 2)], axis=1)
    ictus_points[:, 0] *= bars.width
    rebound_points = np.array([pattern.rebound[p] for p, pattern in zip(places, patterns)])
    last = places == np.array([len(pattern.ictus) - 1 for pattern in patterns])
    rebound_points[:, 1] *= (
        (1.0 + 0.12 * np.clip(jitter[:, 2], -2, 2)) * bars.rebound_height * np.where(last, bars.preparation, 1.0)
    )
    rebound_points[:, 0] = rebound_points[:, 0] * bars.width + bars.rebound_lean
    next_size, next_plane = np.append(size[1:], size[-1]), np.append(plane_y[1:], plane_y[-1])
    # The rebound leads from one beat's bar into the next one's: halfway between their places.
    rebound_shift = 0.5 * (bars.shift + np.concatenate([bars.shift[1:], bars.shift[-1:]]))
    ictus = to_image(ictus_points, size, plane_y=plane_y) + bars.shift
    rebound = to_image(rebound_points, next_size, plane_y=next_plane) + rebound_shift
    # However the bar and the beat vary it, each rebound stands clear above the ictus on either
    # side, so every ictus stays a clear lowest point.
    next_ictus_y = np.append(ictus[1:, 1], ictus[-1, 1])
    clear_y = np.minimum(ictus[:, 1], next_ictus_y) - np.maximum(REBOUND_CLEARANCE * next_size, MIN_REBOUND_RISE)
    rebound[:, 1] = np.minimum(rebound[:, 1], clear_y)
    lowest_y = plane_y - HOLD_HEIGHT * size
    hold_y = np.clip(rebound[:, 1], np.minimum(plane_y - HOLD_TOP, lowest_y), lowest_y)
    hold = np.stack([rebound[:, 0], hold_y], axis=1)
    return ictus, rebound, hold


def release_times(
    beats_s: np.ndarray, period_s: np.ndarray, held: np.ndarray, *, loudness_db: np.ndarray, times_s: np.ndarray
) -> np.ndarray:
    """When the sound of each held beat stops, before the next beat's preparation.

    Parameters
    ----------
    beats_s, period_s : np.ndarray [shape=(B,), float64]
        Beat times and the local beat period around each, seconds.
    held : np.ndarray [shape=(B,), bool]
    loudness_db, times_s : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps) in dB, and each frame's time in seconds.

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        Seconds; NaN for a beat that is not held or sounds on.
    """
    release_s = np.full(beats_s.size, np.nan)
    stopped = sustained_until(loudness_db, times_s)
    for k in np.flatnonzero(held):
        end_s = beats_s[k + 1] - period_s[k + 1] if k + 1 < beats_s.size else np.inf
        after = stopped[(stopped > beats_s[k]) & (stopped < end_s)]
        release_s[k] = after[0] if after.size else np.nan
    return release_s


def ready_points(
    opening: Pattern, place: int, size: np.ndarray, *, plane_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where the hand waits before the preparatory beat, and the top it rises to: the ictus and
    rebound of the beat before the first (at ``place`` in the ``opening`` pattern), at the first
    beat's size and plane (``size``, ``plane_y`` [shape=(B,)]); each [shape=(2,), float64], image
    coordinates. The top rises at least ``PREPARATION_HEIGHT`` and goes across at most
    ``PREPARATION_ACROSS`` beyond the ready point and the first ictus: a beat 2's preparation in 2
    (beat 1's rebound, 0.28 out at its own height) goes up more than out to the side."""
    before = (place - 1) % len(opening.ictus)  # the beat before the first: its ictus and rebound prepare it
    ready_x, ready_height = opening.ictus[before]
    first_x = opening.ictus[place][0]
    top_x, top_height = opening.rebound[before]
    low, high = min(ready_x, first_x) - PREPARATION_ACROSS, max(ready_x, first_x) + PREPARATION_ACROSS
    top = (min(max(top_x, low), high), max(top_height, PREPARATION_HEIGHT))
    ready = to_image(np.array([(ready_x, ready_height)]), size[:1], plane_y=plane_y[:1])[0]
    prep_top = to_image(np.array([top]), size[:1], plane_y=plane_y[:1])[0]
    return ready, prep_top


def used_articulation(sound: BeatSound | None, style: ConductingStyle, beat_count: int) -> np.ndarray:
    """Per-beat weights of legato, staccato and marcato: the style's, or the music's (legato
    without an analysis of it).

    Returns
    -------
    np.ndarray [shape=(B, 3), float64] in [0, 1]
        One row per beat (``beat_count``), in the order of :data:`core.procedural.style.ARTICULATIONS`.
    """
    if style.articulation != "auto":
        return np.tile(np.eye(3)[ARTICULATIONS.index(style.articulation)], (beat_count, 1))
    if sound is None or len(sound.dip_db) != beat_count:
        return np.tile(np.eye(3)[0], (beat_count, 1))
    return articulation_weights(sound)


def ictus_push(plan: BeatPlan, times_s: np.ndarray) -> np.ndarray:
    """How far forward the baton hand pushes at each motion frame [shape=(T,)], image units: a
    swell of ``plan.push`` into each ictus, easing away a third of the beat either side."""
    beats_s = plan.beats_s
    nearest = np.clip(np.searchsorted(beats_s, times_s), 1, max(beats_s.size - 1, 1))
    nearest = np.where(
        np.abs(times_s - beats_s[nearest - 1]) < np.abs(times_s - beats_s[np.minimum(nearest, beats_s.size - 1)]),
        nearest - 1,
        np.minimum(nearest, beats_s.size - 1),
    )
    offset = (times_s - beats_s[nearest]) / (plan.period_s[nearest] / 3.0)
    return plan.push[nearest] * np.exp(-(offset**2)) * plan.engaged


def smooth(values: np.ndarray, seconds: float) -> np.ndarray:
    """A moving average over ``seconds`` at 30 fps, for blending weights (the plan's
    ``engaged``, the hands' and the body's blends).

    Parameters
    ----------
    values : np.ndarray [shape=(T,), float64]
        One value per motion frame (30 fps).
    seconds : float > 0

    Returns
    -------
    np.ndarray [shape=(T,), float64]
    """
    width = max(1, int(round(seconds * MOTION_FPS)))
    return running_mean(values, width)
