"""How the music is played at each beat, read from the signal: attack, note length, accent.

A conductor shows articulation with the shape of the beat: legato (sustained, smoothly joined
notes) with round, continuous strokes; staccato (short notes, silence between them) and
marcato (hard, accented attacks) with straight strokes that stop sharply at the ictus. Two
measurements of a fine RMS envelope tell them apart at every beat: how steeply the level rises
at the beat (the attack) and how much of the beat the sound stays near its peak (the note
length). Plain numpy; the beats come from :func:`core.beats.track_beats`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

ENVELOPE_HOP_S = 0.005  # the RMS envelope's step; its window is twice as long
ATTACK_BEFORE_S = 0.08  # the level before a beat: the lowest in this span before it ...
ATTACK_AFTER_S = 0.06   # ... and after it: the highest in this span after it
SUSTAIN_DROP_DB = 15.0  # a note has ended once its level falls this far under the beat's peak
FLOOR_DB = -60.0        # under the piece's loud level: silence, for the envelope
# Note length (share of the beat sounding) from which a beat counts as detached, and fully so.
DETACHED_SUSTAIN = (0.8, 0.45)
# Attack (dB risen around the beat) from which a sustained beat counts as marcato, and fully so.
MARCATO_ATTACK_DB = (9.0, 18.0)
ARTICULATION_BEATS = 5  # the weights are a running median over this many beats
ARTICULATIONS = ("legato", "staccato", "marcato")


@dataclasses.dataclass
class BeatSound:
    """What the signal does at and after each beat.

    Attributes
    ----------
    attack_db : np.ndarray [shape=(B,), float64] >= 0
        How far the level rises around the beat: the highest level within ``ATTACK_AFTER_S``
        after it minus the lowest within ``ATTACK_BEFORE_S`` before it, in dB.
    sustain : np.ndarray [shape=(B,), float64] in [0, 1]
        Share of the beat (up to the next one, at most one typical period) during which the
        level stays within ``SUSTAIN_DROP_DB`` of the beat's peak: 1 for a held note, about a
        third for a staccato crotchet.
    """

    attack_db: np.ndarray
    sustain: np.ndarray


def beat_sound(samples: np.ndarray, sample_rate_hz: int, beats_s: np.ndarray) -> BeatSound:
    """Attack and note length at each beat of a mono signal.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal.
    sample_rate_hz : int > 0
    beats_s : np.ndarray [shape=(B,), float64]
        Increasing beat times in seconds.

    Returns
    -------
    BeatSound
    """
    beats_s = np.asarray(beats_s, dtype=np.float64)
    if beats_s.size == 0:
        return BeatSound(np.zeros(0), np.zeros(0))
    envelope_db = rms_envelope_db(samples, sample_rate_hz)
    frame = lambda seconds: np.clip(np.round(np.asarray(seconds) / ENVELOPE_HOP_S).astype(int), 0, envelope_db.size - 1)
    before_frames = int(round(ATTACK_BEFORE_S / ENVELOPE_HOP_S))
    after_frames = int(round(ATTACK_AFTER_S / ENVELOPE_HOP_S))
    lowest_before = ndimage.minimum_filter1d(envelope_db, before_frames + 1, origin=before_frames // 2)
    highest_after = ndimage.maximum_filter1d(envelope_db, after_frames + 1, origin=-(after_frames // 2))
    at = frame(beats_s)
    attack_db = np.maximum(highest_after[at] - lowest_before[at], 0.0)

    intervals_s = np.diff(beats_s)
    period_s = float(np.median(intervals_s)) if intervals_s.size else 0.5
    # A beat's span runs to the next beat but no further than one typical period (a fermata).
    ends_s = np.minimum(np.append(beats_s[1:], beats_s[-1] + period_s), beats_s + period_s)
    sustain = np.zeros(beats_s.size)
    for k, (start, end) in enumerate(zip(at, frame(ends_s))):
        span = envelope_db[start : max(end, start + 1)]
        peak = span[: max(1, after_frames)].max()
        sustain[k] = np.mean(span >= peak - SUSTAIN_DROP_DB)
    return BeatSound(attack_db=attack_db, sustain=sustain)


def rms_envelope_db(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """RMS level every ``ENVELOPE_HOP_S`` over two hops, in dB relative to the 95th percentile.

    Returns
    -------
    np.ndarray [shape=(1 + n // hop,), float64]
        Floored at ``FLOOR_DB``.
    """
    hop = max(1, int(round(ENVELOPE_HOP_S * sample_rate_hz)))
    energy = np.concatenate([[0.0], np.cumsum(np.asarray(samples, dtype=np.float64) ** 2)])
    centres = np.arange(0, len(samples) + 1, hop)
    low, high = np.clip(centres - hop, 0, len(samples)), np.clip(centres + hop, 0, len(samples))
    rms = np.sqrt((energy[high] - energy[low]) / np.maximum(high - low, 1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-9))
    return np.maximum(db - np.percentile(db, 95), FLOOR_DB)


def articulation_weights(sound: BeatSound) -> np.ndarray:
    """How legato, staccato and marcato each beat is played.

    Short notes make a beat staccato; of the sustained rest, a hard attack makes it marcato
    and a soft one legato. A running median over ``ARTICULATION_BEATS`` beats keeps a single
    odd note from changing the stroke.

    Returns
    -------
    np.ndarray [shape=(B, 3), float64] in [0, 1]
        Weights of ``ARTICULATIONS`` (legato, staccato, marcato); each row sums to 1.
    """
    if sound.sustain.size == 0:
        return np.zeros((0, 3))
    width = min(ARTICULATION_BEATS, sound.sustain.size)
    sustain = ndimage.median_filter(sound.sustain, width, mode="nearest")
    attack_db = ndimage.median_filter(sound.attack_db, width, mode="nearest")
    detached = np.clip((DETACHED_SUSTAIN[0] - sustain) / (DETACHED_SUSTAIN[0] - DETACHED_SUSTAIN[1]), 0.0, 1.0)
    hard = np.clip((attack_db - MARCATO_ATTACK_DB[0]) / (MARCATO_ATTACK_DB[1] - MARCATO_ATTACK_DB[0]), 0.0, 1.0)
    return np.stack([(1.0 - detached) * (1.0 - hard), detached, (1.0 - detached) * hard], axis=1)
