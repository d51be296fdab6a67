"""From activations to beats and bars: one Viterbi over tempo x place in the bar x meter that
reads the beat and the downbeat activation together (a bar-pointer model, after Whiteley, Cemgil
& Godsill 2006 and Krebs, Böck & Widmer 2015, as madmom's DBN downbeat tracker), with holds that
cost where the music sounds.

The model. A beat at frame ``t`` has a tempo state ``k`` (its interval to the next beat,
``intervals[k]`` frames, log-spaced over :data:`core.beats.track.TRACKED_TEMPO_BPM`) and a bar
state ``s = (m, q)``: a meter ``m`` and the beat's place ``q`` in its bar. The next beat comes
``intervals[k]`` frames later at place ``q + 1``, or after the bar's last place at place 0 of a
bar of the same meter (another meter costs ``meter_change``); at each beat the tempo may move a
few states (cost ``tempo_change * |ratio - 1|``). Because the pointer's path between two beats
is fixed, the model runs from beat to beat and frames between beats cost nothing. A beat scores

    log-odds(beat activation) + beat_bonus  [+ the downbeat's log-likelihood ratio + the meter's prior, at q = 0]

where the downbeat's log-likelihood ratio is ``a * logit(x) + c`` of the downbeat's share of the
beat activation ``x = D / max(B, D)``, fitted on validation renders (an uncalibrated ``log D`` on
downbeats and ``log(1 - D)`` elsewhere makes every downbeat a loss, so the meter with the fewest
downbeats, bars of 4, would always win).

Holds. After a beat the pointer may hold (a fermata, a rest, the silence before, between and
after the music) and resume in the same tempo and place. Each held frame costs
``log(hold_stay)``, and where the music *sounds* ``sounding_hold_cost`` more: through quiet,
sparse or ambiguous passages the pointer carries the tempo it heard around them instead of
standing still, while silence and real fermatas still hold. The piece starts as if held, so a
sounding introduction is beaten from its start.

Long pieces are decoded in windows (``WINDOW_S``, overlapping by ``OVERLAP_S``, joined in the
middle of the overlap), so the back-pointers (two bytes a state and frame) stay those of one
window. The work is O(frames x tempi x bar states x (2 ``TEMPO_BAND`` + 1)), a block of frames
at a time in numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .track import TRACKED_TEMPO_BPM

NOTATED_BAR_METERS = (2, 3, 4)  # the bars of the time signature the decoder tells apart (6/8: 2)
TEMPO_STATES = 80  # log-spaced beat intervals drawn (every whole frame at the fast end)
TEMPO_CHANGE = 100.0  # cost per relative change of the beat interval at one beat (madmom's lambda)
TEMPO_BAND = 2  # tempo states a beat may move by (2 states: about 6 %)
HOLD_ENTER = 1e-2  # probability that a beat is followed by a hold (fermata, rest, silence)
HOLD_STAY = 0.99  # a hold's probability of lasting another frame
SOUNDING_HOLD_COST = 0.03  # log-probability a held frame costs besides, where the music sounds
ACTIVATION_FLOOR = 1e-4  # activations are clipped to [floor, 1 - floor] before taking log-odds
# Added to a beat frame's log-odds: a network trained on sparse beat frames gives a real beat
# well under 0.5, so log-odds alone would make every beat a loss (madmom's lambda does the same).
BEAT_BONUS = 3.0
METER_CHANGE = 1e-3  # probability that a bar has another meter than the bar before
DOWNBEAT_FLOOR = 0.02  # the downbeat's share is clipped to [floor, 1 - floor]
# The downbeat's log-likelihood ratio a * logit(D / max(B, D)) + c, and a log bonus per bar of 2
# and of 3 (bars of 4: 0): a logistic fit on the reference beats of 72 validation renders
# (training soundfonts, works never trained on), the priors chosen on 200 of them for the
# balanced meter accuracy. Refit both when the network changes (training/README.md).
DOWNBEAT_CALIBRATION = (0.869, 0.527)
DOWNBEAT_CONFIDENCE = 0.0  # the share counts B / (B + this) of itself (0: fully); the card may set it
METER_PRIOR = {2: -0.5, 3: -0.1}
WINDOW_S = 240.0  # longer pieces are decoded in windows of this length ...
OVERLAP_S = 30.0  # ... overlapping by this much, joined in the middle of the overlap
# Music with a pulse: a 10-s block whose beat activation's 99th percentile reaches 0.05 (noise
# and hum stay under 0.025 with the shipped network; the quietest game-music excerpt's piece is 0.11).
PULSE_ACTIVATION, PULSE_BLOCK_S, PULSE_REACH_S = 0.05, 10.0, 60.0
# The last BREATH_S after the last beat heard clearly (HEARD_ACTIVATION) may hold as in silence.
HEARD_ACTIVATION, BREATH_S = 0.2, 2.0
EDGE_ACTIVATION = 0.05  # a first or last beat needs this activation, unless sounding music with a pulse carries it
HALVING_SHARE = 0.4
RENORMALISE_BLOCKS = 8  # every other beat this much weaker than the rest: those are divisions


@dataclasses.dataclass(frozen=True)
class DecoderSettings:
    """The model's parameters (see the module); the defaults are the tuned ones."""

    min_bpm: float = TRACKED_TEMPO_BPM[0]
    max_bpm: float = TRACKED_TEMPO_BPM[1]
    tempo_states: int = TEMPO_STATES
    tempo_change: float = TEMPO_CHANGE
    tempo_band: int = TEMPO_BAND
    hold_enter: float = HOLD_ENTER
    hold_stay: float = HOLD_STAY
    sounding_hold_cost: float = SOUNDING_HOLD_COST
    beat_bonus: float = BEAT_BONUS
    meter_change: float = METER_CHANGE
    downbeat_calibration: tuple[float, float] = DOWNBEAT_CALIBRATION
    downbeat_confidence: float = DOWNBEAT_CONFIDENCE
    meter_prior: tuple[tuple[int, float], ...] = tuple(METER_PRIOR.items())

    @staticmethod
    def from_card(card: dict) -> DecoderSettings:
        """The defaults with the calibration a model card's ``decoder`` entry gives (its downbeat
        calibration, confidence and meter prior, fitted for those weights by
        ``python -m training.beat_calibration``)."""
        fitted = card.get("decoder", {}) if isinstance(card, dict) else {}
        settings = DecoderSettings()
        if "downbeat_calibration" in fitted:
            a, c = fitted["downbeat_calibration"]
            settings = dataclasses.replace(settings, downbeat_calibration=(float(a), float(c)))
        if "downbeat_confidence" in fitted:
            settings = dataclasses.replace(settings, downbeat_confidence=float(fitted["downbeat_confidence"]))
        if "meter_prior" in fitted:
            prior = tuple(sorted((int(m), float(v)) for m, v in fitted["meter_prior"].items()))
            settings = dataclasses.replace(settings, meter_prior=prior)
        return settings


