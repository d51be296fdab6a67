"""The learned beat tracker: spectrogram, network, decoder, conducted level -> a BeatTrack.

The stages are separate functions of their own modules, each testable alone:
:func:`core.beats.activations.spectrogram_features` (log-mel at 86 frames a second),
:meth:`core.beats.activations.BeatNetwork.activations` (beat, downbeat, division),
:func:`core.beats.decoding.decode_bars` (one Viterbi over tempo, place in the bar and meter:
beats, downbeats, holds, with holds costing where the music sounds),
:func:`core.beats.decoding.halve_alternating` (a slow beat's divisions taken for beats) and
:func:`core.beats.bars.conducted_grid` (the level a conductor beats). No torch: the weights load
with safetensors' numpy reader from ``weights/``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ..audio.decode import SAMPLE_RATE_HZ
from ..audio.mel import HOP_LENGTH, N_FFT
from ..errors import ConductorError
from ..installed_weights import BEAT_TRACKER_WEIGHTS_NAME, beat_tracker_weights_path
from .activations import FRAME_RATE_HZ, BeatNetwork, load_beat_network, spectrogram_features
from .bars import BarGrid, bar_grid, bars_from_beats, compound_evidence, conducted_grid, conducting_level
from .decoding import NOTATED_BAR_METERS, DecoderSettings, decode_bars, halve_alternating
from .track import (
    COMPOUND_DIVISIONS,
    COVERAGE_BLOCK_S,
    BeatTrack,
    block_power,
    local_tempo_bpm,
    loud_level_db,
    sounding_blocks,
)

SOUNDING_REACH_S = 0.5  # a frame sounds when a sounding block lies within this of it (notes with rests between)
# The network hears the music levelled: its loudness over LEVELLING_WINDOW_S raised towards the
# piece's loud level by up to LEVELLING_MAX_GAIN_DB, the gain fading out between
# LEVELLING_FLOOR_DB and LEVELLING_FLOOR_DB + LEVELLING_KNEE_DB below the loud level (silence and
# hiss stay as they are). Its activation fades below about -30 dB (the features are logarithmic
# only above -20 dB full scale), so a pianissimo would otherwise be beaten from noise.
LEVELLING_WINDOW_S, LEVELLING_MAX_GAIN_DB, LEVELLING_FLOOR_DB, LEVELLING_KNEE_DB = 3.0, 30.0, -55.0, 10.0
SIGNAL_CHUNK_FRAMES = 30_000  # frames (~6 minutes) of spectrogram computed at once


class LearnedTracker(NamedTuple):
    """The shipped network, its weights id and the decoder's settings fitted for it."""

    network: BeatNetwork
    weights_id: str
    settings: DecoderSettings


@functools.lru_cache(maxsize=2)
def _cached_network(path: str) -> LearnedTracker:
    network, card = load_beat_network(path)
    return LearnedTracker(network, str(card.get("id", BEAT_TRACKER_WEIGHTS_NAME)), DecoderSettings.from_card(card))


def learned_network(*, required: bool = False) -> LearnedTracker | None:
    """The shipped network, its weights id and decoder settings, loaded once; None when the weights
    are absent (unless ``required``: then a ConductorError says so)."""
    path = beat_tracker_weights_path()
    if not path.is_file():
        if required:
            raise ConductorError(
                f"The learned beat tracker's weights '{path}' are missing; restore weights/ or use the DSP tracker."
            )
        return None
    return _cached_network(str(path))


