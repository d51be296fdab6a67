"""From activations to a beat grid: a tempo-smooth beat-pointer HMM, then a bar-pointer HMM
over the beats, then the level a conductor beats.

Three stages, each usable alone:

1. :func:`decode_beats` — Viterbi decoding of a beat-pointer hidden Markov model over the frames
   of a beat activation (Whiteley, Cemgil & Godsill 2006; Krebs, Böck & Widmer 2015): a pointer
   runs through the frames of one beat interval, one chain of states per tempo, and at each beat
   it may move to a neighbouring tempo at a cost that grows with the tempo ratio. Because the
   pointer's path between two beats is fixed, the model is computed beat to beat (a beat at frame
   ``t`` in tempo ``i`` follows a beat ``L_j`` frames earlier), which makes it cheap in numpy.
   After any beat the pointer may also *hold* (a fermata, a rest, the silence before and after
   the music) and resume in the same tempo.
2. :func:`bars_from_beats` — a bar-pointer HMM over the beats (the place of each beat in bars of
   2, 3 or 4 beats, the meter changing only at a bar line) on a downbeat activation, or on none
   (then only a given meter or the prior decides): each beat's place, bar and the meter of every
   bar. It takes any beat times, so beats a user has edited re-derive their bars.
3. :func:`conducted_grid` — the beats a conductor shows: the notated beats, or a fast 3/4 in one
   and a fast 4/4 in two, or a slow 6/8 in six, so that the conducted tempo stays within
   :data:`core.beats.track.CONDUCTED_TEMPO_BPM`.

Times are frames of the activation (``frames / fps`` seconds) or seconds, as each function says.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .track import CONDUCTED_TEMPO_BPM

MIN_BEAT_BPM = 35.0  # tempo range of the notated beat the network marks (a slow 6/8's dotted quarter ...
MAX_BEAT_BPM = 290.0  # ... to a presto 3/4's quarter)
TEMPO_STATES = 80  # log-spaced beat intervals (every whole frame at the fast end)
TEMPO_CHANGE = 100.0  # cost per relative change of the beat interval at one beat (madmom's lambda is 100)
TEMPO_BAND = 10  # tempo states a beat may move by (10 states: 25 % or more)
HOLD_ENTER = 1e-2  # probability that a beat is followed by a hold (fermata, rest, silence)
HOLD_STAY = 0.99  # a hold's probability of lasting another frame
ACTIVATION_FLOOR = 1e-4  # activations are clipped to [floor, 1 - floor] before taking log-odds
# Added to a beat frame's log-odds: a network trained on sparse beat frames gives a real beat
# well under 0.5, so log-odds alone would make every beat a loss (madmom's observation model
# has the same effect through its lambda: log(16 - 1)).
BEAT_BONUS = float(np.log(15.0))
EDGE_ACTIVATION = 0.05  # the first and last beats need at least this activation
WINDOW_S = 900.0  # longer pieces are decoded in windows of this length ...
OVERLAP_S = 30.0  # ... overlapping by this much, joined in the middle of the overlap
NOTATED_BAR_METERS = (2, 3, 4)  # the bars of the time signature the bar decoder tells apart (6/8: 2)
METER_CHANGE = 1e-3  # probability that a bar has another meter than the bar before
BAR_BREAK = 1e-4  # probability that a bar ends early (a beat missed or added by the tracker)
DOWNBEAT_FLOOR = 0.02
SLOW_COMPOUND_BPM = 62.0  # compound beats slower than this are conducted in their three divisions


@dataclasses.dataclass
class BeatPath:
    """The decoded beats of an activation.

    Attributes
    ----------
    frames : np.ndarray [shape=(B,), int]
        Beat frames, increasing.
    interval_frames : np.ndarray [shape=(B,), int]
        The beat interval of the tempo state each beat leaves in (frames; the tempo is
        ``60 * fps / interval_frames``), also across holds.
    held : np.ndarray [shape=(B,), bool]
        Whether the decoder's hold state (fermata, rest) follows the beat: how it bridged the gap;
        where the grid holds is :func:`core.beats.track.holds_of`'s rule on the beats.
    """

    frames: np.ndarray
    interval_frames: np.ndarray
    held: np.ndarray


def tempo_intervals(
    fps: float, *, min_bpm: float = MIN_BEAT_BPM, max_bpm: float = MAX_BEAT_BPM, states: int = TEMPO_STATES
) -> np.ndarray:
    """Beat intervals in whole frames, log-spaced from ``max_bpm`` to ``min_bpm`` (duplicates merged,
    so every whole interval at the fast end is a state).

    Parameters
    ----------
    fps : float > 0
        Frame rate of the activation, frames a second.
    min_bpm, max_bpm : float > 0
        Tempo range, beats a minute.
    states : int > 0
        Log-spaced intervals drawn before duplicates are merged.

    Returns
    -------
    intervals : np.ndarray [shape=(K,), int] frames, increasing; K <= ``states``
    """
    shortest, longest = 60.0 * fps / max_bpm, 60.0 * fps / min_bpm
    return np.unique(np.round(np.geomspace(shortest, longest, states)).astype(int))


def log_odds(activation: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of an activation clipped to ``[ACTIVATION_FLOOR, 1 - ACTIVATION_FLOOR]``;
    NaN (never expected) counts as no beat.

    Parameters
    ----------
    activation : np.ndarray [shape=(T,), float] in [0, 1]

    Returns
    -------
    np.ndarray [shape=(T,), float64] in about [-9.2, 9.2]
    """
    p = np.clip(
        np.nan_to_num(np.asarray(activation, dtype=np.float64), nan=0.0), ACTIVATION_FLOOR, 1 - ACTIVATION_FLOOR
    )
    return np.log(p) - np.log1p(-p)


