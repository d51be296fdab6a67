"""The human irregularity of the procedural conductor, from a seeded random generator.

Per-beat draws are keyed to time (one per tenth of a second of the piece), so moving, adding or
deleting one beat changes the motion there and nowhere else; the drift of a whole part of the
body is smooth noise, about one wiggle per two seconds.
"""

from __future__ import annotations

import numpy as np

from ..audio.filters import gaussian_smooth
from ..motion.keypoints import MOTION_FPS

NOISE_CELL_S = 0.1  # the human irregularity of a beat is drawn for its tenth of a second
# Longer than any lead-in before the music (the drift is drawn for all of it): the ready point and a
# preparatory beat at 20 a minute, the slowest a beat grid may be, take 3.5 s.
LONGEST_LEAD_IN_S = 4.0


def noise_at(rng: np.random.Generator, times_s: np.ndarray, *, span_s: float, channels: int) -> np.ndarray:
    """Standard-normal draws keyed to time: one per ``NOISE_CELL_S`` cell of a piece ``span_s``
    long, read at each of ``times_s``; the draw at a time never depends on how many other
    times there are.

    Parameters
    ----------
    rng : np.random.Generator
    times_s : np.ndarray [shape=(N,), float64]
        Where to read the draws, seconds (e.g. the beats).
    span_s : float >= 0
        The piece's length, seconds.
    channels : int > 0
        Draws per time.

    Returns
    -------
    np.ndarray [shape=(N, channels), float64]
    """
    field = rng.standard_normal((int(span_s / NOISE_CELL_S) + 2, channels))
    return field[np.clip((np.asarray(times_s) / NOISE_CELL_S).astype(int), 0, field.shape[0] - 1)]


def uniform_at(rng: np.random.Generator, times_s: np.ndarray, *, span_s: float) -> np.ndarray:
    """Uniform draws in [0, 1) keyed to time, as :func:`noise_at`.

    Returns
    -------
    np.ndarray [shape=(N,), float64]
        One draw for each of ``times_s`` [shape=(N,)] (seconds).
    """
    field = rng.random(int(span_s / NOISE_CELL_S) + 2)
    return field[np.clip((np.asarray(times_s) / NOISE_CELL_S).astype(int), 0, field.size - 1)]


def slow_noise(rng: np.random.Generator, times_s: np.ndarray, *, channels: int, amplitude: float) -> np.ndarray:
    """Smooth random drift, about one wiggle per two seconds, keyed to the music's time: one
    draw a frame of the music, and a lead-in before it (up to ``LONGEST_LEAD_IN_S``) reads draws of
    a stream of its own, so how long it is changes nothing after it.

    Parameters
    ----------
    times_s : np.ndarray [shape=(T,), float64]
        Each motion frame's time (30 fps, increasing), seconds of the music.

    Returns
    -------
    np.ndarray [shape=(T, channels), float64]
        One row per motion frame, standard deviation about ``amplitude`` (in the unit of
        ``amplitude``: image units or radians).
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    lead_in = int(round(LONGEST_LEAD_IN_S * MOTION_FPS))
    frames = np.round(times_s * MOTION_FPS).astype(np.int64) + lead_in
    music = rng.standard_normal((max(int(frames.max(initial=0)) + 1 - lead_in, 1), channels))  # a draw a frame
    (lead_in_rng,) = rng.spawn(1)  # the lead-in's own stream: what ``rng`` draws next is as without one
    noise = np.concatenate([lead_in_rng.standard_normal((lead_in, channels)), music])
    count = noise.shape[0]
    smoothed = gaussian_smooth(noise, 0.4 * MOTION_FPS, axis=0)
    spread = smoothed[lead_in:].std() if count > lead_in + 1 else 1.0
    return amplitude * smoothed[np.clip(frames, 0, count - 1)] / max(spread, 1e-9)
