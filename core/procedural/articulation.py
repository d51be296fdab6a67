"""How the music is played at each beat, read from the signal: attack, note length, accent.

A conductor shows articulation with the shape of the beat: legato (sustained, smoothly joined
notes) with round, continuous strokes; staccato (short notes, silence between them) and
marcato (hard, accented attacks) with straight strokes that stop sharply at the ictus. Two
measurements of a fine RMS envelope tell them apart at every beat: how fast the level rises at
the beat (the onset's sharpness) and how far it falls before the next beat (short notes leave a
gap; joined ones hardly any). Measured on FluidSynth renders of one phrase at 120 bpm (median
over beats): legato strings, flute and organ rise 2-4 dB per 10 ms and dip 3-7 dB (legato 1.00);
detached strings dip 19 (staccato 0.87), pizzicato and staccato piano 36 (0.98-1.00); a trumpet
marcato rises 9 (marcato 0.46, staccato 0.37). Plain numpy; the beats come from
:func:`core.beats.tracking.track_beats`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..audio.filters import running_max, running_median
from ..beats.track import local_period_s

ENVELOPE_HOP_S = 0.005  # the RMS envelope's step; its window is twice as long
ONSET_RADIUS_S = 0.05  # the onset is looked for this close to the beat
# A beat's peak level: the highest this long after it (from 50 ms on, past a joined note's tail).
PEAK_WINDOW_S = (0.05, 0.15)
GAP_BEFORE_NEXT_S = 0.03  # the dip is measured up to this long before the next beat
FLOOR_DB = -60.0  # under the piece's loud level: silence, for the envelope
SILENCE_BELOW_PEAK_DB = 30.0  # a beat whose level just before is this far under its peak comes out of silence
# Dip (dB the level falls before the next beat) from which a beat counts as detached, and fully so.
DETACHED_DIP_DB = (9.0, 18.0)
# Onset rise (dB per 10 ms) from which a joined beat counts as marcato, and fully so.
MARCATO_RISE_DB = (5.0, 10.0)
TYPICAL_ONSET_RISE_DB = 1.0  # a rise this steep in one 5-ms hop starts a note, for a typical note's level
TYPICAL_MIN_ONSETS = 8  # fewer onsets than this: the level of a typical note comes from the sounding level
SOUNDING_ABOVE_FLOOR_DB = 15.0  # this far above the envelope's floor, music sounds
ARTICULATION_BEATS = 5  # the weights are a running median over this many beats


@dataclasses.dataclass
class BeatSound:
    """What the signal does at and after each beat.

    Attributes
    ----------
    rise_db : np.ndarray [shape=(B,), float64] >= 0
        The onset's sharpness: the steepest rise of the level within ``ONSET_RADIUS_S`` of
        the beat, dB per 10 ms; 0 for a note out of silence (``SILENCE_BELOW_PEAK_DB`` under
        its peak just before it), whose rise in dB says nothing about its attack.
    dip_db : np.ndarray [shape=(B,), float64] >= 0
        How far the level falls after the beat's peak before the next beat (or one typical
        period, in a fermata): short notes leave a deep dip.
    peak_db : np.ndarray [shape=(B,), float64] <= ~0
        The beat's peak level (over ``PEAK_WINDOW_S`` after it), dB relative to the piece's
        loud level: its accent.
    typical_peak_db : float
        The peak level of a typical note of the piece, on the same scale, from its onsets
        (:func:`typical_peak_db`): the signal's, not the beats', so a beat the user moves changes
        no other beat's size.
    """

    rise_db: np.ndarray
    dip_db: np.ndarray
    peak_db: np.ndarray
    typical_peak_db: float = 0.0


def beat_sound(samples: np.ndarray, sample_rate_hz: int, beats_s: np.ndarray) -> BeatSound:
    """Onset sharpness, note length and accent at each beat of a mono signal.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz``.
    sample_rate_hz : int > 0
        Rate of ``samples``, Hz.
    beats_s : np.ndarray [shape=(B,), float64]
        Increasing beat times in seconds.

    Returns
    -------
    BeatSound
    """
    beats_s = np.asarray(beats_s, dtype=np.float64)
    envelope_db = rms_envelope_db(samples, sample_rate_hz)
    typical_db = typical_peak_db(envelope_db, sample_rate_hz)
    if beats_s.size == 0:
        return BeatSound(np.zeros(0), np.zeros(0), np.zeros(0), typical_db)
    hop_s = envelope_hop(sample_rate_hz) / sample_rate_hz  # the envelope's true step (110 samples: 4.99 ms)
    last = envelope_db.size - 1

    def frame(seconds: np.ndarray) -> np.ndarray:
        return np.clip(np.round(np.asarray(seconds) / hop_s).astype(int), 0, last)

    radius = int(round(ONSET_RADIUS_S / hop_s))
    peak_from, peak_to = (int(round(s / hop_s)) for s in PEAK_WINDOW_S)
    steepest = running_max(np.diff(envelope_db, prepend=envelope_db[0]), 2 * radius + 1)
    at = frame(beats_s)
    rise_db = np.maximum(steepest[at], 0.0) * (0.01 / hop_s)
    peak_db = np.array([envelope_db[min(start + peak_from, last) : start + peak_to + 1].max() for start in at])
    before_db = envelope_db[np.clip(at - radius, 0, last)]
    rise_db = np.where(before_db < peak_db - SILENCE_BELOW_PEAK_DB, 0.0, rise_db)

    # A beat's span runs to the next beat but no further than one local period (a fermata); the
    # local period, not the piece's, so an edited beat changes no note far from it.
    period_s = local_period_s(beats_s) if beats_s.size > 1 else np.full(beats_s.size, 0.5)
    ends = frame(np.minimum(np.append(beats_s[1:], beats_s[-1] + period_s[-1]), beats_s + period_s) - GAP_BEFORE_NEXT_S)
    dip_db = np.array(
        [
            peak - envelope_db[start + peak_to : end].min() if end > start + peak_to else 0.0
            for start, end, peak in zip(at, ends, peak_db)
        ]
    )
    return BeatSound(rise_db=rise_db, dip_db=np.maximum(dip_db, 0.0), peak_db=peak_db, typical_peak_db=typical_db)


def typical_peak_db(envelope_db: np.ndarray, sample_rate_hz: int) -> float:
    """The peak level of a typical note: the median, over the note onsets the signal shows (the
    steepest rises, at least ``TYPICAL_ONSET_RISE_DB`` in a hop, one within ``ONSET_RADIUS_S``),
    of the level's peak over ``PEAK_WINDOW_S`` after each, as :attr:`BeatSound.peak_db` takes it
    at a beat. From the signal alone, not the beats, so an edited beat changes no other beat's
    size. Music without clear onsets (slow swells) takes the median sounding level instead.

    Parameters
    ----------
    envelope_db : np.ndarray [shape=(F,), float64]
        :func:`rms_envelope_db` of the piece, one value every :func:`envelope_hop` samples.
    """
    if envelope_db.size < 2:
        return 0.0
    hop_s = envelope_hop(sample_rate_hz) / sample_rate_hz
    radius = int(round(ONSET_RADIUS_S / hop_s))
    peak_from, peak_to = (int(round(s / hop_s)) for s in PEAK_WINDOW_S)
    rise = np.diff(envelope_db, prepend=envelope_db[0])
    onsets = np.flatnonzero((rise >= running_max(rise, 2 * radius + 1)) & (rise > TYPICAL_ONSET_RISE_DB))
    onsets = onsets[onsets + peak_to + 1 < envelope_db.size]
    sounding_floor = FLOOR_DB + SOUNDING_ABOVE_FLOOR_DB
    if onsets.size >= TYPICAL_MIN_ONSETS:
        width = peak_to - peak_from + 1
        centre = peak_from + width // 2  # a centred running maximum, read at the window's middle
        peaks = running_max(envelope_db, 2 * (width // 2) + 1)[onsets + centre]
        peaks = peaks[peaks > sounding_floor]
        if peaks.size >= TYPICAL_MIN_ONSETS:
            return float(np.median(peaks))
    sounding = envelope_db[envelope_db > sounding_floor]
    return float(np.median(sounding)) if sounding.size else 0.0


def envelope_hop(sample_rate_hz: int) -> int:
    """The envelope's step in samples: ``ENVELOPE_HOP_S`` rounded to whole samples."""
    return max(1, int(round(ENVELOPE_HOP_S * sample_rate_hz)))


