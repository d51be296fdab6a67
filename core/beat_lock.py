"""Beat lock: a generated motion time-warped so that each stroke's ictus falls on a beat.

The neural generators follow the music only loosely (the official M2S-GAN's ictus lands on the
beat hardly more often than on another piece's), and often stroke once for two beats (a 4/4 in
two). Given a beat grid, :func:`lock_to_beats` picks the level of the grid whose beats come as
often as the motion's strokes (every beat, the half bar or the bar), finds
the ictus of every stroke (the baton wrist's lowest point, :func:`ictus_times`), pairs each
with its nearest beat (within half a beat; a stroke or a beat may stay unpaired), and plays the
motion back through a smooth, monotone time map that carries each paired ictus onto its beat. Strokes keep their shape; only their
timing changes, at most by the factor ``MAX_STRETCH`` anywhere, so the hand never jumps.
``strength`` blends from the motion as generated (0) to fully locked (1).
"""

from __future__ import annotations

import numpy as np

from .beats import BeatTrack
from .errors import ConductorError
from .mel import MOTION_FPS
from .motion import sample_keypoints
from .signal_filters import gaussian_smooth, local_maxima, running_max
from .skeleton import JOINT_INDEX

BATON_WRIST = JOINT_INDEX["right_wrist"]  # the hand that beats time
BEAT_SIGMA_S = 0.1  # tolerance of the beat alignment score, seconds
STRETCHES = (2.5, 2.0, 1.6, 1.3)  # bounds tried for the time map's slope (within [1 / s, s])
MAX_SPEED_CHANGE = 0.2  # a lock that changes the baton hand's mean speed more is not kept
PARTIAL_SHARES = (1.0, 0.7, 0.4)  # of the strength, tried in turn while the pace changes too much
GIVE_WAY_S = 0.3  # where the lock would move the hand too fast, it gives way over this span
GIVE_WAY_ROUNDS = 40
MAX_SHIFT_BEATS = 0.5  # an ictus is paired with a beat at most half a beat away
LEVELS = ("beat", "bar", "half bar")  # the beats a stroke may go to (the bar first: an odd bar's half is its bar)


def stroke_bottoms(height: np.ndarray, *, min_gap: int, min_prominence: float) -> np.ndarray:
    """Indices of the bottoms of strokes in a height curve (larger = lower in the image): the
    local maxima at least ``min_gap`` samples apart (the higher kept) that stand
    ``min_prominence`` above the lows on either side (``scipy.signal.find_peaks`` with
    ``distance`` and ``prominence``)."""
    height = np.asarray(height, dtype=np.float64)
    peaks = local_maxima(height)
    keep = np.ones(peaks.size, dtype=bool)
    for k in np.argsort(height[peaks], kind="stable")[::-1]:  # the highest first
        if not keep[k]:
            continue
        near = (np.abs(peaks - peaks[k]) < min_gap) & keep
        near[k] = False
        keep[near] = False
    peaks = peaks[keep]
    prominent = []
    for peak in peaks:
        left = height[:peak][::-1]
        higher_left = np.flatnonzero(left > height[peak])
        left_low = left[: higher_left[0] if higher_left.size else left.size].min(initial=height[peak])
        right = height[peak + 1 :]
        higher_right = np.flatnonzero(right > height[peak])
        right_low = right[: higher_right[0] if higher_right.size else right.size].min(initial=height[peak])
        if height[peak] - max(left_low, right_low) >= min_prominence:
            prominent.append(peak)
    return np.asarray(prominent, dtype=int)


def ictus_times(
    keypoints: np.ndarray,
    *,
    fps: float = MOTION_FPS,
    wrist: int = BATON_WRIST,
    smooth_s: float = 0.05,
    min_gap_s: float = 0.25,
    min_drop: float = 0.1,
) -> np.ndarray:
    """Ictus times: the moments the beating hand reaches the bottom of a stroke and turns up.

    A conductor shows each beat at the ictus, the lowest point of the stroke, whatever the speed
    there. Here it is a local maximum of the wrist's image y (y grows downwards), smoothed by a
    Gaussian of ``smooth_s``, that stands at least ``min_drop`` of the 5th-95th percentile range
    of y above the lows on either side; of two closer than ``min_gap_s``, the lower one.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2)]
        Image coordinates (y down) at ``fps`` frames per second.

    Returns
    -------
    np.ndarray [shape=(K,), float64]
        Ictus times in seconds from the first frame.
    """
    height = gaussian_smooth(np.asarray(keypoints, dtype=np.float64)[:, wrist, 1], smooth_s * fps)
    low, high = np.percentile(height, [5, 95])
    bottoms = stroke_bottoms(
        height, min_gap=max(1, int(round(min_gap_s * fps))), min_prominence=max(min_drop * (high - low), 1e-6)
    )
    return bottoms / fps


