"""The beat grid as a conductor beats it: :class:`BeatTrack`, what every tracker, a beat file and
a MIDI file give, and what the conductors read; with the one definition of each idea about it
that more than one module needs: which meters and tempi a conductor beats, where the music holds,
the local beat period, and the meter of each beat's bar.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# The bars a conductor has a beat pattern for (1: a fast waltz in one; 5: 2+3 or 3+2; 6: a slow
# 6/8), so the longest bar a beat grid may have.
CONDUCTED_METERS = (1, 2, 3, 4, 5, 6)
# The meters a tracker can be held to (the conductor regroups its beats into bars of 1 and 5).
TRACKED_METERS = (2, 3, 4, 6)
# A conductor beats between 40 and 180 beats a minute: faster music is beaten in bars or half
# bars, slower in divisions.
CONDUCTED_TEMPO_BPM = (40.0, 180.0)
COMPOUND_DIVISIONS = 3  # a compound beat (6/8's dotted quarter) divides in three; a slow one is beaten in them
# The notated beats a tracker looks for: from a grave at 30 a minute (the conducted level is
# chosen afterwards) to a presto 3/4's quarters.
TRACKED_TEMPO_BPM = (30.0, 290.0)
# A gap this many local beat periods long is a hold (a fermata, a rest, a breath) rather than a
# slower beat; a beat deleted from a grid leaves a gap of 2, which re-beats its bar instead.
HOLD_GAP_PERIODS = 2.5
LOCAL_INTERVALS = 9  # the local beat period is the median of this many nearest regular intervals
# Coverage: the music sounds where its level is within SOUNDING_FLOOR_DB of its loud level (the
# 95th percentile of 0.1-s blocks); a sounding moment is beaten when a beat lies within
# COVERED_PERIODS local periods of it (at least COVERED_MIN_S). Below COVERAGE_NOTE_SHARE the
# front ends say so, and so they do for any one stretch of STILL_NOTE_S or more that the music
# plays through unbeaten beyond the reach of the beats around it (the conductor then stands still
# for that plus the reach: 2 of 23 game-music excerpts and 4 of 96 held-out renders have one).
SOUNDING_FLOOR_DB = -40.0
COVERED_PERIODS, COVERED_MIN_S = 1.5, 1.0
COVERAGE_BLOCK_S = 0.1
COVERAGE_NOTE_SHARE = 0.9
STILL_NOTE_S = 2.0


@dataclasses.dataclass
class BeatTrack:
    """Where the beats and bars of a piece fall, as a conductor beats them.

    The first five fields are at the conducted level: the beats a conductor shows (a fast 3/4
    in one, a 6/8 in two, a slow 6/8 in six); the ``notated_*`` fields give the beat of the time
    signature. The fields after ``tempo_bpm`` are filled from the first five when not given.

    Attributes
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times in seconds, increasing; none where the music holds or is silent.
    downbeats_s : np.ndarray [shape=(D,), float64]
        The beats that start a bar, in seconds.
    bar_position : np.ndarray [shape=(B,), int]
        Each beat's place in its bar, 0 (downbeat) to its bar's meter - 1.
    meter : int
        Beats per bar of most bars: 2, 3, 4, 6, or 1 for a piece beaten in one.
    tempo_bpm : float
        Median beats per minute (0 when fewer than two beats).
    bar_number : np.ndarray [shape=(B,), int]
        Each beat's bar, counted from 0 at the first downbeat; -1 for the beats of a pickup.
    bar_meters : np.ndarray [shape=(D,), int]
        The beats of each bar (meter changes), in the order of ``downbeats_s``.
    tempo_curve_bpm : np.ndarray [shape=(B,), float64]
        The local tempo at each beat, beats per minute (a hold keeps the tempo before it).
    notated_beats_s : np.ndarray [shape=(N,), float64]
        The time signature's beats (the dotted quarters of a 6/8, the quarters of a fast 3/4).
    notated_meter : int
        Beats of the time signature in most bars (6/8: 2); 0 until filled.
    compound : bool
        Whether the notated beats divide in three (6/8, 9/8, 12/8).
    level : str
        How the conducted beats relate to the notated ones: "beat" (the same), "bar" (in one),
        "half bar" (a 4/4 in two) or "division" (a slow 6/8 in six).
    tracker : str
        Which tracker found them: "dsp" or the learned tracker's weights id.
    held : np.ndarray [shape=(B,), bool]
        Whether the music holds after the beat (a fermata, a rest, the end) instead of going on
        in tempo; the next beat then comes later than the tempo says.
    """

    beats_s: np.ndarray
    downbeats_s: np.ndarray
    bar_position: np.ndarray
    meter: int
    tempo_bpm: float
    bar_number: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))
    bar_meters: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))
    tempo_curve_bpm: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    notated_beats_s: np.ndarray | None = None
    notated_meter: int = 0
    compound: bool = False
    level: str = "beat"
    tracker: str = "dsp"
    held: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        count = np.asarray(self.beats_s).size
        if np.asarray(self.held).size != count:
            self.held = holds_of(self.beats_s)
        elif count:  # the music ends after the last beat, whatever a file said
            self.held = np.asarray(self.held, dtype=bool).copy()
            self.held[-1] = True
        if np.asarray(self.bar_number).size != count:
            starts = np.asarray(self.bar_position) == 0
            self.bar_number = np.cumsum(starts) - 1 if count else np.zeros(0, int)
        if np.asarray(self.bar_meters).size != np.asarray(self.downbeats_s).size:
            self.bar_meters = np.full(np.asarray(self.downbeats_s).size, self.meter, dtype=int)
        self.bar_meters = bar_meters_as_beaten(self.bar_number, self.bar_meters, self.held)
        if np.asarray(self.tempo_curve_bpm).size != count:
            self.tempo_curve_bpm = local_tempo_bpm(self.beats_s, self.held)
        if self.notated_beats_s is None:
            self.notated_beats_s = np.asarray(self.beats_s, dtype=np.float64)
        if not self.notated_meter:
            self.notated_meter = self.meter

    def beat_meters(self) -> np.ndarray:
        """The meter of each beat's bar [shape=(B,), int] (:func:`beat_meters`)."""
        return beat_meters(self.bar_number, self.bar_meters, fallback=self.meter)


