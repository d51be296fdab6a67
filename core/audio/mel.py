"""The official VirtualConductor mel feature: 128 bands at 90 frames per second in [0, 1].

Definition (see ``docs/parity.md``): power mel spectrogram of the 22,050 Hz mono
signal (n_fft 2048, hop 256, periodic Hann, centred with zero padding, Slaney mel filters),
converted to dB relative to the piece's maximum and floored 80 dB below it, mapped by
``|db + 80| / 80``, the frequency axis flipped (row 0 = highest band), then resized along time
with half-pixel bilinear interpolation to ``int(duration_s * 90)`` frames.

The STFT runs in NumPy (no torch, so the procedural conductor's path never imports it), in blocks
of frames on a few threads, so a two-hour piece needs no more than a few hundred MB.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os

import numpy as np

from .decode import SAMPLE_RATE_HZ
from ..errors import ConductorError

N_FFT = 2048
HOP_LENGTH = 256
N_MELS = 128
MEL_FPS = 90
TOP_DB = 80.0
AMIN = 1e-10
RESIZE_BLOCK_COLUMNS = 16_384  # output columns of resize_time_bilinear computed at once
STFT_BLOCK_FRAMES = 1024  # ~8 MB of spectrum per block: stays in cache (8192 was 2.7x slower)


def frame_count_90hz(sample_count: int, sample_rate_hz: int = SAMPLE_RATE_HZ) -> int:
    """Mel frames of a signal: ``int(sample_count / sample_rate_hz * 90)``, as the official code."""
    return int(sample_count / sample_rate_hz * MEL_FPS)


def frame_count_30fps(mel_frames_90hz: int) -> int:
    """Motion frames the networks give for ``mel_frames_90hz`` mel frames: ceil(T90 / 3)."""
    return (int(mel_frames_90hz) - 1) // 3 + 1


def mel_filterbank(sample_rate_hz: int = SAMPLE_RATE_HZ, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-style mel filters (Slaney mel scale, area-normalised triangles), 0 Hz to Nyquist.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2), float32]
    """
    return _mel_filterbank_cached(int(sample_rate_hz), int(n_fft), int(n_mels)).copy()


@functools.lru_cache(maxsize=4)
def _mel_filterbank_cached(sample_rate_hz: int, n_fft: int, n_mels: int) -> np.ndarray:
    fft_hz = np.linspace(0.0, sample_rate_hz / 2.0, 1 + n_fft // 2)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate_hz / 2.0), n_mels + 2))
    widths_hz = np.diff(edges_hz)
    distance = edges_hz[:, None] - fft_hz[None, :]
    rising = -distance[:-2] / widths_hz[:-1, None]
    falling = distance[2:] / widths_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz... 15 mels per kHz), log above.
_F_SP_HZ = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP_HZ
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(frequency_hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel value of frequencies.

    Parameters
    ----------
    frequency_hz : np.ndarray [shape=(...)] or float, Hz

    Returns
    -------
    np.ndarray [shape=(...), float64] mels
    """
    frequency_hz = np.asarray(frequency_hz, dtype=np.float64)
    linear = frequency_hz / _F_SP_HZ
    logarithmic = _MIN_LOG_MEL + np.log(np.maximum(frequency_hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(frequency_hz >= _MIN_LOG_HZ, logarithmic, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequency of Slaney mel values.

    Parameters
    ----------
    mel : np.ndarray [shape=(...)] or float, mels

    Returns
    -------
    np.ndarray [shape=(...), float64] Hz
    """
    mel = np.asarray(mel, dtype=np.float64)
    linear = _F_SP_HZ * mel
    logarithmic = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, logarithmic, linear)