def beat_alignment(reference_s: np.ndarray, other_s: np.ndarray, *, sigma_s: float = BEAT_SIGMA_S) -> float:
    """Beat alignment score: mean over ``reference_s`` beats of exp(-d^2 / (2 sigma^2)), d the
    distance in seconds to the nearest beat of ``other_s``. In [0, 1]; 1 = every reference beat
    has a beat of the other kind at the same time. NaN when either list is empty."""
    reference_s, other_s = np.asarray(reference_s, float), np.asarray(other_s, float)
    if reference_s.size == 0 or other_s.size == 0:
        return float("nan")
    other_s = np.sort(other_s)
    after = np.clip(np.searchsorted(other_s, reference_s), 1, max(other_s.size - 1, 1))
    nearest = np.minimum(
        np.abs(reference_s - other_s[after - 1]), np.abs(other_s[np.minimum(after, other_s.size - 1)] - reference_s)
    )
    return float(np.mean(np.exp(-(nearest**2) / (2.0 * sigma_s**2))))


def pair_strokes_with_beats(ictus_s: np.ndarray, beats_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ictus indices, beat indices) paired in order: each ictus with its nearest beat when that
    is at most ``MAX_SHIFT_BEATS`` of a beat away, each beat with at most one ictus (the nearest)."""
    strokes, beats = np.asarray(ictus_s, dtype=np.float64), np.asarray(beats_s, dtype=np.float64)
    if strokes.size == 0 or beats.size < 2:
        return np.zeros(0, int), np.zeros(0, int)
    after = np.clip(np.searchsorted(beats, strokes), 1, beats.size - 1)
    nearest = np.where(np.abs(strokes - beats[after - 1]) <= np.abs(beats[after] - strokes), after - 1, after)
    distance = np.abs(strokes - beats[nearest]) / np.gradient(beats)[nearest]  # in beat periods
    chosen: dict[int, int] = {}
    for stroke in np.flatnonzero(distance <= MAX_SHIFT_BEATS):
        beat = int(nearest[stroke])
        if beat not in chosen or distance[stroke] < distance[chosen[beat]]:
            chosen[beat] = int(stroke)
    beat_indices = np.array(sorted(chosen), dtype=int)
    return np.array([chosen[b] for b in beat_indices], dtype=int), beat_indices


def longest_moderate_chain(beats_s: np.ndarray, ictus_s: np.ndarray, stretch: float, lookback: int = 8) -> list[int]:
    """The most pairs (in order) whose slopes from one kept pair to the next stay within
    [1 / stretch, stretch]: a longest path over pairs at most ``lookback`` apart."""
    count = beats_s.size
    if count == 0:
        return []
    length = np.ones(count, dtype=int)
    previous = np.full(count, -1, dtype=int)
    for k in range(1, count):
        earlier = np.arange(max(0, k - lookback), k)
        slope = (ictus_s[k] - ictus_s[earlier]) / (beats_s[k] - beats_s[earlier])
        fits = earlier[(slope >= 1.0 / stretch) & (slope <= stretch)]
        if fits.size:
            best = fits[np.argmax(length[fits])]
            length[k], previous[k] = length[best] + 1, best
    chain = [int(np.argmax(length))]
    while previous[chain[-1]] >= 0:
        chain.append(int(previous[chain[-1]]))
    return chain[::-1]


def time_map(beats_s: np.ndarray, ictus_s: np.ndarray, times_s: np.ndarray, *, stretch: float) -> np.ndarray:
    """Source times [shape=(N,)] to play at output ``times_s``: each paired beat plays its
    ictus, smooth and monotone in between (Fritsch-Carlson cubic), the ends shifted with their
    nearest pair. Pairs that would stretch time beyond ``stretch`` either way are dropped first."""
    beats_s, ictus_s = np.asarray(beats_s, dtype=np.float64), np.asarray(ictus_s, dtype=np.float64)
    keep = longest_moderate_chain(beats_s, ictus_s, stretch)
    x, y = beats_s[keep], ictus_s[keep]
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


def beats_at_level(track: BeatTrack, level: str) -> np.ndarray:
    """The beats of ``track`` a conductor shows at ``level``: "beat" (all), "half bar" (the
    downbeat and the middle of even bars, the downbeat of odd ones) or "bar" (downbeats)."""
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    position = np.asarray(track.bar_position)
    if level == "beat" or beats_s.size == 0:
        return beats_s
    meters = np.asarray(beat_meters_of(track))
    if level == "half bar":
        keep = (position == 0) | ((meters % 2 == 0) & (position == meters // 2))
    else:
        keep = position == 0
    return beats_s[keep]


def beat_meters_of(track: BeatTrack) -> np.ndarray:
    """The meter of each beat's bar (a pickup's: the first bar's)."""
    bars = np.asarray(track.bar_number)
    meters = np.asarray(track.bar_meters)
    fallback = int(meters[0]) if meters.size else int(track.meter)
    return np.where((bars >= 0) & (bars < meters.size), meters[np.clip(bars, 0, max(meters.size - 1, 0))], fallback)