def rms_envelope_db(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """RMS level every :func:`envelope_hop` samples over two hops, in dB relative to the 95th
    percentile.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (Hz).
    sample_rate_hz : int > 0

    Returns
    -------
    np.ndarray [shape=(1 + n // hop,), float64]
        Frame ``i`` is centred on sample ``i * hop``; floored at ``FLOOR_DB``.
    """
    hop = envelope_hop(sample_rate_hz)
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    whole = samples.size // hop
    # Energy of each hop, a block at a time (a 2-hour piece's squares would take gigabytes at once).
    hop_energy = np.zeros(whole + 1)
    block = 4096 * hop
    for start in range(0, whole * hop, block):
        chunk = samples[start : min(start + block, whole * hop)].reshape(-1, hop)
        hop_energy[start // hop : start // hop + chunk.shape[0]] = np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64)
    hop_energy[whole] = float(np.dot(samples[whole * hop :], samples[whole * hop :]))
    # Frame i spans the hop before sample i * hop and the hop after it.
    before = np.concatenate([[0.0], hop_energy[:-1]])
    counts = np.full(whole + 1, 2.0 * hop)
    counts[0] = hop
    counts[-1] = hop + samples.size - whole * hop
    rms = np.sqrt((before + hop_energy) / np.maximum(counts, 1.0))
    db = 20.0 * np.log10(np.maximum(rms, 1e-9))
    return np.maximum(db - np.percentile(db, 95), FLOOR_DB)


def articulation_weights(sound: BeatSound) -> np.ndarray:
    """How legato, staccato and marcato each beat is played, from :func:`beat_sound`'s measures.

    Short notes (a deep dip before the next beat) make a beat staccato; of the joined rest, a
    sharp onset makes it marcato and a soft one legato. A running median over
    ``ARTICULATION_BEATS`` beats keeps a single odd note from changing the stroke.

    Returns
    -------
    np.ndarray [shape=(B, 3), float64] in [0, 1]
        Weights of :data:`core.procedural.style.ARTICULATIONS` (legato, staccato, marcato); each row sums to 1.
    """
    if sound.dip_db.size == 0:
        return np.zeros((0, 3))
    width = min(ARTICULATION_BEATS, sound.dip_db.size)
    dip_db = running_median(sound.dip_db, width)
    rise_db = running_median(sound.rise_db, width)
    detached = np.clip((dip_db - DETACHED_DIP_DB[0]) / (DETACHED_DIP_DB[1] - DETACHED_DIP_DB[0]), 0.0, 1.0)
    hard = np.clip((rise_db - MARCATO_RISE_DB[0]) / (MARCATO_RISE_DB[1] - MARCATO_RISE_DB[0]), 0.0, 1.0)
    return np.stack([(1.0 - detached) * (1.0 - hard), detached, (1.0 - detached) * hard], axis=1)