def decode_beats(
    beat_activation: np.ndarray,
    fps: float,
    *,
    min_bpm: float = MIN_BEAT_BPM,
    max_bpm: float = MAX_BEAT_BPM,
    tempo_change: float = TEMPO_CHANGE,
    hold_enter: float = HOLD_ENTER,
    hold_stay: float = HOLD_STAY,
    beat_bonus: float = BEAT_BONUS,
) -> BeatPath:
    """The most likely beats of a beat activation under the beat-pointer HMM (see the module).

    Parameters
    ----------
    beat_activation : np.ndarray [shape=(T,), float] in [0, 1]
        Probability of a beat at each frame, at ``fps`` frames a second.
    fps : float > 0
    min_bpm, max_bpm : float
        Tempo range of the beats.
    tempo_change : float >= 0
        Cost (in log-probability) of changing the beat interval by a factor ``1 + x``: ``tempo_change * x``.
    hold_enter, hold_stay : float in (0, 1)
        Probability of a hold after a beat, and of the hold lasting another frame.
    beat_bonus : float
        Added to the log-odds of a beat frame (see ``BEAT_BONUS``).

    Returns
    -------
    BeatPath
        Empty for an activation without any beat worth a hold's cost (silence, noise).
    """
    activation = np.nan_to_num(np.asarray(beat_activation, dtype=np.float64).ravel(), nan=0.0)
    path = _decode_long(
        activation,
        fps,
        tempo_intervals(fps, min_bpm=min_bpm, max_bpm=max_bpm),
        tempo_change=tempo_change,
        hold_enter=hold_enter,
        hold_stay=hold_stay,
        beat_bonus=beat_bonus,
    )
    # The pointer decodes the activation's maximum over a frame either side, so that whole-frame
    # beat intervals need no tempo change to follow a beat that falls between two frames; each
    # beat then moves to the activation's peak among those three frames.
    if path.frames.size:
        neighbours = np.clip(path.frames[:, None] + np.arange(-1, 2)[None], 0, activation.size - 1)
        peak = neighbours[np.arange(path.frames.size), np.argmax(activation[neighbours], axis=1)]
        order = np.concatenate([[True], np.diff(peak) > 0])  # never two beats on one frame
        path = BeatPath(peak[order], path.interval_frames[order], path.held[order])
        # Beats inside the music may fall on a rest (a conductor beats through it), but before the
        # first and after the last sounding beat they are the pointer running on into silence.
        supported = np.flatnonzero(activation[path.frames] >= EDGE_ACTIVATION)
        keep = slice(supported[0], supported[-1] + 1) if supported.size else slice(0, 0)
        path = BeatPath(path.frames[keep], path.interval_frames[keep], path.held[keep])
        if path.held.size:
            path.held[-1] = True  # the music holds (ends) after the last beat
    return path