def lock_to_beats(
    keypoints: np.ndarray, track: BeatTrack, *, fps: float, strength: float = 1.0, level: str | None = None
) -> tuple[np.ndarray, str]:
    """The motion with each stroke's ictus moved onto a beat of the grid.

    Of the levels (every beat, the half bar, the bar; or ``level`` alone) and the stretch
    bounds ``STRETCHES``, the lock keeps the one whose motion shows the beats best (its worse
    direction of :func:`beat_alignment` the highest); the networks often beat a 4/4 in two and
    slow music in one. Where the warp would move the hand faster than the motion ever moves,
    the lock gives way there (:func:`warp`), so no frame-to-frame move grows.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float32]
        The generated motion at ``fps`` frames per second.
    track : BeatTrack
        The beat grid.
    strength : float in [0, 1]
        0 leaves the motion as it is, 1 moves every paired ictus onto its beat.
    level : "beat", "half bar", "bar" or None
        Which beats the strokes go to; None: the level chosen as above.

    Returns
    -------
    keypoints : np.ndarray [shape=(T, 13, 2), float32]
    level : str
        The level locked to.
    """
    if not 0.0 <= strength <= 1.0:
        raise ConductorError(f"Beat lock must be between 0 and 1, got {strength!r}.")
    keypoints = np.asarray(keypoints, dtype=np.float32)
    ictus = ictus_times(keypoints, fps=fps)
    if strength == 0.0 or ictus.size == 0 or np.asarray(track.beats_s).size < 2 or keypoints.shape[0] < 2:
        return keypoints.copy(), level or "beat"
    best: tuple[float, np.ndarray, str] = (-1.0, keypoints.copy(), level or "beat")
    speed = _baton_speed(keypoints)
    for name in (level,) if level else LEVELS:
        beats_s = beats_at_level(track, name)
        strokes, beats = pair_strokes_with_beats(ictus, beats_s)
        if strokes.size == 0:
            continue
        for stretch in STRETCHES:
            source_s = time_map(beats_s[beats], ictus[strokes], np.arange(keypoints.shape[0]) / fps, stretch=stretch)
            for share in PARTIAL_SHARES:  # a lock that changes the pace too much is tried weaker
                locked = warp(keypoints, source_s, fps=fps, strength=strength * share)
                if abs(_baton_speed(locked) / max(speed, 1e-12) - 1.0) <= MAX_SPEED_CHANGE:
                    break
            else:
                continue
            found = ictus_times(locked, fps=fps)
            score = min(beat_alignment(beats_s, found), beat_alignment(found, beats_s)) if found.size else 0.0
            if score > best[0]:
                best = (score, locked, name)
    return best[1], best[2]


def _baton_speed(keypoints: np.ndarray) -> float:
    """Mean frame-to-frame distance of the baton wrist, image units."""
    return float(np.linalg.norm(np.diff(keypoints[:, BATON_WRIST], axis=0), axis=1).mean())


def warp(keypoints: np.ndarray, source_s: np.ndarray, *, fps: float, strength: float) -> np.ndarray:
    """``keypoints`` played back at ``source_s`` (one source time per frame), blended by
    ``strength`` with playing them as they are; where that would move a keypoint further in a
    frame than the motion ever does, the blend gives way locally (and smoothly) until none does."""
    times_s = np.arange(keypoints.shape[0]) / fps
    largest_move = float(np.abs(np.diff(keypoints, axis=0)).max())
    share = np.full(times_s.size, float(strength))
    width = max(1, int(round(GIVE_WAY_S * fps)))
    for _ in range(GIVE_WAY_ROUNDS):
        played = np.maximum.accumulate(np.clip(times_s + share * (source_s - times_s), 0.0, times_s[-1]))
        locked = sample_keypoints(keypoints, fps, played)
        moves = np.abs(np.diff(locked, axis=0)).max(axis=(1, 2))
        too_fast = moves > largest_move + 1e-6
        if not too_fast.any():
            return locked
        near = running_max(np.concatenate([too_fast, [False]]) | np.concatenate([[False], too_fast]), 2 * width + 1)
        share = gaussian_smooth(share * np.where(near, 0.7, 1.0), width / 2.0)
    return keypoints.copy()
