"""Beat lock: a generated motion time-warped so that each stroke's ictus falls on a beat.

The neural generators follow the music only loosely (the official M2S-GAN's ictus lands on the
beat hardly more often than on another piece's), and often stroke once for two beats (a 4/4 in
two), once a bar, or twice a slow beat, changing between these within a piece. Given a beat grid,
:func:`lock_to_beats` finds the ictus of every stroke (the baton wrist's lowest point,
:func:`ictus_times`), chooses bar by bar which beats the strokes show (every beat, the half bar,
the bar, or the beats and their halves: :func:`bar_levels`), pairs strokes with those beats in
order (:func:`pair_strokes_with_beats`: each ictus moves at most ``MAX_SHIFT_BEATS`` of a beat,
a stroke or a beat may stay unpaired), and plays the motion back through a smooth, monotone time
map that carries each paired ictus onto its beat (:func:`time_map`, :meth:`_Playback.warp`). Strokes keep
their shape; only their timing changes, time stretching by at most ``STRETCHES[0]`` anywhere,
and wherever the hand would move faster than it ever did the lock gives way.
``strength`` blends from the motion as generated (0) to fully locked (1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ..beats.track import BeatTrack
from ..errors import ConductorError
from ..motion.keypoints import MOTION_FPS
from ..motion.keypoints import sample_keypoints
from ..audio.filters import gaussian_smooth, local_maxima, running_max
from ..motion.skeleton import JOINT_INDEX

BATON_WRIST = JOINT_INDEX["right_wrist"]  # the hand that beats time
BEAT_SIGMA_S = 0.1  # tolerance of the beat alignment score, seconds
STRETCHES = (2.5, 2.0, 1.6, 1.3)  # bounds tried for the time map's slope (within [1 / s, s])
MAX_SPEED_CHANGE = 0.2  # a lock that changes the baton hand's mean speed more is not kept
PARTIAL_SHARES = (1.0, 0.7, 0.4)  # of the strength, tried in turn while the pace changes too much
GIVE_WAY_S = 0.3  # where the lock would move the hand too fast, it gives way over this span
GIVE_WAY_ROUNDS = 40
# The warp plays the gesture back between frames and its frame-to-frame texture from the nearest
# frame: the networks' motion carries a tremor from frame to frame (most of the official
# M2S-GAN's path length), which interpolating between frames would smooth away, slowing the hand
# by a quarter.
TEXTURE_SIGMA_FRAMES = 1.5
MAX_SHIFT_BEATS = 0.75  # an ictus moves at most three quarters of a beat (the nearest pairs preferred)
NEAR_WEIGHT = 0.5  # a pair half a beat off counts 1 - 0.5 / 4, so nearer pairs win ties
# The beats a stroke may go to (see beats_at_level), in the order ties are settled.
LEVELS = ("beat", "bar", "half bar", "division")
DIVISION_MIN_BEAT_S = 0.9  # beats this far apart (66 a minute or slower) may be divided in two
LEVEL_CHANGE_COST = 2.0  # changing the level between bars costs as much as two missed beats


def stroke_bottoms(height: np.ndarray, *, min_gap: int, min_prominence: float) -> np.ndarray:
    """Indices of the bottoms of strokes in a height curve (larger = lower in the image): the
    local maxima at least ``min_gap`` samples apart (the higher kept) that stand
    ``min_prominence`` above the lows on either side (``scipy.signal.find_peaks`` with
    ``distance`` and ``prominence``). Near-linear in the length: a 2-hour motion has tens of
    thousands of maxima.

    Parameters
    ----------
    height : np.ndarray [shape=(T,), float]
        One sample a frame, any unit (the wrist's image y, y down).
    min_gap : int >= 1
        Frames.
    min_prominence : float > 0
        In the unit of ``height``.

    Returns
    -------
    np.ndarray [shape=(K,), int] frame indices, increasing
    """
    height = np.asarray(height, dtype=np.float64)
    peaks = local_maxima(height)
    if peaks.size == 0:
        return peaks
    # The low on a maximum's side, up to the first higher sample, lies between it and the
    # nearest higher crest on that side (plateaus count as one crest; the ends of the curve as
    # crests higher than all): the lowest of the valleys between crests.
    starts = np.concatenate([[0], np.flatnonzero(np.diff(height) != 0) + 1])  # runs of equal samples
    padded = np.concatenate([[np.inf], height[starts], [np.inf]])
    crests = np.concatenate([[0], local_maxima(padded), [padded.size - 1]])
    valleys = np.minimum.reduceat(padded, crests)[:-1]  # valleys[k]: between crests k and k + 1
    crest_height = padded[crests]
    lowest = _range_minimum(valleys)
    left_wall = _nearest_higher(crest_height)
    right_wall = crests.size - 1 - _nearest_higher(crest_height[::-1])[::-1]
    at_peak = np.searchsorted(starts, peaks) + 1  # each peak's crest in padded
    crest = np.searchsorted(crests, at_peak)
    low = np.maximum(lowest(left_wall[crest], crest - 1), lowest(crest, right_wall[crest] - 1))
    prominent = height[peaks] - low >= min_prominence
    keep = np.ones(peaks.size, dtype=bool)
    for k in np.argsort(height[peaks], kind="stable")[::-1]:  # the highest first
        if keep[k]:
            first, last = np.searchsorted(peaks, [peaks[k] - min_gap + 1, peaks[k] + min_gap])
            keep[first:last] = False
            keep[k] = True
    return peaks[keep & prominent]


def _nearest_higher(values: np.ndarray) -> np.ndarray:
    """For each value, the index of the nearest earlier one strictly greater (-1 if none)."""
    nearest = np.full(values.size, -1)
    stack: list[int] = []
    for k, value in enumerate(values.tolist()):
        while stack and values[stack[-1]] <= value:
            stack.pop()
        nearest[k] = stack[-1] if stack else -1
        stack.append(k)
    return nearest


def _range_minimum(values: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function (first, last) -> the minimum of ``values[first : last + 1]`` for arrays of
    index pairs (a sparse table: log2(N) arrays of running minima)."""
    levels = [values]
    while 2 ** len(levels) <= values.size:
        span = 2 ** (len(levels) - 1)
        levels.append(np.minimum(levels[-1][:-span], levels[-1][span:]))

    def lowest(first: np.ndarray, last: np.ndarray) -> np.ndarray:
        level = np.floor(np.log2(np.maximum(last - first + 1, 1))).astype(int)
        result = np.empty(first.size)
        for k in np.unique(level):
            rows = level == k
            result[rows] = np.minimum(levels[k][first[rows]], levels[k][last[rows] - 2**k + 1])
        return result

    return lowest


def ictus_times(
    keypoints: np.ndarray,
    *,
    fps: float = MOTION_FPS,
    wrist: int = BATON_WRIST,
    smooth_s: float = 0.05,
    min_gap_s: float = 0.25,
    min_drop: float = 0.1,
    start_s: float = 0.0,
) -> np.ndarray:
    """Ictus times: the moments the beating hand reaches the bottom of a stroke and turns up.

    A conductor shows each beat at the ictus, the lowest point of the stroke, whatever the speed
    there. Here it is a local maximum of the wrist's image y (y grows downwards), smoothed by a
    Gaussian of ``smooth_s``, that stands at least ``min_drop`` of the 5th-95th percentile range
    of y above the lows on either side; of two closer than ``min_gap_s``, the lower one.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float] image units
        Image coordinates (y down) at ``fps`` frames per second.
    fps : float > 0
    wrist : int
        The beating wrist's joint index.
    smooth_s, min_gap_s : float
        Seconds.
    min_drop : float
        Share of the 5th-95th percentile range of the wrist's y.
    start_s : float
        The first frame's time, seconds: a motion's ``times_s[0]`` gives the music's times
        (negative in its lead-in).

    Returns
    -------
    np.ndarray [shape=(K,), float64]
        Ictus times in seconds from ``start_s`` at the first frame, increasing.
    """
    height = gaussian_smooth(np.asarray(keypoints, dtype=np.float64)[:, wrist, 1], smooth_s * fps)
    low, high = np.percentile(height, [5, 95])
    bottoms = stroke_bottoms(
        height, min_gap=max(1, int(round(min_gap_s * fps))), min_prominence=max(min_drop * (high - low), 1e-6)
    )
    return start_s + bottoms / fps


def beat_alignment(reference_s: np.ndarray, other_s: np.ndarray, *, sigma_s: float = BEAT_SIGMA_S) -> float:
    """Beat alignment score: mean over ``reference_s`` beats of exp(-d^2 / (2 sigma^2)), d the
    distance in seconds to the nearest beat of ``other_s``.

    Parameters
    ----------
    reference_s, other_s : np.ndarray [shape=(B,) and (K,), float] seconds
        Beat (or ictus) times, in any order.
    sigma_s : float > 0
        Seconds.

    Returns
    -------
    float in [0, 1]
        1 = every reference beat has a beat of the other kind at the same time; NaN when either
        list is empty.
    """
    reference_s, other_s = np.asarray(reference_s, float), np.asarray(other_s, float)
    if reference_s.size == 0 or other_s.size == 0:
        return float("nan")
    return float(np.mean(_nearness(reference_s, other_s, sigma_s)))


def pair_strokes_with_beats(
    ictus_s: np.ndarray, beats_s: np.ndarray, *, stretch: float, lookback: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """(ictus indices, beat indices): ictuses paired with beats in order, each at most
    ``MAX_SHIFT_BEATS`` of a beat from its beat, every step from one pair to the next stretching
    time by at most ``stretch`` either way (beat time over ictus time within [1 / stretch,
    stretch]). Of all such chains, the one with the most pairs, nearer pairs counting a little
    more: dynamic programming over the pairs, each looking back at most ``lookback`` pairs (so
    a stretch of strokes with no beat near, a general pause, is bridged).

    Parameters
    ----------
    ictus_s : np.ndarray [shape=(K,), float] seconds, increasing
    beats_s : np.ndarray [shape=(B,), float] seconds, increasing
    stretch : float >= 1
    lookback : int >= 1

    Returns
    -------
    strokes, beats : np.ndarray [shape=(P,), int] each
        Indices into ``ictus_s`` and ``beats_s`` of the pairs, both increasing; empty when
        nothing pairs (or fewer than two beats).
    """
    strokes, beats = np.asarray(ictus_s, dtype=np.float64), np.asarray(beats_s, dtype=np.float64)
    if strokes.size == 0 or beats.size < 2:
        return np.zeros(0, int), np.zeros(0, int)
    period = np.gradient(beats)
    reach = MAX_SHIFT_BEATS * period.max()
    first = np.searchsorted(beats, strokes - reach)
    last = np.searchsorted(beats, strokes + reach, side="right")
    stroke_of: list[int] = []
    beat_of: list[int] = []
    for stroke in range(strokes.size):
        near = np.arange(first[stroke], last[stroke])
        near = near[np.abs(strokes[stroke] - beats[near]) <= MAX_SHIFT_BEATS * period[near]]
        stroke_of.extend([stroke] * near.size)
        beat_of.extend(near.tolist())
    if not stroke_of:
        return np.zeros(0, int), np.zeros(0, int)
    pair_stroke, pair_beat = np.array(stroke_of), np.array(beat_of)
    shift = (strokes[pair_stroke] - beats[pair_beat]) / period[pair_beat]
    gain = 1.0 - NEAR_WEIGHT * shift**2  # a pair counts 1, less the further its ictus must move
    total = gain.copy()
    previous = np.full(pair_stroke.size, -1)
    start = np.maximum(np.arange(pair_stroke.size) - lookback, 0)
    for pair in range(pair_stroke.size):
        earlier = np.arange(start[pair], pair)
        earlier = earlier[(pair_stroke[earlier] < pair_stroke[pair]) & (pair_beat[earlier] < pair_beat[pair])]
        if earlier.size == 0:
            continue
        slope = (beats[pair_beat[pair]] - beats[pair_beat[earlier]]) / (
            strokes[pair_stroke[pair]] - strokes[pair_stroke[earlier]]
        )
        earlier = earlier[(slope >= 1.0 / stretch) & (slope <= stretch)]
        if earlier.size:
            best = earlier[np.argmax(total[earlier])]
            total[pair], previous[pair] = total[best] + gain[pair], best
    chain = [int(np.argmax(total))]
    while previous[chain[-1]] >= 0:
        chain.append(int(previous[chain[-1]]))
    chain.reverse()
    return pair_stroke[chain], pair_beat[chain]


def time_map(beats_s: np.ndarray, ictus_s: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """Source times to play at output ``times_s``: each paired beat plays its ictus, smooth and
    monotone in between (Fritsch-Carlson cubic), the ends shifted with their nearest pair.

    Parameters
    ----------
    beats_s, ictus_s : np.ndarray [shape=(P,), float] seconds
        The pairs (beat, ictus), both increasing.
    times_s : np.ndarray [shape=(N,), float64] seconds
        Output times (a motion's frames: ``arange(T) / fps``).

    Returns
    -------
    np.ndarray [shape=(N,), float64] seconds
        Source time for each output time, non-decreasing.
    """
    x, y = np.asarray(beats_s, dtype=np.float64), np.asarray(ictus_s, dtype=np.float64)
    if x.size < 2:
        return times_s + (y[0] - x[0] if x.size else 0.0)
    secant = np.diff(y) / np.diff(x)
    tangent = np.empty(x.size)
    tangent[[0, -1]] = secant[[0, -1]]
    inner = secant[:-1] * secant[1:] > 0
    harmonic = 2.0 / (1.0 / np.maximum(secant[:-1], 1e-12) + 1.0 / np.maximum(secant[1:], 1e-12))
    tangent[1:-1] = np.where(inner, harmonic, 0.0)  # monotone: never overshoots between two pairs
    segment = np.clip(np.searchsorted(x, times_s, side="right") - 1, 0, x.size - 2)
    width = x[segment + 1] - x[segment]
    u = np.clip((times_s - x[segment]) / width, 0.0, 1.0)
    h00, h10, h01, h11 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u, -2 * u**3 + 3 * u**2, u**3 - u**2
    mapped = (
        h00 * y[segment] + h10 * width * tangent[segment] + h01 * y[segment + 1] + h11 * width * tangent[segment + 1]
    )
    before, after = times_s < x[0], times_s > x[-1]
    mapped[before] = times_s[before] + (y[0] - x[0])
    mapped[after] = times_s[after] + (y[-1] - x[-1])
    return mapped


BarLevels = list[tuple[int, str]]  # runs of bars at one level: (first bar, level), in order


def beats_at_level(track: BeatTrack, level: str | BarLevels) -> np.ndarray:
    """The beats of ``track`` a conductor shows at ``level``: "beat" (all), "half bar" (the
    downbeat and the middle of even bars, the downbeat of odd ones), "bar" (downbeats),
    "division" (every beat, and halfway to the next where beats are ``DIVISION_MIN_BEAT_S`` or
    more apart and the music does not hold: a slow 4/4 beaten in 8), or runs of bars each at one
    of those (``[(0, "beat"), (12, "half bar")]``: in 4, in 2 from bar 12; a pickup takes the
    first run's level).

    Returns
    -------
    beats_s : np.ndarray [shape=(S,), float64] seconds, sorted
    """
    if isinstance(level, str):
        return _beats_and_bars(track, level)[0]
    shown = []
    for k, (first_bar, name) in enumerate(level):
        beats_s, bars = _beats_and_bars(track, name)
        last_bar = level[k + 1][0] if k + 1 < len(level) else np.inf
        shown.append(beats_s[((bars >= first_bar) | (k == 0)) & (bars < last_bar)])
    return np.concatenate(shown) if shown else np.zeros(0)


def _beats_and_bars(track: BeatTrack, level: str) -> tuple[np.ndarray, np.ndarray]:
    """(times in seconds, bar numbers) of the beats shown at one ``level``, in order."""
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    bars = np.asarray(track.bar_number)
    position = np.asarray(track.bar_position)
    if level == "beat":
        return beats_s, bars
    if level == "bar":
        keep = position == 0
    elif level == "half bar":
        meters = track.beat_meters()
        keep = (position == 0) | ((meters % 2 == 0) & (position == meters // 2))
    elif level == "division":
        gap_s = np.diff(beats_s)
        held = np.asarray(track.held, dtype=bool)[:-1]  # a fermata's gap is not divided
        divided = np.flatnonzero((gap_s >= DIVISION_MIN_BEAT_S) & ~held)
        times_s = np.concatenate([beats_s, beats_s[divided] + gap_s[divided] / 2.0])
        order = np.argsort(times_s, kind="stable")
        return times_s[order], np.concatenate([bars, bars[divided]])[order]
    else:
        raise ValueError(f"unknown beat level {level!r}")
    return beats_s[keep], bars[keep]


def level_name(levels: BarLevels) -> str:
    """One word for runs of levels: the level of a single run, else "mixed"."""
    return levels[0][1] if len(levels) == 1 else "mixed"


def lock_to_beats(
    keypoints: np.ndarray,
    track: BeatTrack,
    *,
    fps: float,
    strength: float = 1.0,
    level: str | BarLevels | None = None,
) -> tuple[np.ndarray, BarLevels]:
    """The motion with each stroke's ictus moved onto a beat of the grid.

    The networks often beat a 4/4 in two and slow music in one, and change between them within
    a piece, so the lock tries each level (every beat, the half bar, the bar, the beats and
    their halves) over the whole piece, then lets each bar take the level its strokes fit best
    (:func:`bar_levels`), and of these and the stretch bounds ``STRETCHES`` keeps the lock whose
    motion shows its beats best (the worse direction of :func:`beat_alignment` the highest).
    Where the warp would move the hand faster than the motion ever moves, the lock gives way
    there (:meth:`_Playback.warp`), so no frame-to-frame move grows.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float32]
        The generated motion at ``fps`` frames per second, image units.
    track : BeatTrack
        The beat grid, seconds.
    fps : float > 0
    strength : float in [0, 1]
        0 leaves the motion as it is, 1 moves every paired ictus onto its beat.
    level : "beat", "half bar", "bar", runs of them (see :func:`beats_at_level`) or None
        Which beats the strokes go to; None: chosen as above.

    Returns
    -------
    keypoints : np.ndarray [shape=(T, 13, 2), float32]
    levels : list of (first bar, level)
        The beats locked to, as runs of bars (one run when the whole piece is at one level).
    """
    if not 0.0 <= strength <= 1.0:
        raise ConductorError(f"Beat lock must be between 0 and 1, got {strength!r}.")
    keypoints = np.asarray(keypoints, dtype=np.float32)
    given: BarLevels | None = [(0, level)] if isinstance(level, str) else level
    ictus = ictus_times(keypoints, fps=fps)
    if strength == 0.0 or ictus.size == 0 or np.asarray(track.beats_s).size < 2 or keypoints.shape[0] < 2:
        return keypoints.copy(), given or [(0, "beat")]
    # The beats and the time map are chosen for the full lock; ``strength`` then blends
    # toward it, so the slider moves between two fixed motions.
    playback = _Playback.of(keypoints, fps)
    if given is not None:
        return _lock_at(playback, ictus, beats_at_level(track, given)).blended(strength), given
    best, best_levels = _BeatLock.unchanged(playback, ictus), [(0, "beat")]
    misses = np.zeros((len(LEVELS), max(int(np.max(track.bar_number, initial=0)) + 1, 1)))
    for k, name in enumerate(LEVELS):
        beats_s = beats_at_level(track, name)
        if name == "division" and beats_s.size == np.asarray(track.beats_s).size:
            misses[k] = np.inf  # no beat slow enough to divide
            continue
        lock = _lock_at(playback, ictus, beats_s)
        if lock.score > best.score:
            best, best_levels = lock, [(0, name)]
        misses[k] = _misses_per_bar(track, beats_s, lock.ictus_s, bars=misses.shape[1])
    mixed = bar_levels(misses)
    if len(mixed) > 1:
        lock = _lock_at(playback, ictus, beats_at_level(track, mixed))
        if lock.score > best.score:
            best, best_levels = lock, mixed
    return best.blended(strength), best_levels


def bar_levels(misses: np.ndarray) -> BarLevels:
    """Runs of bars at one level: the fewest misses in all, each change of level costing
    ``LEVEL_CHANGE_COST`` more (a Viterbi path), so the conductor changes how it beats only
    where that shows clearly.

    Parameters
    ----------
    misses : np.ndarray [shape=(len(LEVELS), bars), float64] >= 0
        The misses of each level (rows in :data:`LEVELS`' order) in each bar (:func:`_misses_per_bar`);
        inf for a level that cannot be used.

    Returns
    -------
    list of (first bar, level)
    """
    count, bars = misses.shape
    total = misses[:, 0].copy()
    came_from = np.zeros((count, bars), dtype=int)
    change = LEVEL_CHANGE_COST * (1.0 - np.eye(count))  # [from, to]
    for bar in range(1, bars):
        options = total[:, None] + change
        came_from[:, bar] = np.argmin(options, axis=0)
        total = options[came_from[:, bar], np.arange(count)] + misses[:, bar]
    path = [int(np.argmin(total))]
    for bar in range(bars - 1, 0, -1):
        path.append(int(came_from[path[-1], bar]))
    path.reverse()
    return [(bar, LEVELS[path[bar]]) for bar in range(bars) if bar == 0 or path[bar] != path[bar - 1]]


def _misses_per_bar(track: BeatTrack, beats_s: np.ndarray, ictus_s: np.ndarray, *, bars: int) -> np.ndarray:
    """For each bar, how far its beats go unshown and its strokes off the beat: the sum of
    1 - exp(-d^2 / (2 sigma^2)) over its ``beats_s`` (d to the nearest ictus) and over the
    ictuses in it (d to the nearest beat)."""
    downbeats_s = np.asarray(track.downbeats_s, dtype=np.float64)
    beat_bar = np.searchsorted(downbeats_s, beats_s + 1e-6, side="right") - 1
    stroke_bar = np.searchsorted(downbeats_s, ictus_s, side="right") - 1
    misses = np.zeros(bars)
    np.add.at(misses, np.clip(beat_bar, 0, bars - 1), 1.0 - _nearness(beats_s, ictus_s))
    np.add.at(misses, np.clip(stroke_bar, 0, bars - 1), 1.0 - _nearness(ictus_s, beats_s))
    return misses


def _nearness(reference_s: np.ndarray, other_s: np.ndarray, sigma_s: float = BEAT_SIGMA_S) -> np.ndarray:
    """exp(-d^2 / (2 sigma^2)) for each of ``reference_s``, d the distance to the nearest of
    ``other_s`` (0 when there is none): the terms :func:`beat_alignment` averages."""
    if reference_s.size == 0 or other_s.size == 0:
        return np.zeros(reference_s.size)
    other_s = np.sort(other_s)
    after = np.clip(np.searchsorted(other_s, reference_s), 1, max(other_s.size - 1, 1))
    nearest = np.minimum(
        np.abs(reference_s - other_s[after - 1]), np.abs(other_s[np.minimum(after, other_s.size - 1)] - reference_s)
    )
    return np.exp(-(nearest**2) / (2.0 * sigma_s**2))


@dataclasses.dataclass
class _Playback:
    """A motion ready to be played back through time maps: what :meth:`warp` needs of it,
    computed once for all the locks tried."""

    keypoints: np.ndarray
    fps: float
    gesture: np.ndarray  # smoothed over TEXTURE_SIGMA_FRAMES
    texture: np.ndarray  # keypoints - gesture
    largest_move: float  # of any keypoint from one frame to the next
    baton_speed: float

    @classmethod
    def of(cls, keypoints: np.ndarray, fps: float) -> _Playback:
        gesture = gaussian_smooth(keypoints, TEXTURE_SIGMA_FRAMES, axis=0).astype(np.float32)
        largest_move = float(np.abs(np.diff(keypoints, axis=0)).max())
        return cls(keypoints, fps, gesture, keypoints - gesture, largest_move, _baton_speed(keypoints))

    def warp(self, source_s: np.ndarray, strength: float) -> np.ndarray:
        """The motion played back at ``source_s`` (one source time per frame), blended by
        ``strength`` with playing it as it is: the gesture between frames, its frame-to-frame
        texture from the nearest frame. Where that would move a keypoint further in a frame
        than the motion ever does, the blend gives way locally (and smoothly) until none does."""
        fps = self.fps
        times_s = np.arange(self.keypoints.shape[0]) / fps
        share = np.full(times_s.size, float(strength))
        width = max(1, int(round(GIVE_WAY_S * fps)))
        for _ in range(GIVE_WAY_ROUNDS):
            played = np.maximum.accumulate(np.clip(times_s + share * (source_s - times_s), 0.0, times_s[-1]))
            locked = sample_keypoints(self.gesture, fps, played) + self.texture[np.rint(played * fps).astype(np.int64)]
            moves = np.abs(np.diff(locked, axis=0)).max(axis=(1, 2))
            too_fast = moves > self.largest_move + 1e-6
            if not too_fast.any():
                return locked
            near = running_max(np.concatenate([too_fast, [False]]) | np.concatenate([[False], too_fast]), 2 * width + 1)
            share = gaussian_smooth(share * np.where(near, 0.7, 1.0), width / 2.0)
        return self.keypoints.copy()


@dataclasses.dataclass
class _BeatLock:
    """A full lock (strength 1), its strokes' ictus times, and how to blend toward it: the
    playback's warp by ``source_s`` at ``share`` of the strength (None: nothing to lock)."""

    score: float
    locked: np.ndarray
    ictus_s: np.ndarray
    playback: _Playback
    source_s: np.ndarray | None
    share: float

    @classmethod
    def unchanged(cls, playback: _Playback, ictus_s: np.ndarray) -> _BeatLock:
        return cls(-1.0, playback.keypoints.copy(), ictus_s, playback, None, 0.0)

    def blended(self, strength: float) -> np.ndarray:
        if strength == 1.0 or self.source_s is None:
            return self.locked
        return self.playback.warp(self.source_s, strength * self.share)


def _lock_at(playback: _Playback, ictus_s: np.ndarray, beats_s: np.ndarray) -> _BeatLock:
    """The best full lock of the strokes (at ``ictus_s``) onto ``beats_s`` over the stretch
    bounds, scored by the worse direction of :func:`beat_alignment` (-1 and the motion
    unchanged when no stroke pairs with a beat)."""
    best = _BeatLock.unchanged(playback, ictus_s)
    frames = playback.keypoints.shape[0]
    for stretch in STRETCHES:
        strokes, beats = pair_strokes_with_beats(ictus_s, beats_s, stretch=stretch)
        if strokes.size == 0:
            continue
        source_s = time_map(beats_s[beats], ictus_s[strokes], np.arange(frames) / playback.fps)
        for share in PARTIAL_SHARES:  # a lock that changes the pace too much is tried weaker
            locked = playback.warp(source_s, share)
            if abs(_baton_speed(locked) / max(playback.baton_speed, 1e-12) - 1.0) <= MAX_SPEED_CHANGE:
                break
        else:
            continue
        found = ictus_times(locked, fps=playback.fps)
        score = min(beat_alignment(beats_s, found), beat_alignment(found, beats_s)) if found.size else 0.0
        if score > best.score:
            best = _BeatLock(score, locked, found, playback, source_s, share)
    return best


def _baton_speed(keypoints: np.ndarray) -> float:
    """Mean frame-to-frame distance of the baton wrist, image units."""
    return float(np.linalg.norm(np.diff(keypoints[:, BATON_WRIST], axis=0), axis=1).mean())