@dataclasses.dataclass
class BarPath:
    """The decoded beats of an activation and their bars.

    Attributes
    ----------
    frames : np.ndarray [shape=(B,), int]
        Beat frames, increasing.
    bar_position : np.ndarray [shape=(B,), int]
        Each beat's place in its bar, 0 (the downbeat) to its meter - 1.
    meter : np.ndarray [shape=(B,), int]
        The meter (beats a bar) of each beat's bar.
    interval_frames : np.ndarray [shape=(B,), int]
        The beat interval of the tempo state each beat leaves in (frames; the tempo is
        ``60 * fps / interval_frames``), also across holds.
    held : np.ndarray [shape=(B,), bool]
        Whether the decoder's hold state follows the beat: how it bridged the gap (where a grid
        holds is :func:`core.beats.track.holds_of`'s rule on the beats).
    """

    frames: np.ndarray
    bar_position: np.ndarray
    meter: np.ndarray
    interval_frames: np.ndarray
    held: np.ndarray

    @staticmethod
    def empty() -> BarPath:
        none = np.zeros(0, dtype=int)
        return BarPath(none, none.copy(), none.copy(), none.copy(), np.zeros(0, dtype=bool))

    def select(self, keep: np.ndarray | slice) -> BarPath:
        """The beats ``keep`` (a boolean mask, indices or a slice) of this path."""
        return BarPath(*(getattr(self, f.name)[keep] for f in dataclasses.fields(self)))

    @staticmethod
    def joined(parts: list[BarPath]) -> BarPath:
        if not parts:
            return BarPath.empty()
        return BarPath(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(BarPath)))