def bar_meters_as_beaten(bar_number: np.ndarray, bar_meters: np.ndarray, held: np.ndarray) -> np.ndarray:
    """``bar_meters`` with each bar that has fewer beats than its meter says, runs on without a
    hold and is not the last, given the meter of its beats: a bar of 3 in a piece in 4 is beaten
    in 3 (a tracker's bar cut short), while a bar that holds (a fermata) or ends the music keeps
    its meter and shows the beats it has.

    Parameters
    ----------
    bar_number : np.ndarray [shape=(B,), int]
        Each beat's bar, -1 for a pickup.
    bar_meters : np.ndarray [shape=(D,), int]
        Beats of each bar as given.
    held : np.ndarray [shape=(B,), bool]
        Whether the music holds after each beat.

    Returns
    -------
    np.ndarray [shape=(D,), int]
    """
    meters = np.asarray(bar_meters, dtype=int).copy()
    bars = np.asarray(bar_number)
    if meters.size < 2 or bars.size == 0:
        return meters
    inside = (bars >= 0) & (bars < meters.size)
    counts = np.bincount(bars[inside], minlength=meters.size)
    holding = np.bincount(bars[inside], weights=np.asarray(held, dtype=float)[inside], minlength=meters.size) > 0
    short = (counts < meters) & (counts > 0) & ~holding
    short[-1] = False
    meters[short] = counts[short]
    return meters


def local_period_s(beats_s: np.ndarray, held: np.ndarray | None = None) -> np.ndarray:
    """The beat period around each beat: the median of the ``LOCAL_INTERVALS`` nearest intervals
    that are not holds (a fermata does not slow the tempo down).

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times, seconds, increasing.
    held : np.ndarray [shape=(B,), bool] or None
        Whether the music holds after each beat; None: the intervals under ``HOLD_GAP_PERIODS``
        times their median count as regular (what :func:`holds_of` starts from).

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        Seconds; the median interval where no regular interval is near, 0 for fewer than two beats.
    """
    intervals_s = np.diff(np.asarray(beats_s, dtype=np.float64))
    if intervals_s.size == 0:
        return np.zeros(np.asarray(beats_s).size)
    typical = float(np.median(intervals_s))
    if held is None:
        regular = np.flatnonzero(intervals_s < HOLD_GAP_PERIODS * typical)
    else:
        regular = np.flatnonzero(~np.asarray(held, dtype=bool)[:-1])
    periods = np.full(intervals_s.size + 1, typical)
    for k in range(periods.size):
        middle = int(np.searchsorted(regular, k))
        candidates = regular[max(middle - LOCAL_INTERVALS, 0) : middle + LOCAL_INTERVALS]
        near = candidates[np.argsort(np.abs(candidates - k), kind="stable")[:LOCAL_INTERVALS]]
        if near.size:
            periods[k] = np.median(intervals_s[near])
    return periods