def _decode_long(
    activation: np.ndarray,
    fps: float,
    intervals: np.ndarray,
    *,
    tempo_change: float,
    hold_enter: float,
    hold_stay: float,
    beat_bonus: float,
) -> BeatPath:
    """:func:`_decode_window` on the max-filtered activation, in windows for long pieces."""
    spread = np.maximum(
        activation, np.maximum(np.concatenate([activation[1:], [0.0]]), np.concatenate([[0.0], activation[:-1]]))
    )
    window = int(WINDOW_S * fps)
    if activation.size <= window:
        return _decode_window(
            log_odds(spread) + beat_bonus,
            intervals,
            tempo_change=tempo_change,
            hold_enter=hold_enter,
            hold_stay=hold_stay,
        )
    # Long pieces: windows overlapping by OVERLAP_S, each joined at the middle of its overlaps,
    # so the memory of the back-pointers stays that of one window.
    overlap = int(OVERLAP_S * fps)
    step = window - overlap
    parts = []
    for start in range(0, activation.size, step):
        end = min(start + window, activation.size)
        path = _decode_window(
            log_odds(spread[start:end]) + beat_bonus,
            intervals,
            tempo_change=tempo_change,
            hold_enter=hold_enter,
            hold_stay=hold_stay,
        )
        keep_from = start + overlap // 2 if start > 0 else 0
        keep_to = end - overlap // 2 if end < activation.size else activation.size
        frames = path.frames + start
        inside = (frames >= keep_from) & (frames < keep_to)
        parts.append(BeatPath(frames[inside], path.interval_frames[inside], path.held[inside]))
        if end == activation.size:
            break
    joined = BeatPath(
        *(np.concatenate([getattr(p, name) for p in parts]) for name in ("frames", "interval_frames", "held"))
    )
    # At a joint the two windows may both place a beat within half an interval: keep the first.
    if joined.frames.size > 1:
        gap = np.diff(joined.frames)
        keep = np.concatenate([[True], gap >= 0.5 * joined.interval_frames[:-1]])
        joined = BeatPath(joined.frames[keep], joined.interval_frames[keep], joined.held[keep])
    return joined


def _decode_window(
    emission: np.ndarray, intervals: np.ndarray, *, tempo_change: float, hold_enter: float, hold_stay: float
) -> BeatPath:
    """Viterbi over one window of log-odds ``emission`` (T,) with tempo states ``intervals`` (K,).

    Values: ``beat[t, i]`` — best path with a beat at frame t leaving in tempo i (its next beat
    ``intervals[i]`` frames later unless it holds); ``hold[t, j]`` — best path holding at frame t
    after a beat in tempo j. A beat at t in tempo i comes from a beat (or a hold's last frame) of
    some tempo j exactly ``intervals[j]`` frames before, plus the tempo change j -> i.

    The forward pass stays one function (about 70 lines): its rings, index arrays and block loop
    are one vectorised recursion whose parts mean nothing apart, and it is most of the tracker's
    time. The end and the walk back are :func:`_best_end` and :func:`_trace_back`.
    """
    frames = emission.size
    k = intervals.size
    if frames == 0:
        return BeatPath(np.zeros(0, int), np.zeros(0, int), np.zeros(0, bool))
    band_source, band_transition = _tempo_band(intervals, tempo_change)
    log_continue, log_enter = np.log1p(-hold_enter), np.log(hold_enter)
    log_stay, log_exit = np.log(hold_stay), np.log1p(-hold_stay)
    # A beat at t reads values at least min(intervals) frames back, so that many frames are
    # computed at once; the ring keeps the last max(intervals) frames besides the block.
    block = int(intervals.min())
    ring = int(intervals.max()) + block + 1
    beat_ring = np.full((ring, k), -np.inf)
    hold_ring = np.full((ring, k), -np.inf)
    came_from = np.zeros((frames, k), dtype=np.int16)  # tempo of the beat before a beat
    came_kind = np.zeros((frames, k), dtype=np.int8)  # 0 after a beat, 1 after a hold, 2 first beat
    hold_from_hold = np.zeros((frames, k), dtype=bool)
    columns = np.arange(k)
    beat_previous = np.full(k, -np.inf)
    hold_previous = np.zeros(k)  # the piece starts as if held: silence before the music costs little
    # Index arrays of a whole block, made once: the loop below is most of the tracker's time.
    lags = np.arange(block)[:, None] - intervals[None, :]  # (block, k): frames back to the beat before
    flat_band = (band_source + (np.arange(block) * k)[:, None, None]).reshape(block, -1)  # into arrive.ravel()
    flat_rows = np.arange(block * k) * band_source.shape[1]  # the start of each row of total
    state_rows = (np.arange(block * k) % k) * band_source.shape[1]  # the start of each state's band
    block_rows = (np.arange(block) * k)[:, None]  # the start of each frame's row of states
    steps_all = np.arange(block)[:, None]
    for first in range(0, frames, block):
        n = min(block, frames - first)
        times = np.arange(first, first + n)  # (n,)
        cells = ((lags[:n] + first) % ring) * k + columns  # (n, k) into the rings, raveled
        after_beat = beat_ring.ravel()[cells] + log_continue
        after_hold = hold_ring.ravel()[cells] + log_exit
        arrive = np.maximum(after_beat, after_hold)
        kind = (after_hold > after_beat).astype(np.int8)
        if first < intervals.max():  # the first beat may fall anywhere in the first interval
            early = times[:, None] < intervals[None, :]
            kind = np.where(early & (arrive < log_exit), np.int8(2), kind)
            arrive = np.where(early, np.maximum(arrive, log_exit), arrive)
        total = (arrive.ravel()[flat_band[:n]].reshape(n, k, -1) + band_transition[None]).reshape(n * k, -1)
        best_in_band = np.argmax(total, axis=1)  # (n k,)
        beat_now = total.ravel()[flat_rows[: n * k] + best_in_band].reshape(n, k) + emission[times][:, None]
        best = band_source.ravel()[state_rows[: n * k] + best_in_band].reshape(n, k)  # (n, i): the tempo j
        came_from[times] = best
        came_kind[times] = kind.ravel()[block_rows[:n] + best]
        # Holds within the block: H_t = max(H_{t-1} + stay, B_{t-1} + enter), a running maximum.
        enter = np.concatenate([beat_previous[None], beat_now[:-1]]) + log_enter  # (n, k)
        steps = steps_all[:n]
        entered = np.maximum.accumulate(enter - steps * log_stay, axis=0) + steps * log_stay
        hold_now = np.maximum(hold_previous[None] + (steps + 1) * log_stay, entered)
        stay = np.concatenate([hold_previous[None], hold_now[:-1]]) + log_stay
        hold_from_hold[times] = stay >= enter
        beat_ring[times % ring] = beat_now
        hold_ring[times % ring] = hold_now
        beat_previous, hold_previous = beat_now[-1], hold_now[-1]

    state = _best_end(beat_ring, hold_ring, hold_previous, intervals=intervals, frames=frames, log_exit=log_exit)
    return _trace_back(state, intervals, came_from=came_from, came_kind=came_kind, hold_from_hold=hold_from_hold)