def track_beats_learned(
    samples: np.ndarray, sample_rate_hz: int, network: LearnedTracker, *, meter: int | None = None
) -> BeatTrack:
    """Beats, bars and the conducted level of a mono signal by the learned tracker.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz``, nominally in [-1, 1] (resampled to 22,050 Hz when at
        another rate).
    sample_rate_hz : int > 0
    network : LearnedTracker
        From :func:`learned_network`.
    meter : int or None
        Conducted beats per bar to use instead of the detected meter: 6 for a compound duple
        piece beats its divisions; otherwise the notated beats are grouped in ``meter``.

    Returns
    -------
    BeatTrack
        Empty beat lists where nothing has a beat (silence, noise).
    """
    model, weights_id, settings = network
    samples = np.asarray(samples, dtype=np.float32).ravel()  # NaN is cleaned a stretch at a time
    if sample_rate_hz != SAMPLE_RATE_HZ:
        import soxr

        samples = soxr.resample(samples, sample_rate_hz, SAMPLE_RATE_HZ, quality="HQ").astype(np.float32)
    activations = activations_of_signal(model, samples)
    sounding = sounding_frames(samples, activations.shape[0])
    return track_from_activations(activations, weights_id=weights_id, meter=meter, sounding=sounding, settings=settings)


def bars_of_given_beats(samples: np.ndarray, beats_s: np.ndarray, network: LearnedTracker) -> BarGrid:
    """The bars of beats the user gave (times without bar labels), heard by the network: its
    downbeat activation read at each beat by :func:`core.beats.bars.bars_from_beats`, with the
    weights' calibration and meter priors.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        The music, mono, at 22,050 Hz.
    beats_s : np.ndarray [shape=(B,), float64]
        The given beats, seconds from the music's start, increasing.
    network : LearnedTracker
        From :func:`learned_network`.
    """
    model, _weights_id, settings = network
    activations = activations_of_signal(model, np.asarray(samples, dtype=np.float32).ravel())
    return bars_from_beats(beats_s, activations=activations, fps=FRAME_RATE_HZ, settings=settings)