def mel_power(samples: np.ndarray, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Power mel spectrogram at 1 frame per ``HOP_LENGTH`` samples (~86 Hz at 22,050 Hz).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz``, nominally in [-1, 1].
    sample_rate_hz : int
        The signal's rate, Hz.

    Returns
    -------
    np.ndarray [shape=(128, 1 + n // 256), float32]
        Mel-band power (squared magnitude), frequency ascending, one column per 256 samples.
    """
    signal = np.ascontiguousarray(samples, dtype=np.float32)
    frame_count = 1 + signal.shape[0] // HOP_LENGTH
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    filters_t = np.ascontiguousarray(_mel_filterbank_cached(int(sample_rate_hz), N_FFT, N_MELS).T)  # (1025, 128)
    power_mel = np.empty((frame_count, N_MELS), dtype=np.float32)
    rfft = _float32_rfft()

    def block(first: int) -> None:
        last = min(first + STFT_BLOCK_FRAMES, frame_count)
        # This block's samples of the signal zero-padded by N_FFT // 2 at both ends (a padded copy
        # of a whole 2-hour piece would take 635 MB).
        start = first * HOP_LENGTH - N_FFT // 2
        stop = (last - 1) * HOP_LENGTH + N_FFT // 2
        piece = np.zeros(stop - start, dtype=np.float32)
        piece[max(0, -start) : min(stop, signal.shape[0]) - start] = signal[max(0, start) : min(stop, signal.shape[0])]
        frames = np.lib.stride_tricks.as_strided(
            piece, shape=(last - first, N_FFT), strides=(HOP_LENGTH * 4, 4), writeable=False
        )
        spectrum = rfft(frames * window, axis=1)  # (frames, 1025)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        np.matmul(power, filters_t, out=power_mel[first:last])

    # NumPy's FFT and matrix products release the GIL: the blocks run on all cores.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(block, range(0, frame_count, STFT_BLOCK_FRAMES)))
    return power_mel.T


def _float32_rfft():
    """SciPy's real FFT, which works in single precision (six times NumPy 1.26's, which works in
    double; the spectra agree to 2e-7 of their peak), where SciPy is installed; else NumPy's
    (Blender's Python has no SciPy). Imported at the first spectrum, not with this module."""
    try:
        from scipy import fft as scipy_fft
    except ImportError:
        return np.fft.rfft
    return functools.partial(scipy_fft.rfft, workers=1)  # the blocks already share the cores


def mel_90hz(samples: np.ndarray, *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """The official normalised mel feature of a mono 22,050 Hz signal.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (use :func:`core.audio.decode.load_audio`).

    Returns
    -------
    mel : np.ndarray [shape=(int(n / sample_rate_hz * 90), 128), float32]
        90 frames per second; values in [0, 1] (1 = loudest); column 0 is the highest band.
        Silence gives all ones, never NaN.
    """
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise ConductorError(f"The mel feature is defined at {SAMPLE_RATE_HZ} Hz; resample the audio first.")
    target_frames = frame_count_90hz(samples.shape[0], sample_rate_hz)
    if target_frames < 1:
        raise ConductorError("The audio is too short for a mel frame; give at least 1 second of music.")
    # In place, so a 2-hour piece holds one spectrogram (318 MB), not five.
    db = mel_power(samples, sample_rate_hz=sample_rate_hz)
    reference_db = np.float32(10.0 * np.log10(max(AMIN, float(db.max()))))
    np.maximum(db, np.float32(AMIN), out=db)
    np.log10(db, out=db)
    db *= np.float32(10.0)
    db -= reference_db
    np.maximum(db, db.max() - np.float32(TOP_DB), out=db)
    db += np.float32(TOP_DB)
    np.abs(db, out=db)
    db /= np.float32(TOP_DB)
    return resize_time_bilinear(db[::-1], target_frames, transposed=True)


def resize_time_bilinear(image: np.ndarray, width: int, *, transposed: bool = False) -> np.ndarray:
    """Resize a (rows, columns) array to ``width`` columns as OpenCV's bilinear ``resize`` does.

    Half-pixel centres: output column ``j`` samples input position ``(j + 0.5) * columns / width
    - 0.5``, clamped to the first and last column.

    Parameters
    ----------
    image : np.ndarray [shape=(rows, columns), float32]
        Columns are time (the mel's frames); any unit, kept.
    width : int > 0
        Columns wanted.
    transposed : bool
        Return (width, rows) instead.

    Returns
    -------
    np.ndarray [shape=(rows, width), float32]
        Or, with ``transposed``, its transpose [shape=(width, rows)], C-contiguous.
    """
    columns = image.shape[1]
    position = (np.arange(width, dtype=np.float64) + 0.5) * (columns / width) - 0.5
    position = np.clip(position, 0.0, columns - 1)
    left = np.floor(position).astype(np.int64)
    right = np.minimum(left + 1, columns - 1)
    weight = (position - left).astype(np.float32)
    out = np.empty((width, image.shape[0]), dtype=np.float32)
    for first in range(0, width, RESIZE_BLOCK_COLUMNS):  # a block at a time: bounded temporaries
        part = slice(first, first + RESIZE_BLOCK_COLUMNS)
        out[part] = (image[:, left[part]] * (1.0 - weight[part]) + image[:, right[part]] * weight[part]).T
    return out if transposed else np.ascontiguousarray(out.T)