def _tempo_band(intervals: np.ndarray, tempo_change: float) -> tuple[np.ndarray, np.ndarray]:
    """The tempo changes a beat considers: for each tempo state i, the states j a beat may come
    from [shape=(K, 2 * TEMPO_BAND + 1), int] and the log-probability of each change j -> i
    [same shape, float64], -inf outside the states."""
    k = intervals.size
    ratio = intervals[None, :] / intervals[:, None]  # (from j, to i)
    transition = -tempo_change * np.abs(ratio - 1.0)
    transition -= np.log(np.exp(transition).sum(axis=1, keepdims=True))  # each row a distribution
    columns = np.arange(k)
    # Changes of more than TEMPO_BAND states at one beat cost over 25 (log-probability): not considered.
    offsets = np.arange(-TEMPO_BAND, TEMPO_BAND + 1)
    band_source = np.clip(columns[:, None] + offsets[None], 0, k - 1)  # (to i, band): from j
    inside = (columns[:, None] + offsets[None] >= 0) & (columns[:, None] + offsets[None] < k)
    band_transition = np.where(inside, transition[band_source, columns[:, None]], -np.inf)
    return band_source, band_transition


def _best_end(
    beat_ring: np.ndarray,
    hold_ring: np.ndarray,
    hold_last: np.ndarray,
    *,
    intervals: np.ndarray,
    frames: int,
    log_exit: float,
) -> tuple[str, int, int]:
    """Where the best path ends, as (kind "beat" or "hold", frame, tempo state): holding at the
    last frame, or a beat (or a hold's end) within the last interval. ``beat_ring`` and
    ``hold_ring`` [shape=(R, K)] hold the last R frames' values (frame t at row t % R);
    ``hold_last`` [shape=(K,)] is the last frame's hold values."""
    ring = beat_ring.shape[0]
    best_value, state = hold_last.max(), ("hold", frames - 1, int(np.argmax(hold_last)))
    for back in range(min(ring, frames)):
        t = frames - 1 - back
        row = t % ring
        usable = back < intervals
        beat_values = np.where(usable, beat_ring[row], -np.inf)
        hold_values = np.where(usable & (back > 0), hold_ring[row] + log_exit, -np.inf)
        if beat_values.max() > best_value:
            best_value, state = beat_values.max(), ("beat", t, int(np.argmax(beat_values)))
        if hold_values.max() > best_value:
            best_value, state = hold_values.max(), ("hold", t, int(np.argmax(hold_values)))
    return state


