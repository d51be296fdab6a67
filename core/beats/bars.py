"""Bars over beats and the level a conductor beats: a bar-pointer Viterbi over given beats
(:func:`bars_from_beats`: after the decoder's level check, or for beats a user edited), and the
conducted grid (:func:`conducting_level`, :func:`conducted_grid`: a fast 3/4 in one, a fast 4/4
in two, a slow 6/8 in six, so that the conducted tempo stays within
:data:`core.beats.track.CONDUCTED_TEMPO_BPM`).

Times are seconds unless a function says frames.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .decoding import METER_CHANGE, NOTATED_BAR_METERS, DecoderSettings, downbeat_log_ratio
from .track import COMPOUND_DIVISIONS, CONDUCTED_TEMPO_BPM

BAR_BREAK = 1e-4  # probability that a bar ends early (a beat missed or added by the tracker)
SLOW_COMPOUND_BPM = 62.0  # compound beats slower than this are conducted in their three divisions


@dataclasses.dataclass
class BarGrid:
    """Bars over a sequence of beats.

    Attributes
    ----------
    bar_position : np.ndarray [shape=(B,), int]
        Each beat's place in its bar, 0 (the downbeat) to ``meter - 1``.
    bar_number : np.ndarray [shape=(B,), int]
        Each beat's bar, 0 for the first bar that starts with a downbeat; -1 for a pickup.
    bar_meters : np.ndarray [shape=(D,), int]
        The beats of each bar, in the order of the downbeats.
    downbeats : np.ndarray [shape=(D,), int]
        Indices into the beats of the bars' first beats.
    """

    bar_position: np.ndarray
    bar_number: np.ndarray
    bar_meters: np.ndarray
    downbeats: np.ndarray


def bars_from_beats(
    beats_s: np.ndarray,
    *,
    activations: np.ndarray | None = None,
    fps: float = 0.0,
    meters: tuple[int, ...] = NOTATED_BAR_METERS,
    meter_change: float = METER_CHANGE,
    bar_break: float = BAR_BREAK,
    settings: DecoderSettings = DecoderSettings(),
) -> BarGrid:
    """The bars of a beat sequence: Viterbi over (meter, place in the bar) from beat to beat.

    A beat moves on by one place in its bar; after the last place a new bar starts, of the same
    meter or (with probability ``meter_change``) another; a bar may end early with probability
    ``bar_break``. A downbeat scores the decoder's calibrated log-likelihood ratio
    (:func:`core.beats.decoding.downbeat_log_ratio`) at its beat and its meter's prior; without
    activations every placement is as likely, and the first meter of ``meters`` whose bars fit
    is taken.

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times in seconds, increasing (tracked, or given by the user).
    activations : np.ndarray [shape=(T, >= 2), float] in [0, 1] or None
        Beat and downbeat probabilities at ``fps`` frames a second.
    fps : float >= 0
        Frame rate of ``activations`` (0 with none).
    meters : tuple of int
        The meters (beats a bar) allowed; one meter fixes it.
    settings : DecoderSettings
        The downbeat's calibration and the meters' priors (the decoder's, for the weights that
        gave ``activations``).

    Returns
    -------
    BarGrid
    """
    beats_s = np.asarray(beats_s, dtype=np.float64).ravel()
    count = beats_s.size
    if count == 0:
        empty = np.zeros(0, dtype=int)
        return BarGrid(empty, empty.copy(), empty.copy(), empty.copy())
    states, transition = _bar_transitions(meters, meter_change=meter_change, bar_break=bar_break)
    starts_bar = np.array([q == 0 for (m, q) in states])
    if activations is not None and len(activations) and fps > 0:
        ratio = downbeat_log_ratio(
            np.asarray(activations, dtype=np.float64),
            calibration=settings.downbeat_calibration,
            confidence=settings.downbeat_confidence,
        )
        on = ratio[np.clip(np.round(beats_s * fps).astype(int), 0, ratio.size - 1)]
        prior_of = dict(settings.meter_prior)
        prior = np.array([prior_of.get(m, 0.0) if len(meters) > 1 else 0.0 for (m, q) in states])
    else:
        # No evidence: a tiny preference for a downbeat at the first beat and for earlier meters.
        on, prior = np.zeros(count), np.zeros(len(states))
        on[0] = 1e-6
    n = len(states)
    emission = np.where(starts_bar[None, :], on[:, None] + prior[None, :], 0.0)  # (B, states)
    bias = np.array([-1e-9 * meters.index(m) for (m, q) in states])  # ties go to the earlier meter
    value = emission[0] + bias
    back = np.zeros((count, n), dtype=int)
    for b in range(1, count):
        total = value[:, None] + transition
        back[b] = np.argmax(total, axis=0)
        value = total[back[b], np.arange(n)] + emission[b] + bias
    path = np.zeros(count, dtype=int)
    path[-1] = int(np.argmax(value))
    for b in range(count - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    position = np.array([states[s][1] for s in path])
    meter_of = np.array([states[s][0] for s in path])
    return bar_grid(position, meter_of)


def bar_grid(bar_position: np.ndarray, meter: np.ndarray) -> BarGrid:
    """The :class:`BarGrid` of each beat's place in its bar and its bar's meter (each
    [shape=(B,), int]): bars numbered from the first downbeat, a pickup's beats -1."""
    position = np.asarray(bar_position, dtype=int)
    downbeats = np.flatnonzero(position == 0)
    return BarGrid(position, np.cumsum(position == 0) - 1, np.asarray(meter, dtype=int)[downbeats], downbeats)