def sounding_frames(samples: np.ndarray, frames: int) -> np.ndarray:
    """Where the music sounds, at the activations' frames: within ``SOUNDING_REACH_S`` of a
    block that :func:`core.beats.track.sounding_blocks` says sounds.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at 22,050 Hz.
    frames : int
        Activation frames (frame i centred on sample 256 i).

    Returns
    -------
    np.ndarray [shape=(frames,), bool]
    """
    blocks = sounding_blocks(samples, SAMPLE_RATE_HZ)
    if blocks.size == 0 or not blocks.any():
        return np.zeros(frames, dtype=bool)
    reach = int(round(SOUNDING_REACH_S / COVERAGE_BLOCK_S))
    near = np.convolve(blocks.astype(np.int32), np.ones(2 * reach + 1, dtype=np.int32), mode="same") > 0
    block_samples = int(round(COVERAGE_BLOCK_S * SAMPLE_RATE_HZ))
    return near[np.minimum(np.arange(frames) * HOP_LENGTH // block_samples, near.size - 1)]


def levelling_gain_db(samples: np.ndarray, frames: int) -> np.ndarray:
    """The gain that levels the music for the network at each activation frame (see
    ``LEVELLING_*``): ``-(level - loud level)`` of the mean power over ``LEVELLING_WINDOW_S``, at
    most ``LEVELLING_MAX_GAIN_DB``, faded out over ``LEVELLING_KNEE_DB`` above
    ``LEVELLING_FLOOR_DB``.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at 22,050 Hz.
    frames : int
        Activation frames (frame i centred on sample 256 i).

    Returns
    -------
    np.ndarray [shape=(frames,), float32] dB >= 0
    """
    power = block_power(samples, SAMPLE_RATE_HZ)
    if power.size == 0:
        return np.zeros(frames, dtype=np.float32)
    width = max(1, int(round(LEVELLING_WINDOW_S / COVERAGE_BLOCK_S)))
    running = np.concatenate([[0.0], np.cumsum(power)])
    low = np.clip(np.arange(power.size) - width // 2, 0, power.size)
    high = np.clip(low + width, 0, power.size)
    level_db = 10.0 * np.log10((running[high] - running[low]) / np.maximum(high - low, 1) + 1e-12)
    below_db = level_db - loud_level_db(10.0 * np.log10(power + 1e-12))
    gain_db = np.clip(-below_db, 0.0, LEVELLING_MAX_GAIN_DB)
    gain_db *= np.clip((below_db - LEVELLING_FLOOR_DB) / LEVELLING_KNEE_DB, 0.0, 1.0)
    block_samples = int(round(COVERAGE_BLOCK_S * SAMPLE_RATE_HZ))
    centres = (np.arange(frames) * HOP_LENGTH) / block_samples - 0.5  # frame i at block centres' scale
    return np.interp(centres, np.arange(power.size), gain_db).astype(np.float32)


def activations_of_signal(model: BeatNetwork, samples: np.ndarray) -> np.ndarray:
    """The network's activations of a whole 22,050 Hz signal, levelled (:func:`levelling_gain_db`),
    a stretch at a time.

    Each stretch of ``SIGNAL_CHUNK_FRAMES`` frames is computed from the samples around it, with
    the network's receptive field and the STFT's half window either side, so the result equals
    one pass over the whole piece while the spectrogram of only one stretch is in memory (a
    3-hour piece's would take 240 MB).

    Parameters
    ----------
    model : BeatNetwork
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at 22,050 Hz, nominally in [-1, 1]; NaN is read as silence.

    Returns
    -------
    np.ndarray [shape=(1 + n // 256, 3), float32]
        Beat, downbeat and division probabilities at ``FRAME_RATE_HZ``.
    """
    total = 1 + samples.size // HOP_LENGTH
    gain_db = levelling_gain_db(samples, total)
    margin = model.receptive_frames + N_FFT // HOP_LENGTH  # frames whose features reach outside a stretch
    out = np.empty((total, 3), dtype=np.float32)
    for first in range(0, total, SIGNAL_CHUNK_FRAMES):
        last = min(first + SIGNAL_CHUNK_FRAMES, total)
        low, high = max(0, first - margin), min(total, last + margin)
        # Samples for frames low .. high - 1 (frame i is centred on sample 256 i); frames near a
        # stretch's ends see its zero padding, but lie in the margin unless at the piece's ends.
        piece = samples[low * HOP_LENGTH : (high - 1) * HOP_LENGTH + 1 if high < total else samples.size]
        features = spectrogram_features(np.nan_to_num(piece), gain_db=gain_db[low:high])[: high - low]
        out[first:last] = model.activations(features)[first - low : last - low]
    return out


def track_from_activations(
    activations: np.ndarray,
    *,
    weights_id: str = "learned",
    meter: int | None = None,
    fps: float = FRAME_RATE_HZ,
    sounding: np.ndarray | None = None,
    settings: DecoderSettings = DecoderSettings(),
) -> BeatTrack:
    """The decoder, the level check and the conducted level on given activations.

    Parameters
    ----------
    activations : np.ndarray [shape=(T, 3), float32] in [0, 1]
        Beat, downbeat and division probabilities at ``fps``.
    weights_id : str
        Recorded as the track's ``tracker``.
    meter : int or None
        As for :func:`track_beats_learned`.
    fps : float > 0
        Frames a second of ``activations``.
    sounding : np.ndarray [shape=(T,), bool] or None
        Where the music sounds (:func:`sounding_frames`); holding there costs. None: nowhere.
    settings : DecoderSettings
        The decoder's (the weights' calibration: :meth:`DecoderSettings.from_card`).

    Returns
    -------
    BeatTrack
        Times in seconds from the first frame; empty beat lists where nothing has a beat.
    """
    activations = np.asarray(activations, dtype=np.float32)
    given = int(meter or 0)
    divided = given % 3 == 0 and given > 3  # 6, 9, 12: compound bars, maybe
    meters = (given // 3,) if divided else (given,) if given else NOTATED_BAR_METERS
    path = decode_bars(activations, fps, sounding=sounding, meters=meters, settings=settings)
    halved = halve_alternating(path, activations[:, 0], fps)
    notated_s = (halved if halved is not None else path).frames / fps
    if notated_s.size < 2:
        return BeatTrack(
            notated_s,
            notated_s[:0],
            np.zeros(notated_s.size, int),
            meter or 4,
            0.0,
            notated_beats_s=notated_s,
            tracker=weights_id,
        )
    compound = compound_evidence(notated_s, activations[:, 2], fps) > 0.0
    if halved is not None or (divided and not compound):  # the bars of other beats (or of six)
        meters = (given,) if divided and not compound else meters
        bars = bars_from_beats(notated_s, activations=activations, fps=fps, meters=meters, settings=settings)
    else:
        bars = bar_grid(path.bar_position, path.meter)
    notated_tempo_bpm = local_tempo_bpm(notated_s)  # (B,)
    if divided and compound:
        level = "division"
    elif meter is not None:
        level = "beat"
    else:
        level = conducting_level(float(np.median(notated_tempo_bpm)), most_common(bars.bar_meters), compound)
    return _conducted_track(
        notated_s,
        bars,
        level=level,
        notated_tempo_bpm=notated_tempo_bpm,
        compound=compound,
        weights_id=weights_id,
        fallback_meter=meter or 4,
    )


def _conducted_track(
    notated_s: np.ndarray,
    bars: BarGrid,
    *,
    level: str,
    notated_tempo_bpm: np.ndarray,
    compound: bool,
    weights_id: str,
    fallback_meter: int,
) -> BeatTrack:
    """The BeatTrack of notated beats ``notated_s`` [shape=(B,), seconds] and their bars conducted
    at ``level`` (their local tempo ``notated_tempo_bpm`` [shape=(B,), beats a minute])."""
    grid = conducted_grid(notated_s, bars, level)
    tempo_curve = _conducted_tempo_bpm(
        grid.beats_s, level=level, notated_s=notated_s, notated_tempo_bpm=notated_tempo_bpm, bars=bars
    )
    return BeatTrack(
        beats_s=grid.beats_s,
        downbeats_s=grid.beats_s[grid.bar_position == 0],
        bar_position=grid.bar_position,
        meter=most_common(grid.bar_meters) if grid.bar_meters.size else fallback_meter,
        tempo_bpm=float(np.median(tempo_curve)),
        bar_number=grid.bar_number,
        bar_meters=grid.bar_meters,
        tempo_curve_bpm=tempo_curve,
        notated_beats_s=notated_s,
        notated_meter=most_common(bars.bar_meters),
        compound=bool(compound),
        level=level,
        tracker=weights_id,
    )


def _conducted_tempo_bpm(
    beats_s: np.ndarray, *, level: str, notated_s: np.ndarray, notated_tempo_bpm: np.ndarray, bars: BarGrid
) -> np.ndarray:
    """The conducted tempo at each conducted beat (``beats_s`` [shape=(C,)], seconds, at
    ``level``), beats a minute [shape=(C,), float64]: the decoder's tempo of the notated beat it
    belongs to (``notated_s`` seconds and ``notated_tempo_bpm``, each [shape=(B,)], their bars
    ``bars``), times the conducted beats per notated beat."""
    source = np.clip(np.searchsorted(notated_s, beats_s + 1e-9) - 1, 0, notated_s.size - 1)
    per_bar = (
        bars.bar_meters[np.clip(bars.bar_number[source], 0, None)] if bars.bar_meters.size else np.full(source.size, 4)
    )
    factor = {
        "beat": np.ones(source.size),
        "division": np.full(source.size, float(COMPOUND_DIVISIONS)),
        "bar": 1.0 / per_bar,
        "half bar": 1.0 / np.where(per_bar % 2 == 0, per_bar // 2, 1),
    }[level]
    return notated_tempo_bpm[source] * factor


def most_common(values: np.ndarray) -> int:
    """The most frequent value of ``values`` [shape=(n,), int] (the smallest of a tie; 0 for an
    empty array)."""
    values = np.asarray(values, dtype=int)
    if values.size == 0:
        return 0
    counts = np.bincount(values - values.min())
    return int(np.argmax(counts) + values.min())