def _trace_back(
    end: tuple[str, int, int],
    intervals: np.ndarray,
    *,
    came_from: np.ndarray,
    came_kind: np.ndarray,
    hold_from_hold: np.ndarray,
) -> BeatPath:
    """The beats of the best path, walked back from ``end`` (see :func:`_best_end`) through the
    back-pointers [each shape=(T, K)]: the tempo of the beat before each beat, how it came
    (0 after a beat, 1 after a hold, 2 the first beat), and whether a hold came from a hold."""
    beats, tempi, held = [], [], []
    kind_name, t, j = end
    holding_next = kind_name == "hold"
    while t >= 0:
        if kind_name == "hold":
            # Walk back through the hold to the beat that started it (or to the start).
            run = hold_from_hold[: t + 1, j]
            entered = np.flatnonzero(~run)
            if entered.size == 0:
                break  # held from the start of the window
            t = int(entered[-1]) - 1
            kind_name, holding_next = "beat", True
            if t < 0:
                break
            continue
        beats.append(t)
        tempi.append(int(intervals[j]))
        held.append(holding_next)
        kind, previous = came_kind[t, j], int(came_from[t, j])
        if kind == 2:
            break
        t, j = t - int(intervals[previous]), previous
        kind_name, holding_next = ("hold", True) if kind == 1 else ("beat", False)
    order = slice(None, None, -1)
    return BeatPath(
        np.array(beats[order], dtype=int), np.array(tempi[order], dtype=int), np.array(held[order], dtype=bool)
    )


# --------------------------------------------------------------------------- bars
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
    downbeat_activation: np.ndarray | None = None,
    fps: float = 0.0,
    meters: tuple[int, ...] = NOTATED_BAR_METERS,
    meter_change: float = METER_CHANGE,
    bar_break: float = BAR_BREAK,
) -> BarGrid:
    """The bars of a beat sequence: Viterbi over (meter, place in the bar) from beat to beat.

    A beat moves on by one place in its bar; after the last place a new bar starts, of the same
    meter or (with probability ``meter_change``) another; a bar may end early with probability
    ``bar_break``. A beat is a downbeat with the probability the downbeat activation gives near
    it (the largest value within a frame either side); without an activation every placement is
    as likely, and the first meter of ``meters`` whose bars fit is taken.

    Parameters
    ----------
    beats_s : np.ndarray [shape=(B,), float64]
        Beat times in seconds, increasing (tracked, or given by the user).
    downbeat_activation : np.ndarray [shape=(T,), float] in [0, 1] or None
        Probability of a downbeat at each frame, at ``fps`` frames a second.
    fps : float >= 0
        Frame rate of ``downbeat_activation`` (0 with none).
    meters : tuple of int
        The meters (beats a bar) allowed; one meter fixes it.

    Returns
    -------
    BarGrid
    """
    beats_s = np.asarray(beats_s, dtype=np.float64).ravel()
    count = beats_s.size
    if count == 0:
        empty = np.zeros(0, dtype=int)
        return BarGrid(empty, empty.copy(), empty.copy(), empty.copy())
    if downbeat_activation is not None and len(downbeat_activation) and fps > 0:
        activation = np.asarray(downbeat_activation, dtype=np.float64)
        frames = np.clip(np.round(beats_s * fps).astype(int), 0, activation.size - 1)
        near = np.stack([activation[np.clip(frames + d, 0, activation.size - 1)] for d in (-1, 0, 1)]).max(axis=0)
        p = np.clip(np.nan_to_num(near, nan=0.0), DOWNBEAT_FLOOR, 1 - DOWNBEAT_FLOOR)
        on, off = np.log(p), np.log1p(-p)
    else:
        # No evidence: a tiny preference for a downbeat at the first beat and for earlier meters.
        on, off = np.zeros(count), np.zeros(count)
        on[0] = 1e-6
    states, transition = _bar_transitions(meters, meter_change=meter_change, bar_break=bar_break)
    n = len(states)
    starts_bar = np.array([q == 0 for (m, q) in states])
    emission = np.where(starts_bar[None, :], on[:, None], off[:, None])  # (B, states)
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
    downbeats = np.flatnonzero(position == 0)
    bar_number = np.cumsum(position == 0) - 1
    return BarGrid(position, bar_number, meter_of[downbeats], downbeats)


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
        divided = (beats_s[:, None] + gaps[:, None] * np.array([0.0, 1 / 3, 2 / 3])[None]).ravel()
        new_position = (position[:, None] * 3 + np.arange(3)[None]).ravel()
        new_number = np.repeat(number, 3)
        return ConductedGrid(divided, new_position, new_number, bars.bar_meters * 3, level)
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