def _bar_transitions(
    meters: tuple[int, ...], *, meter_change: float, bar_break: float
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The bar-pointer HMM's states (meter, place in the bar) and the log-probability of each
    move between them [shape=(S, S), float64] (from, to), -inf where none (see
    :func:`bars_from_beats`)."""
    states = [(m, q) for m in meters for q in range(m)]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    transition = np.full((n, n), -np.inf)
    for (m, q), i in index.items():
        if q < m - 1:
            transition[i, index[(m, q + 1)]] = np.log1p(-bar_break) if bar_break > 0 else 0.0
            if bar_break > 0:
                for m2 in meters:
                    transition[i, index[(m2, 0)]] = np.log(bar_break / len(meters))
        else:
            for m2 in meters:
                same = m2 == m
                chance = (1 - meter_change) if same or len(meters) == 1 else meter_change / (len(meters) - 1)
                transition[i, index[(m2, 0)]] = np.log(chance) if chance > 0 else -np.inf
    return states, transition


# --------------------------------------------------------------------------- the conducted level
@dataclasses.dataclass
class ConductedGrid:
    """The beats a conductor shows, with their bars.

    Attributes
    ----------
    beats_s : np.ndarray [shape=(C,), float64]
    bar_position, bar_number : np.ndarray [shape=(C,), int]
    bar_meters : np.ndarray [shape=(D,), int]
        Conducted beats in each bar (1 for a bar beaten in one, 6 for a 6/8 in six).
    level : str
        ``"beat"`` (the notated beat), ``"bar"`` (in one), ``"half bar"`` (4/4 in two) or
        ``"division"`` (each beat in its three divisions: a 6/8 in six).
    """

    beats_s: np.ndarray
    bar_position: np.ndarray
    bar_number: np.ndarray
    bar_meters: np.ndarray
    level: str


def conducting_level(tempo_bpm: float, meter: int, compound: bool) -> str:
    """Which level a conductor beats: the notated beat unless its tempo leaves the conductor's
    range (:data:`core.beats.track.CONDUCTED_TEMPO_BPM`) — faster a bar of 2 or 3 is beaten in one and a bar of 4 in
    two; compound beats slower than ``SLOW_COMPOUND_BPM`` (a slow 6/8) in their divisions."""
    fastest_bpm = CONDUCTED_TEMPO_BPM[1]
    if tempo_bpm > fastest_bpm and meter in (2, 3):
        return "bar"
    if tempo_bpm > fastest_bpm and meter == 4:
        return "half bar"
    if compound and meter == 2 and tempo_bpm < SLOW_COMPOUND_BPM:
        return "division"
    return "beat"


def conducted_grid(beats_s: np.ndarray, bars: BarGrid, level: str) -> ConductedGrid:
    """The notated beats and bars regrouped or divided to ``level`` (see :class:`ConductedGrid`).

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        The notated beats, seconds.
    bars : BarGrid
        Their bars, from :func:`bars_from_beats`.
    level : str
        From :func:`conducting_level`.

    Returns
    -------
    ConductedGrid
        Its ``beats_s`` [shape=(C,), float64] in seconds.
    """
    beats_s = np.asarray(beats_s, dtype=np.float64)
    position, number = bars.bar_position, bars.bar_number
    meters_of_beat = np.zeros(beats_s.size, dtype=int)
    if bars.downbeats.size:
        meters_of_beat = bars.bar_meters[np.clip(number, 0, None)]
        meters_of_beat[number < 0] = bars.bar_meters[0]
    if level in ("bar", "half bar"):
        # Beats grouped: every bar in one, or every half of an even bar (a bar of 3 stays in 3).
        group = meters_of_beat if level == "bar" else np.where(meters_of_beat % 2 == 0, meters_of_beat // 2, 1)
        group = np.maximum(group, 1)
        keep = position % group == 0
        bar_group = bars.bar_meters if level == "bar" else np.where(bars.bar_meters % 2 == 0, bars.bar_meters // 2, 1)
        return ConductedGrid(
            beats_s[keep],
            position[keep] // group[keep],
            number[keep],
            bars.bar_meters // np.maximum(bar_group, 1),
            level,
        )
    if level == "division" and beats_s.size > 1:
        gaps = np.diff(beats_s)
        gaps = np.concatenate([gaps, gaps[-1:]])
        parts = np.arange(COMPOUND_DIVISIONS)
        divided = (beats_s[:, None] + gaps[:, None] * (parts / COMPOUND_DIVISIONS)[None]).ravel()
        new_position = (position[:, None] * COMPOUND_DIVISIONS + parts[None]).ravel()
        new_number = np.repeat(number, COMPOUND_DIVISIONS)
        return ConductedGrid(divided, new_position, new_number, bars.bar_meters * COMPOUND_DIVISIONS, level)
    return ConductedGrid(beats_s, position.copy(), number.copy(), bars.bar_meters.copy(), "beat")


def compound_evidence(beats_s: np.ndarray, division_activation: np.ndarray, fps: float) -> float:
    """How clearly the beats divide in three rather than two: the division activation's mean at
    a third and two thirds of each beat interval minus its value at the half (positive: three).

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64] seconds
        The notated beats, increasing.
    division_activation : np.ndarray [shape=(T,), float] in [0, 1]
        Probability of a beat division at each frame, at ``fps`` frames a second.
    fps : float > 0

    Returns
    -------
    float
        The median difference over the beat intervals; 0 with fewer than two beats.
    """
    if beats_s.size < 2 or division_activation.size == 0:
        return 0.0
    start, gap = beats_s[:-1], np.diff(beats_s)
    thirds = 0.5 * (
        window_max(division_activation, start + gap / 3, fps)
        + window_max(division_activation, start + 2 * gap / 3, fps)
    )
    half = window_max(division_activation, start + gap / 2, fps)
    return float(np.median(thirds - half))


def window_max(activation: np.ndarray, times_s: np.ndarray, fps: float, *, radius: int = 1) -> np.ndarray:
    """The largest activation within ``radius`` frames of each time (frames clipped to the ends).

    Parameters
    ----------
    activation : np.ndarray [shape=(T,), float] in [0, 1]
        At ``fps`` frames a second.
    times_s : np.ndarray [shape=(N,), float64] seconds
    fps : float > 0
    radius : int >= 0
        Frames either side.

    Returns
    -------
    np.ndarray [shape=(N,)], the activation's dtype
    """
    frames = np.round(times_s * fps).astype(int)
    stacked = np.stack([activation[np.clip(frames + d, 0, activation.size - 1)] for d in range(-radius, radius + 1)])
    return stacked.max(axis=0)