def holds_of(beats_s: np.ndarray) -> np.ndarray:
    """Where the music holds after a beat (a fermata, a rest, the end): a gap over
    ``HOLD_GAP_PERIODS`` local periods, and the last beat.

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times, seconds, increasing.

    Returns
    -------
    np.ndarray [shape=(B,), bool]
    """
    beats_s = np.asarray(beats_s, dtype=np.float64)
    gaps_s = np.append(np.diff(beats_s), np.inf)
    return gaps_s > HOLD_GAP_PERIODS * local_period_s(beats_s)


def local_tempo_bpm(beats_s: np.ndarray, held: np.ndarray | None = None) -> np.ndarray:
    """Beats per minute at each beat: 60 over :func:`local_period_s`.

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times, seconds, increasing.
    held : np.ndarray [shape=(B,), bool] or None
        As for :func:`local_period_s`.

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        Beats a minute; 0 for a single beat.
    """
    period_s = local_period_s(beats_s, held)
    return np.divide(60.0, period_s, out=np.zeros_like(period_s), where=period_s > 0)


def beat_meters(bar_number: np.ndarray, bar_meters: np.ndarray, *, fallback: int) -> np.ndarray:
    """The meter of each beat's bar; a pickup's is the first bar's, whose last beats it is.

    Parameters
    ----------
    bar_number : np.ndarray [shape=(B,), int]
        Each beat's bar, -1 for a pickup (:attr:`BeatTrack.bar_number`).
    bar_meters : np.ndarray [shape=(D,), int]
        Beats of each bar.
    fallback : int
        The meter where there is no bar at all.

    Returns
    -------
    np.ndarray [shape=(B,), int]
    """
    bars = np.asarray(bar_number, dtype=int)
    meters = np.asarray(bar_meters, dtype=int)
    if meters.size == 0:
        return np.full(bars.size, int(fallback))
    inside = (bars >= 0) & (bars < meters.size)
    return np.where(inside, meters[np.clip(bars, 0, meters.size - 1)], int(meters[0]))


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How much of the music that sounds has beats around it.

    Attributes
    ----------
    share : float in [0, 1]
        Of the sounding time, the part within reach of a beat (1 where nothing sounds).
    sounding_s : float
        Seconds of music above the floor.
    gaps_s : list of (start_s, end_s)
        The longest stretches of sounding music without a beat within reach, in time order (at
        most three).
    still_s : list of (start_s, end_s)
        For each gap, the beats around it (or the music's start or end): how long the conductor
        stands still there.
    """

    share: float
    sounding_s: float
    gaps_s: list[tuple[float, float]]
    still_s: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def note(self) -> str:
        """One line for the user when :attr:`share` is under ``COVERAGE_NOTE_SHARE`` or the
        music plays unbeaten for ``STILL_NOTE_S`` or more at a stretch ("" if neither)."""
        if self.share < COVERAGE_NOTE_SHARE:
            gaps = ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in self.gaps_s)
            return (
                f"The beats cover {100 * self.share:.0f} % of the music that sounds; the conductor stands still "
                f"while it plays at {gaps}. Give those passages beats (a beat file or timeline markers) or try "
                "another tracker."
            )
        long = [still for gap, still in zip(self.gaps_s, self.still_s) if gap[1] - gap[0] >= STILL_NOTE_S]
        if not long:
            return ""
        gaps = ", ".join(f"{end - start:.1f} s at {_clock(start)}-{_clock(end)}" for start, end in long)
        return (
            f"The conductor stands still while the music plays for {gaps}. Give "
            f"{'that passage' if len(long) == 1 else 'those passages'} beats (a beat file or timeline markers) "
            "or try another tracker."
        )


def no_beats_heard(music_name: str) -> str:
    """The start of the sentence for music in which the tracker heard no beat at all."""
    return f"No beats were heard in '{music_name}' (silence, or no steady pulse)"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def block_power(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The mean power of each ``COVERAGE_BLOCK_S`` block of the music (the piece's loudness, as
    :func:`sounding_blocks` and the learned tracker's levelling read it).

    ``samples`` [shape=(n,), float32] at ``sample_rate_hz`` -> [shape=(n // round(COVERAGE_BLOCK_S *
    sample_rate_hz),), float64], full scale = 0.5 for a sine; block ``k`` covers the samples from
    ``k * block`` on."""
    block = max(1, int(round(COVERAGE_BLOCK_S * sample_rate_hz)))
    count = samples.shape[0] // block
    power = np.empty(count)
    step = max(1, 2**22 // block)  # blocks at once: bounded memory for hours of music
    for first in range(0, count, step):
        last = min(first + step, count)
        chunk = samples[first * block : last * block].reshape(last - first, block)
        power[first:last] = np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64) / block
    broken = np.flatnonzero(~np.isfinite(power))  # NaN or inf in a block: those samples count as silence
    for index in broken:
        values = samples[index * block : (index + 1) * block].astype(np.float64)
        power[index] = np.mean(np.square(np.where(np.isfinite(values), values, 0.0)))
    return power


def loud_level_db(level_db: np.ndarray) -> float:
    """A piece's loud level: the 95th percentile of its blocks' levels (dB)."""
    return float(np.percentile(level_db, 95))


def sounding_blocks(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Where the music sounds: each ``COVERAGE_BLOCK_S`` block whose level is within
    ``SOUNDING_FLOOR_DB`` of the piece's loud level (:func:`loud_level_db`), none when the whole
    piece is below -90 dB full scale.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        The music, mono, at ``sample_rate_hz``.
    sample_rate_hz : int > 0

    Returns
    -------
    np.ndarray [shape=(n // round(COVERAGE_BLOCK_S * sample_rate_hz),), bool]
        Block ``k`` covers the samples from ``k * block`` on.
    """
    power = block_power(samples, sample_rate_hz)
    if power.size == 0:
        return np.zeros(0, dtype=bool)
    level_db = 10.0 * np.log10(power + 1e-12)
    loud_db = loud_level_db(level_db)
    return (level_db > loud_db + SOUNDING_FLOOR_DB) & (loud_db > -90.0)


def beat_coverage(beats_s: np.ndarray, samples: np.ndarray, sample_rate_hz: int) -> Coverage:
    """How much of the sounding music a beat grid covers (see :class:`Coverage`).

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times, seconds, increasing (a given grid's, or a tracker's).
    samples : np.ndarray [shape=(n,), float32]
        The music, mono, at ``sample_rate_hz``.
    """
    block = max(1, int(round(COVERAGE_BLOCK_S * sample_rate_hz)))
    sounding = sounding_blocks(samples, sample_rate_hz)
    count = sounding.size
    if count == 0 or not sounding.any():
        return Coverage(1.0, 0.0, [])
    centres_s = (np.arange(count) + 0.5) * block / sample_rate_hz
    covered = np.zeros(count, dtype=bool)
    beats_s = np.asarray(beats_s, dtype=np.float64)
    if beats_s.size:
        reach_s = np.maximum(COVERED_PERIODS * local_period_s(beats_s), COVERED_MIN_S)
        nearest = np.clip(np.searchsorted(beats_s, centres_s), 1, max(beats_s.size - 1, 1))
        for side in (nearest - 1, np.minimum(nearest, beats_s.size - 1)):
            covered |= np.abs(centres_s - beats_s[side]) <= reach_s[side]
    missed = sounding & ~covered
    share = 1.0 - missed.sum() / sounding.sum()
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missed.astype(np.int8), [0]])))
    runs = sorted(zip(edges[0::2], edges[1::2]), key=lambda run: run[0] - run[1])[:3]
    gaps = sorted(
        (float(centres_s[a] - COVERAGE_BLOCK_S / 2), float(centres_s[b - 1] + COVERAGE_BLOCK_S / 2)) for a, b in runs
    )
    duration_s = samples.shape[0] / sample_rate_hz
    still = []
    for start, end in gaps:
        before, after = beats_s[beats_s <= start], beats_s[beats_s >= end]
        still.append((float(before[-1]) if before.size else 0.0, float(after[0]) if after.size else duration_s))
    return Coverage(float(share), float(sounding.sum() * block / sample_rate_hz), gaps, still)
