"""How loud the music is at each motion frame, and where it stops: the level curve the beat sizes,
the holds' cut-offs and the left hand's dynamics are read from."""

from __future__ import annotations

import numpy as np

from ..audio.filters import running_mean, running_min
from ..motion.keypoints import MOTION_FPS

LOUDNESS_SMEAR_S = 0.17  # how far :func:`loudness_30fps` smears a level change forward and back
END_DB = -30.0  # below the piece's loud level: the last note (or a fermata) has stopped
END_SILENCE_S = 0.3  # ... for at least this long
ENERGY_CHUNK_SAMPLES = 1 << 22  # float64 squares of ~3 minutes at a time, not of the whole piece


def loudness_30fps(samples: np.ndarray, sample_rate_hz: int, frame_count: int) -> np.ndarray:
    """RMS level in dB relative to the piece's loud level, one value per motion frame.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz``.
    sample_rate_hz : int > 0
    frame_count : int >= 0
        Motion frames (30 fps) to measure, from the start.

    Returns
    -------
    np.ndarray [shape=(frame_count,), float64] <= ~0
        Level per frame at 30 fps, dB: 0 dB is the 95th percentile of the frame levels; digital
        silence reads -120 dB.
    """
    hop = sample_rate_hz / MOTION_FPS
    centres = (np.arange(frame_count) * hop).astype(int)
    half = int(hop)  # two motion frames wide
    low = np.clip(centres - half, 0, samples.shape[0])
    high = np.clip(centres + half, 0, samples.shape[0])
    energy = cumulative_energy_at(samples, np.concatenate([high, low]))  # one pass over the music
    power = (energy[: high.size] - energy[high.size :]) / np.maximum(high - low, 1)
    # Averaged as power over 0.3 s: in dB, the silence between staccato notes would pull them down.
    db = 10.0 * np.log10(np.maximum(running_mean(power, 9), 1e-12))
    reference = np.percentile(db, 95)
    if reference < -100.0:  # digital silence throughout
        return np.full(frame_count, -120.0)
    return db - reference


def cumulative_energy_at(samples: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``sum(samples[:i] ** 2)`` in float64 for each ``i`` of ``indices`` (0 <= i <= n), a chunk
    at a time: a 2-hour piece's running sum would take 1.3 GB, three times over."""
    out = np.zeros(indices.shape, dtype=np.float64)
    carry = 0.0
    for start in range(0, samples.shape[0], ENERGY_CHUNK_SAMPLES):
        chunk = samples[start : start + ENERGY_CHUNK_SAMPLES].astype(np.float64)
        running = np.cumsum(chunk * chunk) + carry
        inside = (indices > start) & (indices <= start + chunk.size)
        out[inside] = running[indices[inside] - start - 1]
        out[indices > start + chunk.size] = running[-1]
        carry = float(running[-1])
    return out


def mean_over(
    values: np.ndarray, times_s: np.ndarray, *, starts_s: np.ndarray, ends_s: np.ndarray, empty: float
) -> np.ndarray:
    """Mean of per-frame values over the frames in each span [start, end).

    Parameters
    ----------
    values : np.ndarray [shape=(T,), float64]
        One value per motion frame (30 fps), e.g. :func:`loudness_30fps`'s dB.
    times_s : np.ndarray [shape=(T,), float64]
        Each frame's time, seconds, increasing.
    starts_s, ends_s : np.ndarray [shape=(K,), float64]
        The spans, seconds.
    empty : float
        The mean of a span that holds no frame.

    Returns
    -------
    np.ndarray [shape=(K,), float64]
        In the unit of ``values``.
    """
    total = np.concatenate([[0.0], np.cumsum(values)])
    first = np.searchsorted(times_s, starts_s, side="left")
    last = np.maximum(np.searchsorted(times_s, ends_s, side="left"), first)
    count = last - first
    return np.where(count > 0, (total[last] - total[first]) / np.maximum(count, 1), empty)


def sustained_until(loudness_db: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """The times at which the music stops: the start of every run of at least ``END_SILENCE_S``
    under ``END_DB`` that follows sound.

    Parameters
    ----------
    loudness_db : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps), dB (:func:`loudness_30fps`).
    times_s : np.ndarray [shape=(T,), float64]
        Each frame's time, seconds.

    Returns
    -------
    np.ndarray [shape=(K,), float64]
        Seconds, increasing.
    """
    quiet = loudness_db < END_DB
    run = max(1, int(round(END_SILENCE_S * MOTION_FPS)))
    # A frame starts a stop when it is quiet, the frame before was not, and the next ``run`` are quiet.
    stays_quiet = running_min(quiet, run, origin=-(run // 2))
    starts = stays_quiet & np.concatenate([[False], ~quiet[:-1]])
    return times_s[starts] - LOUDNESS_SMEAR_S  # the curve drops below END_DB this late