def tempo_intervals(
    fps: float,
    *,
    min_bpm: float = TRACKED_TEMPO_BPM[0],
    max_bpm: float = TRACKED_TEMPO_BPM[1],
    states: int = TEMPO_STATES,
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
    np.ndarray [shape=(K,), int] frames, increasing; K <= ``states``
    """
    shortest, longest = 60.0 * fps / max_bpm, 60.0 * fps / min_bpm
    return np.unique(np.maximum(np.round(np.geomspace(shortest, longest, states)), 1).astype(int))


def log_odds(activation: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of an activation clipped to ``[ACTIVATION_FLOOR, 1 - ACTIVATION_FLOOR]``;
    NaN counts as no beat.

    ``activation`` [shape=(T,), float] in [0, 1] -> [shape=(T,), float64] in about [-9.2, 9.2]."""
    p = np.clip(
        np.nan_to_num(np.asarray(activation, dtype=np.float64), nan=0.0), ACTIVATION_FLOOR, 1 - ACTIVATION_FLOOR
    )
    return np.log(p) - np.log1p(-p)


def spread(activation: np.ndarray) -> np.ndarray:
    """The largest value within a frame either side: whole-frame beat intervals then follow a
    beat that falls between two frames without a tempo change.

    ``activation`` [shape=(T,), float] -> [shape=(T,), float64]."""
    values = np.nan_to_num(np.asarray(activation, dtype=np.float64), nan=0.0)
    if values.size < 2:
        return values.copy()
    out = values.copy()
    np.maximum(out[1:], values[:-1], out=out[1:])
    np.maximum(out[:-1], values[1:], out=out[:-1])
    return out


def downbeat_log_ratio(
    activations: np.ndarray,
    *,
    calibration: tuple[float, float] = DOWNBEAT_CALIBRATION,
    confidence: float = DOWNBEAT_CONFIDENCE,
) -> np.ndarray:
    """The log-likelihood ratio of "a downbeat" against "another beat of the bar" at each frame:
    ``w * (a * logit(x) + c)`` of the downbeat's share of the beat activation ``x = D / max(B, D)``
    (each the largest value within a frame either side, x clipped to ``[DOWNBEAT_FLOOR, 1 -
    DOWNBEAT_FLOOR]``), weighed by how surely a beat is there, ``w = B / (B + confidence)`` (1
    for ``confidence`` 0): where nothing beats, the share says nothing of the bar.

    Parameters
    ----------
    activations : np.ndarray [shape=(T, >= 2), float] in [0, 1]
        Beat and downbeat probabilities (columns 0 and 1).
    calibration : (a, c)
    confidence : float >= 0

    Returns
    -------
    np.ndarray [shape=(T,), float64], natural-log units
    """
    beat, down = spread(activations[:, 0]), spread(activations[:, 1])
    share = np.clip(down / np.maximum(np.maximum(beat, down), 1e-6), DOWNBEAT_FLOOR, 1 - DOWNBEAT_FLOOR)
    a, c = calibration
    ratio = a * (np.log(share) - np.log1p(-share)) + c
    if confidence > 0:
        ratio *= beat / (beat + confidence)
    return ratio


# --------------------------------------------------------------------------- the model's tables
@dataclasses.dataclass(frozen=True)
class _Model:
    """The state space of one decoding: tempo intervals (K,), bar states (S,) and their moves."""

    intervals: np.ndarray  # (K,) frames
    meters: tuple[int, ...]
    state_meter: np.ndarray  # (S,) the meter index of each bar state
    first: np.ndarray  # (S,) bool: place 0
    previous: np.ndarray  # (S,) the state before in the same meter (the last place, for place 0)
    ends: np.ndarray  # (M,) the last place of each meter
    firsts: np.ndarray  # (M,) place 0 of each meter
    meter_cost: np.ndarray  # (M from, M to) log-probability
    band_source: np.ndarray  # (W, K) the tempo j a beat in tempo i comes from, for each offset
    band_log: np.ndarray  # (W, K) the log-probability of that tempo change, -inf outside
    meter_cost32: np.ndarray  # (M from, M to) float32


def _model(fps: float, meters: tuple[int, ...], settings: DecoderSettings) -> _Model:
    intervals = tempo_intervals(fps, min_bpm=settings.min_bpm, max_bpm=settings.max_bpm, states=settings.tempo_states)
    states = [(index, q) for index, m in enumerate(meters) for q in range(m)]
    state_meter = np.array([index for index, _ in states])
    first = np.array([q == 0 for _, q in states])
    starts = np.cumsum([0, *meters[:-1]])
    ends = starts + np.array(meters) - 1
    previous = np.array([s - 1 if q > 0 else int(ends[index]) for s, (index, q) in enumerate(states)])
    count = len(meters)
    meter_cost = np.full((count, count), np.log(settings.meter_change / max(1, count - 1)))
    np.fill_diagonal(meter_cost, np.log1p(-settings.meter_change) if count > 1 else 0.0)
    k = intervals.size
    ratio = intervals[None, :] / intervals[:, None]  # (from j, to i)
    transition = -settings.tempo_change * np.abs(ratio - 1.0)
    transition -= np.log(np.exp(transition).sum(axis=1, keepdims=True))  # each row a distribution
    offsets = np.arange(-settings.tempo_band, settings.tempo_band + 1)
    columns = np.arange(k)
    raw = columns[None, :] + offsets[:, None]  # (W, to i)
    band_source = np.clip(raw, 0, k - 1)
    band_log = np.where((raw >= 0) & (raw < k), transition[band_source, columns[None, :]], -np.inf)
    if offsets.size > 16 or len(meters) > 4:
        raise ValueError("the back-pointers hold at most 16 tempo offsets and 4 meters")
    return _Model(
        intervals,
        tuple(meters),
        state_meter,
        first,
        previous,
        ends,
        starts,
        meter_cost,
        band_source,
        band_log.astype(np.float32),
        meter_cost.astype(np.float32),
    )


def _emission(activations: np.ndarray, model: _Model, settings: DecoderSettings) -> tuple[np.ndarray, np.ndarray]:
    """A beat's log-score at each frame, [shape=(T,)], and what a downbeat adds, [shape=(T,)]
    (the downbeat's log-likelihood ratio; each meter's prior comes with :func:`_scores`)."""
    beat = log_odds(spread(activations[:, 0])) + settings.beat_bonus
    if activations.shape[1] < 2:
        return beat, np.zeros(activations.shape[0])
    ratio = downbeat_log_ratio(
        activations, calibration=settings.downbeat_calibration, confidence=settings.downbeat_confidence
    )
    return beat, ratio


def _scores(beat: np.ndarray, ratio: np.ndarray, model: _Model, settings: DecoderSettings) -> np.ndarray:
    """A beat's score in each bar state [shape=(T, S), float32] of a window's ``beat`` and
    ``ratio`` [each shape=(T,)]: the downbeat's ratio and its meter's prior at place 0."""
    if len(model.meters) == 1:  # a given meter: the downbeats still come from the activation
        prior = np.zeros(1)
    else:
        prior_of = dict(settings.meter_prior)
        prior = np.array([prior_of.get(m, 0.0) for m in model.meters])
    downbeat = np.where(model.first[None, :], ratio[:, None] + prior[model.state_meter][None, :], 0.0)
    return (beat[:, None] + downbeat).astype(np.float32)


# --------------------------------------------------------------------------- decoding
def decode_bars(
    activations: np.ndarray,
    fps: float,
    *,
    sounding: np.ndarray | None = None,
    meters: tuple[int, ...] = NOTATED_BAR_METERS,
    settings: DecoderSettings = DecoderSettings(),
) -> BarPath:
    """The most likely beats and bars of activations under the bar-pointer model (see the module).

    Parameters
    ----------
    activations : np.ndarray [shape=(T, >= 2), float] in [0, 1]
        Beat and downbeat probabilities at ``fps`` (further columns are not read); NaN counts
        as nothing.
    fps : float > 0
        Frames a second.
    sounding : np.ndarray [shape=(T,), bool] or None
        Where the music sounds: holding there costs ``settings.sounding_hold_cost`` a frame, where
        a pulse is heard nearby (:func:`pulse_nearby`); None: nowhere.
    meters : tuple of int
        The meters (beats a bar) allowed; one meter fixes it.
    settings : DecoderSettings

    Returns
    -------
    BarPath
        Empty for activations without any beat worth a hold's cost (silence, noise).
    """
    activations = np.nan_to_num(np.asarray(activations, dtype=np.float64), nan=0.0)
    if activations.ndim != 2 or activations.shape[0] == 0:
        return BarPath.empty()
    frames = activations.shape[0]
    model = _model(fps, tuple(meters), settings)
    beat, ratio = _emission(activations, model, settings)
    stay = np.full(frames, np.log(settings.hold_stay))
    if sounding is not None and settings.sounding_hold_cost > 0:
        mask = np.zeros(frames, dtype=bool)
        given = np.asarray(sounding, dtype=bool)[:frames]
        mask[: given.size] = given
        mask &= pulse_nearby(activations[:, 0], fps) & ~final_breath(activations[:, 0], fps)
        stay -= settings.sounding_hold_cost * mask
    else:
        mask = np.zeros(frames, dtype=bool)
    window, overlap = int(WINDOW_S * fps), int(OVERLAP_S * fps)
    parts, start = [], 0
    while True:
        end = min(start + window, frames) if frames > window else frames
        scores = _scores(beat[start:end], ratio[start:end], model, settings)
        path = _decode_window(scores, stay[start:end], model, settings)
        keep_from = start + overlap // 2 if start > 0 else 0
        keep_to = end - overlap // 2 if end < frames else frames
        path.frames = path.frames + start
        parts.append(path.select((path.frames >= keep_from) & (path.frames < keep_to)))
        if end >= frames:
            break
        start = end - overlap
    path = BarPath.joined(parts)
    if path.frames.size > 1:  # at a joint two windows may both place a beat within half an interval
        keep = np.concatenate([[True], np.diff(path.frames) >= 0.5 * path.interval_frames[:-1]])
        path = path.select(keep)
    return _trim_edges(_onto_peaks(path, activations[:, 0]), activations[:, 0], carried=mask)


def pulse_nearby(beat_activation: np.ndarray, fps: float) -> np.ndarray:
    """Where music with a pulse plays nearby: within ``PULSE_REACH_S`` of a ``PULSE_BLOCK_S`` block
    whose beat activation's 99th percentile reaches ``PULSE_ACTIVATION`` (the network hears beats
    there). Noise, hum or a piece without any beat never does, so holding through it costs
    nothing more than through silence, while a quiet passage between beaten ones is beaten.

    ``beat_activation`` [shape=(T,), float] in [0, 1] at ``fps`` -> [shape=(T,), bool]."""
    values = np.nan_to_num(np.asarray(beat_activation, dtype=np.float64), nan=0.0)
    block = max(1, int(round(PULSE_BLOCK_S * fps)))
    count = -(-values.size // block)
    if count == 0:
        return np.zeros(0, dtype=bool)
    padded = np.pad(values, (0, count * block - values.size))
    heard = np.percentile(padded.reshape(count, block), 99, axis=1) >= PULSE_ACTIVATION  # (blocks,)
    reach = int(np.ceil(PULSE_REACH_S / PULSE_BLOCK_S))
    near = np.convolve(heard.astype(np.int32), np.ones(2 * reach + 1, dtype=np.int32), mode="same") > 0
    return np.repeat(near, block)[: values.size]


def final_breath(beat_activation: np.ndarray, fps: float) -> np.ndarray:
    """The frames within ``BREATH_S`` after the last beat the network hears clearly (activation at
    least ``HEARD_ACTIVATION``): the final chord held and dying away, which the conductor holds.

    ``beat_activation`` [shape=(T,), float] in [0, 1] at ``fps`` -> [shape=(T,), bool]."""
    values = np.nan_to_num(np.asarray(beat_activation, dtype=np.float64), nan=0.0)
    heard = np.flatnonzero(values >= HEARD_ACTIVATION)
    held = np.zeros(values.size, dtype=bool)
    if heard.size:
        held[heard[-1] : heard[-1] + int(round(BREATH_S * fps)) + 1] = True
    return held


def _trim_edges(path: BarPath, beat_activation: np.ndarray, *, carried: np.ndarray) -> BarPath:
    """The path without the beats before its first and after its last beat that the activation
    supports (``EDGE_ACTIVATION``) and that lie where no sounding music with a pulse asks for
    beats (``carried`` [shape=(T,), bool]): the pointer running on into silence or noise. A
    sounding introduction or ending keeps its beats; beats inside the music are never taken."""
    if path.frames.size == 0:
        return path
    wanted = (beat_activation[path.frames] >= EDGE_ACTIVATION) | carried[path.frames]
    kept = np.flatnonzero(wanted)
    path = path.select(slice(kept[0], kept[-1] + 1) if kept.size else slice(0, 0))
    if path.held.size:
        path.held[-1] = True
    return path


def _onto_peaks(path: BarPath, beat_activation: np.ndarray) -> BarPath:
    """Each beat moved onto the beat activation's peak among its frame and the frames beside it
    (the decoder reads the activation spread over them); never two beats on one frame; the
    music holds (ends) after the last beat."""
    if path.frames.size == 0:
        return path
    neighbours = np.clip(path.frames[:, None] + np.arange(-1, 2)[None], 0, beat_activation.size - 1)
    path.frames = neighbours[np.arange(path.frames.size), np.argmax(beat_activation[neighbours], axis=1)]
    path = path.select(np.concatenate([[True], np.diff(path.frames) > 0]))
    path.held = path.held.copy()
    path.held[-1] = True
    return path


def _decode_window(scores: np.ndarray, stay: np.ndarray, model: _Model, settings: DecoderSettings) -> BarPath:
    """Viterbi over one window: a beat's score in each bar state ``scores`` [shape=(T, S),
    float32] and a held frame's log-probability ``stay`` [shape=(T,)].

    Values: ``beat[t, s, k]`` the best path with a beat at frame t in bar state s and tempo k;
    ``hold[t, s, k]`` the best path holding at frame t after such a beat. A beat at t in tempo i
    comes from a beat (or a hold's last frame) in some tempo j exactly ``intervals[j]`` frames
    before, one bar place earlier. Values are read at least ``min(intervals)`` frames back, so
    that many frames are computed at once; rings keep the last frames, ready to be read (a beat's
    value with the cost of going on, a hold's with the cost of ending). Values are float32,
    brought back near 0 every ``RENORMALISE_BLOCKS`` blocks (a constant taken from every value
    changes no decision).

    Back-pointers, two bytes a state and frame: ``offset[t, s, i]`` the tempo offset a beat came
    by; ``how[t, s, j]`` bits 0-1 how a beat arrives from (s, j) at t (0 after a beat, 1 after a
    hold, 2 as the first beat), bit 2 whether the hold at (t, s, j) continues the hold before, bits
    3-4 (at a downbeat state) the meter of the bar that ends there.
    """
    frames, intervals = scores.shape[0], model.intervals
    k, s = intervals.size, model.first.size
    if frames == 0:
        return BarPath.empty()
    block = int(intervals.min())
    ring = -(-(int(intervals.max()) + block + 1) // block) * block  # a whole number of blocks
    index = _ring_index(intervals, block=block, ring=ring, states=s)
    rings = (np.full((ring, s, k), -np.inf, np.float32), np.full((ring, s, k), -np.inf, np.float32))  # beat, hold
    offset = np.zeros((frames, s, k), dtype=np.uint8)
    how = np.zeros((frames, s, k), dtype=np.uint8)
    costs = _Costs(settings)
    carry = (np.full((s, k), -np.inf, np.float32), np.zeros((s, k), np.float32))  # last frame's beat, hold
    work = _BandWork(block, s, model)
    stays = stay.astype(np.float32)
    for number, first in enumerate(range(0, frames, block)):
        n = min(block, frames - first)
        rows = slice(first % ring, first % ring + n)
        arrive, kind = _arrivals(rings, index[(first % ring) // block, :n], first, intervals, costs.exit)
        beat_now, offset[first : first + n], meter_from = _beat_step(arrive, kind, model, work)
        beat_now += scores[first : first + n, :, None]
        hold_now, from_hold = _holds(beat_now, stays[first : first + n], carry, costs.enter)
        kind |= from_hold.view(np.uint8) << 2
        if meter_from is not None:
            kind[:, model.firsts] |= meter_from << 3
        how[first : first + n] = kind
        np.add(beat_now, costs.go_on, out=rings[0][rows])
        np.add(hold_now, costs.exit, out=rings[1][rows])
        carry = (beat_now[-1], hold_now[-1])
        if number % RENORMALISE_BLOCKS == RENORMALISE_BLOCKS - 1 and first > ring:
            level = np.float32(max(float(carry[0].max()), float(carry[1].max())))
            for values in (*rings, *carry):
                values -= level
    end = _best_end(rings, carry[1], intervals=intervals, frames=frames, costs=costs)
    return _trace_back(end, model, offset=offset, how=how)


@dataclasses.dataclass(frozen=True)
class _Costs:
    """The hold's log-probabilities as float32: entering after a beat, not entering, ending."""

    enter: np.float32
    go_on: np.float32
    exit: np.float32

    def __init__(self, settings: DecoderSettings) -> None:
        object.__setattr__(self, "enter", np.float32(np.log(settings.hold_enter)))
        object.__setattr__(self, "go_on", np.float32(np.log1p(-settings.hold_enter)))
        object.__setattr__(self, "exit", np.float32(np.log1p(-settings.hold_stay)))


def _ring_index(intervals: np.ndarray, *, block: int, ring: int, states: int) -> np.ndarray:
    """Where a block's arrivals are read in the raveled rings [shape=(R, S, K)], for each place of
    the block in the ring: [shape=(R // block, block, S, K), intp]. The value for frame t, state
    s, tempo j lies at frame t - intervals[j]."""
    k = intervals.size
    cells = (np.arange(states)[:, None] * k + np.arange(k)[None, :])[None, None]  # (1, 1, S, K)
    starts = np.arange(0, ring, block)[:, None, None]
    frames_back = (starts + np.arange(block)[None, :, None] - intervals[None, None, :]) % ring  # (P, block, K)
    return (frames_back[:, :, None, :] * (states * k) + cells).astype(np.intp)


class _BandWork:
    """The tempo step's work arrays for blocks of up to ``block`` frames: ``stack`` [shape=(W,
    block, S, K), float32], each tempo offset's candidates, and ``padded`` [shape=(block, S, K +
    W - 1)], the arrivals with ``TEMPO_BAND`` columns of -inf either side, so each offset reads one
    contiguous window of it (a tempo change out of the range lands on -inf)."""

    def __init__(self, block: int, states: int, model: _Model) -> None:
        width, k = model.band_source.shape[0], model.intervals.size
        self.stack = np.empty((width, block, states, k), np.float32)
        self.padded = np.full((block, states, k + width - 1), -np.inf, np.float32)
        self.band = (width - 1) // 2


def _first_best(candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest of ``candidates`` [shape=(C, ...)] along the first axis and the first index that
    reaches it (as argmax), uint8: the count of leading candidates below the best (several times
    faster than argmax or a masked copy per candidate at the decoder's sizes)."""
    best = candidates.max(axis=0)
    index = np.zeros(best.shape, dtype=np.uint8)
    below, still_below = np.empty(best.shape, dtype=bool), np.empty(best.shape, dtype=bool)
    np.greater(best, candidates[0], out=still_below)
    for c in range(1, candidates.shape[0]):
        np.add(index, still_below.view(np.uint8), out=index)
        if c == candidates.shape[0] - 1:
            break
        np.greater(best, candidates[c], out=below)
        np.logical_and(still_below, below, out=still_below)
    return best, index


def _arrivals(
    rings: tuple[np.ndarray, np.ndarray], index: np.ndarray, first: int, intervals: np.ndarray, log_exit: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """The best way to arrive at a beat at each frame of a block from each (bar state, tempo j):
    after a beat ``intervals[j]`` frames back, after a hold that ends then, or as the first beat
    (anywhere in the first interval, as from a hold at the start). ``index`` [shape=(n, S, K)]
    into the raveled rings, ``first`` the block's first frame.

    Returns (value [shape=(n, S, K), float32], kind [same shape, uint8]: 0 beat, 1 hold, 2 first)."""
    after_beat = np.take(rings[0], index)
    after_hold = np.take(rings[1], index)
    kind = np.greater(after_hold, after_beat).view(np.uint8)
    arrive = np.maximum(after_beat, after_hold)
    if first < intervals.max():
        early = (first + np.arange(index.shape[0]))[:, None] < intervals[None, :]  # (n, K)
        better = early[:, None, :] & (arrive < log_exit)
        kind[better] = 2
        arrive[better] = log_exit
    return arrive, kind


def _beat_step(
    arrive: np.ndarray, kind: np.ndarray, model: _Model, work: _BandWork
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One bar place on and the tempo change, for a block's arrivals [shape=(n, S, K)]: each bar
    state takes the place before it (a downbeat the best bar end, a meter change costing); each
    tempo i the best of its band of tempi j (in ``work``, see :class:`_BandWork`).

    Returns the values before the emission [shape=(n, S, K), float32], the tempo offset each
    came by [same shape, uint8] (the first that reaches the best, as argmax), and for each
    meter's downbeat and tempo j the meter that ended there [shape=(n, M, K), uint8] (None for
    one meter)."""
    n, k = arrive.shape[0], model.intervals.size
    shifted = work.padded[:n, :, work.band : work.band + k]
    shifted[...] = arrive[:, model.previous]
    meter_from = None
    if len(model.meters) > 1:  # a downbeat: the best bar end of any meter
        ends = arrive[:, model.ends, None, :] + model.meter_cost32[None, :, :, None]  # (n, M from, M to, K)
        best_end, meter_from = _first_best(np.moveaxis(ends, 1, 0))
        shifted[:, model.firsts] = best_end
    stack = work.stack[:, :n]
    for w in range(stack.shape[0]):
        np.add(work.padded[:n, :, w : w + k], model.band_log[w], out=stack[w])
    best, offset = _first_best(stack)
    return best, offset, meter_from


def _holds(
    beat_now: np.ndarray, stay: np.ndarray, carry: tuple[np.ndarray, np.ndarray], log_enter: np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """The hold values of a block [shape=(n, S, K)]: ``H_u = max(H_{u-1} + stay_u, B_{u-1} + log_enter)``,
    computed at once as ``P_u + max(H_{-1}, max_{v <= u} (E_v - P_v))`` with ``P`` the running sum
    of ``stay`` [shape=(n,)] (the running maximum by doubling); and whether each continues the
    hold before (for the walk back)."""
    beat_before, hold_before = carry
    enter = np.empty_like(beat_now)  # E_u = B_{u-1} + log_enter
    np.add(beat_before, log_enter, out=enter[0])
    np.add(beat_now[:-1], log_enter, out=enter[1:])
    prefix = np.cumsum(stay)[:, None, None]
    running = enter - prefix
    step = 1
    while step < running.shape[0]:
        np.maximum(running[step:], running[:-step], out=running[step:])
        step *= 2
    hold_now = np.maximum(running, hold_before[None])
    hold_now += prefix
    continued = np.empty(beat_now.shape, dtype=bool)  # H_{u-1} + stay_u >= E_u
    np.greater_equal(hold_before + stay[0], enter[0], out=continued[0])
    np.greater_equal(hold_now[:-1] + stay[1:, None, None], enter[1:], out=continued[1:])
    return hold_now, continued


def _best_end(
    rings: tuple[np.ndarray, np.ndarray], hold_last: np.ndarray, *, intervals: np.ndarray, frames: int, costs: _Costs
) -> tuple[str, int, int, int]:
    """Where the best path ends, as (kind "beat" or "hold", frame, tempo, bar state): holding at
    the last frame, or a beat (or a hold's end) within the last interval of its tempo. ``rings``
    [each shape=(R, S, K)] hold the last R frames (frame t at row t % R, as read by arrivals),
    ``hold_last`` [shape=(S, K)] the last frame's holds."""
    ring = rings[0].shape[0]
    back = np.arange(min(ring, frames))  # frames before the last
    rows = (frames - 1 - back) % ring
    usable = back[:, None, None] < intervals[None, None, :]
    beats = np.where(usable, rings[0][rows] - costs.go_on, -np.inf)
    holds = np.where(usable & (back[:, None, None] > 0), rings[1][rows], -np.inf)
    at = np.unravel_index(np.argmax(hold_last), hold_last.shape)
    best_value, best = float(hold_last[at]), ("hold", frames - 1, int(at[1]), int(at[0]))
    for name, values in (("beat", beats), ("hold", holds)):
        at = np.unravel_index(np.argmax(values), values.shape)
        if float(values[at]) > best_value:
            best_value, best = float(values[at]), (name, frames - 1 - int(at[0]), int(at[2]), int(at[1]))
    return best


def _trace_back(end: tuple[str, int, int, int], model: _Model, *, offset: np.ndarray, how: np.ndarray) -> BarPath:
    """The beats of the best path, walked back from ``end`` (see :func:`_best_end`) through the
    back-pointers [each shape=(T, S, K)] of :func:`_decode_window`."""
    intervals = model.intervals
    beats, states, tempi, held = [], [], [], []
    kind_name, t, j, s = end
    holding_next = kind_name == "hold"
    while t >= 0:
        if kind_name == "hold":  # back through the hold to the beat that started it (or the start)
            entered = np.flatnonzero((how[: t + 1, s, j] & 4) == 0)
            if entered.size == 0:
                break
            t, kind_name, holding_next = int(entered[-1]) - 1, "beat", True
            continue
        beats.append(t)
        states.append(s)
        tempi.append(int(intervals[j]))
        held.append(holding_next)
        j = int(model.band_source[offset[t, s, j], j])  # the tempo of the beat before
        s = int(model.ends[(how[t, s, j] >> 3) & 3]) if model.first[s] else s - 1
        kind = how[t, s, j] & 3
        if kind == 2:
            break
        t -= int(intervals[j])
        kind_name, holding_next = ("hold", True) if kind == 1 else ("beat", False)
    order = slice(None, None, -1)
    state = np.array(states[order], dtype=int)
    starts = np.cumsum([0, *model.meters[:-1]])
    meters = np.array(model.meters)[model.state_meter[state]] if state.size else np.zeros(0, dtype=int)
    return BarPath(
        np.array(beats[order], dtype=int),
        state - starts[model.state_meter[state]] if state.size else np.zeros(0, dtype=int),
        meters,
        np.array(tempi[order], dtype=int),
        np.array(held[order], dtype=bool),
    )


# --------------------------------------------------------------------------- the level check
def halve_alternating(
    path: BarPath, beat_activation: np.ndarray, fps: float, *, share: float = HALVING_SHARE
) -> BarPath | None:
    """The path at half its tempo when every other beat is much weaker (the weaker phase's mean
    beat activation under ``share`` times the stronger's): those are the divisions of a slow beat
    the decoder took for beats. None when it is not (or half the tempo would be slower than
    :data:`core.beats.track.TRACKED_TEMPO_BPM` allows). The bars of the kept beats are left to
    the caller (:func:`core.beats.bars.bars_from_beats`); the positions returned are all 0.

    Parameters
    ----------
    path : BarPath
    beat_activation : np.ndarray [shape=(T,), float] in [0, 1]
        At ``fps`` frames a second.
    fps : float > 0
    share : float in (0, 1)
    """
    if path.frames.size < 8:
        return None
    neighbours = np.clip(path.frames[:, None] + np.arange(-1, 2)[None], 0, beat_activation.size - 1)
    strength = np.nan_to_num(np.asarray(beat_activation, dtype=np.float64)[neighbours], nan=0.0).max(axis=1)
    even, odd = float(strength[0::2].mean()), float(strength[1::2].mean())
    bpm = 60.0 * fps / float(np.median(np.diff(path.frames)))
    if min(even, odd) >= share * max(even, odd) or bpm / 2 < TRACKED_TEMPO_BPM[0]:
        return None
    phase = 0 if even >= odd else 1
    kept = path.select(slice(phase, None, 2))
    dropped_held = np.append(path.held[phase + 1 :: 2], True)[: kept.frames.size]
    kept.held = kept.held | dropped_held  # a hold after a dropped beat follows the kept one before it
    kept.interval_frames = kept.interval_frames * 2
    kept.bar_position = np.zeros(kept.frames.size, dtype=int)
    return kept
