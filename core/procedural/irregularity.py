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


def slow_noise(rng: np.random.Generator, frame_count: int, *, channels: int, amplitude: float) -> np.ndarray:
    """Smooth random drift, about one wiggle per two seconds.

    Returns
    -------
    np.ndarray [shape=(frame_count, channels), float64]
        One row per motion frame (30 fps), standard deviation about ``amplitude`` (in the unit
        of ``amplitude``: image units or radians).
    """
    noise = rng.standard_normal((frame_count, channels))
    smoothed = gaussian_smooth(noise, 0.4 * MOTION_FPS, axis=0)
    spread = smoothed.std() if frame_count > 1 else 1.0
    return amplitude * smoothed / max(spread, 1e-9)
