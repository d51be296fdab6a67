"""The learned beat tracker's network, in numpy: a log-mel spectrogram in, beat, downbeat and
beat-division activations out, 86 frames a second.

The network is a small temporal convolutional network in the manner of the published multi-task
trackers (Böck & Davies 2019-2020): a convolutional front end that reads the spectrum of each
frame and its neighbours (three 2-D convolutions with max-pooling over frequency), then
``len(weights)`` residual blocks of dilated 1-D convolutions over time (dilation ``2 ** block``,
kernel ``KERNEL``) that see about six seconds either side, then one 1x1 convolution to
``ACTIVATIONS`` sigmoid outputs. It is trained in torch (``training/beat_model.py``, which takes
its layout from here); this module runs the same arithmetic in numpy, so the add-on needs no
torch, and in overlapping chunks, so a 3-hour piece needs no more memory than a few minutes.
Weights load with ``safetensors.numpy``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..audio.decode import SAMPLE_RATE_HZ
from ..errors import ConductorError
from ..audio.mel import HOP_LENGTH, N_MELS, mel_power

FRAME_RATE_HZ = SAMPLE_RATE_HZ / HOP_LENGTH  # ~86.13 activation frames a second
LOG_SCALE = 100.0  # features are log(1 + LOG_SCALE * mel power): logarithmic above ~-20 dB re 1
BANDS_SUMMED = 2  # adjacent mel bands of core.audio.mel whose power is summed: 64 bands are plenty for beats
FEATURE_BANDS = N_MELS // BANDS_SUMMED
ACTIVATIONS = ("beat", "downbeat", "division")
KERNEL = 5  # of the dilated time convolutions
FREQUENCY_POOL = 3  # max-pooling over mel bands after the first two front-end convolutions
CHUNK_FRAMES = 6000  # frames computed at once (~70 s), plus the receptive field either side
FRONTEND_CHUNK_FRAMES = 1000  # frames of the front end at once: its patch matrix stays near 20 MB


def spectrogram_features(
    samples: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ, *, gain_db: np.ndarray | None = None
) -> np.ndarray:
    """The network's input: log-compressed mel power, adjacent pairs of core.audio.mel's bands summed.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (22,050 Hz: the frame rate is defined there).
    gain_db : np.ndarray [shape=(>= 1 + n // 256,), float] or None
        A gain for each frame, dB, applied before the compression (a slow one: the music levelled,
        :func:`core.beats.learned_tracker.levelling_gain_db`, as the learned tracker hears it).

    Returns
    -------
    np.ndarray [shape=(1 + n // 256, 64), float32] >= 0
        Frame ``i`` centred on sample ``256 i`` (``FRAME_RATE_HZ``); column 0 the lowest band.
    """
    if sample_rate_hz != SAMPLE_RATE_HZ:
        raise ConductorError(f"The beat tracker works at {SAMPLE_RATE_HZ} Hz; resample the audio first.")
    power = mel_power(np.asarray(samples, dtype=np.float32), sample_rate_hz=sample_rate_hz)  # (128, T)
    summed = power.reshape(FEATURE_BANDS, BANDS_SUMMED, -1).sum(axis=1)
    if gain_db is not None:
        summed *= (10.0 ** (np.asarray(gain_db[: summed.shape[1]], dtype=np.float32) / 10.0))[None, :]
    return np.log1p(np.float32(LOG_SCALE) * summed.T)


def elu(values: np.ndarray) -> np.ndarray:
    """ELU (alpha 1): x for x > 0, exp(x) - 1 otherwise (exp is vectorised, expm1 is not).

    ``values`` [shape=(...), float32] -> [shape=(...), float32] in (-1, inf), the same shape."""
    negative = np.minimum(values, 0.0)
    np.exp(negative, out=negative)
    negative -= 1.0
    return np.maximum(values, 0.0) + negative


class BeatNetwork:
    """The trained network, ready to run in numpy.

    Parameters
    ----------
    tensors : dict of str to np.ndarray
        The torch module's ``state_dict`` as float32 arrays (see :func:`load_beat_network`).

    Attributes
    ----------
    blocks : int
        Residual time blocks (dilations 1, 2, ..., ``2 ** (blocks - 1)``).
    receptive_frames : int
        Frames either side of a frame that its activations depend on.
    """

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self.tensors = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in tensors.items()}
        self.blocks = sum(1 for name in self.tensors if name.startswith("blocks.") and name.endswith(".dilated.weight"))
        if self.blocks == 0 or "head.weight" not in self.tensors:
            raise ValueError("not a beat network: no 'blocks.*.dilated.weight' or 'head.weight'")
        # Front end: 1 frame either side per 3x3 convolution; each block adds (KERNEL - 1) / 2 * dilation.
        self.receptive_frames = 2 + sum((KERNEL - 1) // 2 * 2**b for b in range(self.blocks))

    def activations(self, features: np.ndarray) -> np.ndarray:
        """Beat, downbeat and division probabilities of every frame.

        Parameters
        ----------
        features : np.ndarray [shape=(T, 64), float32]
            From :func:`spectrogram_features`.

        Returns
        -------
        np.ndarray [shape=(T, 3), float32] in [0, 1]
            Columns in ``ACTIVATIONS`` order, at ``FRAME_RATE_HZ``. Computed in chunks of
            ``CHUNK_FRAMES`` with the receptive field either side, which equals one pass over
            the whole piece (every layer pads with zeros only at the piece's two ends).
        """
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != FEATURE_BANDS:
            raise ValueError(f"features must be shaped (T, {FEATURE_BANDS}), got {features.shape}")
        total = features.shape[0]
        out = np.zeros((total, len(ACTIVATIONS)), dtype=np.float32)
        margin = self.receptive_frames
        for first in range(0, total, CHUNK_FRAMES):
            last = min(first + CHUNK_FRAMES, total)
            low, high = max(0, first - margin), min(total, last + margin)
            logits = self.logits(features[low:high])
            out[first:last] = 1.0 / (1.0 + np.exp(-logits[first - low : last - low]))
        return out

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The pre-sigmoid outputs of one stretch of frames, zero-padded at its ends.

        Returns
        -------
        np.ndarray [shape=(T, 3), float32]
        """
        w = self.tensors
        frames = features.shape[0]
        # The front end sees one frame either side per 3x3 layer: run it in short pieces, whose
        # patch matrices stay small, with those two frames of overlap. Max-pooling comes before
        # the ELU, which is increasing, so it acts on a third of the values.
        pieces = []
        for first in range(0, frames, FRONTEND_CHUNK_FRAMES):
            last = min(first + FRONTEND_CHUNK_FRAMES, frames)
            low, high = max(0, first - 2), min(frames, last + 2)
            x = features[None, low:high, :]  # (1, t, F): channels, time, bands
            x = elu(
                max_pool_frequency(conv_time_frequency(x, w["frontend.0.weight"], w["frontend.0.bias"]), FREQUENCY_POOL)
            )
            x = elu(
                max_pool_frequency(conv_time_frequency(x, w["frontend.1.weight"], w["frontend.1.bias"]), FREQUENCY_POOL)
            )
            x = elu(conv_time_frequency(x, w["frontend.2.weight"], w["frontend.2.bias"]))  # (C, t, 1)
            pieces.append(x[:, first - low : x.shape[1] - (high - last), 0])
        h = np.concatenate(pieces, axis=1)  # (C, T)
        for b in range(self.blocks):
            inner = elu(conv_time(h, w[f"blocks.{b}.dilated.weight"], w[f"blocks.{b}.dilated.bias"], dilation=2**b))
            h = h + conv_time(inner, w[f"blocks.{b}.mix.weight"], w[f"blocks.{b}.mix.bias"], dilation=1)
        return conv_time(elu(h), w["head.weight"], w["head.bias"], dilation=1).T  # (T, 3)


def conv_time_frequency(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 2-D convolution over (time, frequency), zero-padded in time to keep the frame count and
    unpadded ('valid') in frequency, as torch's ``Conv2d(padding=(k_t // 2, 0))``.

    Parameters
    ----------
    x : np.ndarray [shape=(C_in, T, F), float32]
    weight : np.ndarray [shape=(C_out, C_in, k_t, k_f), float32]
    bias : np.ndarray [shape=(C_out,), float32]

    Returns
    -------
    np.ndarray [shape=(C_out, T, F - k_f + 1), float32]
    """
    c_out, c_in, k_t, k_f = weight.shape
    _, frames, bands = x.shape
    padded = np.pad(x, ((0, 0), (k_t // 2, k_t // 2), (0, 0))) if k_t > 1 else x
    out_bands = bands - k_f + 1
    # The shifted copies stacked as rows, then one wide matrix product with the filters.
    patches = np.empty((c_in, k_t, k_f, frames, out_bands), dtype=np.float32)
    for dt in range(k_t):
        for df in range(k_f):
            patches[:, dt, df] = padded[:, dt : dt + frames, df : df + out_bands]
    out = weight.reshape(c_out, c_in * k_t * k_f) @ patches.reshape(c_in * k_t * k_f, frames * out_bands)
    out += bias[:, None]
    return out.reshape(c_out, frames, out_bands)


def max_pool_frequency(x: np.ndarray, size: int) -> np.ndarray:
    """Max over non-overlapping groups of ``size`` bands (a remainder dropped), as torch's
    ``MaxPool2d((1, size))``.

    Parameters
    ----------
    x : np.ndarray [shape=(C, T, F), float32]
        Channels, frames, mel bands.
    size : int >= 1

    Returns
    -------
    np.ndarray [shape=(C, T, F // size), float32]
    """
    kept = x.shape[2] // size * size
    out = x[:, :, 0:kept:size].copy()
    for offset in range(1, size):
        np.maximum(out, x[:, :, offset:kept:size], out=out)
    return out


def conv_time(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, *, dilation: int) -> np.ndarray:
    """A 1-D convolution over time with 'same' zero padding, as torch's ``Conv1d(padding=
    dilation * (k - 1) // 2, dilation=dilation)``.

    Parameters
    ----------
    x : np.ndarray [shape=(C_in, T), float32]
    weight : np.ndarray [shape=(C_out, C_in, k), float32]
    bias : np.ndarray [shape=(C_out,), float32]
    dilation : int >= 1
        Frames between taps.

    Returns
    -------
    np.ndarray [shape=(C_out, T), float32]
    """
    c_out, c_in, k = weight.shape
    frames = x.shape[1]
    reach = dilation * (k - 1) // 2
    padded = np.pad(x, ((0, 0), (reach, reach))) if reach else x
    stacked = np.concatenate([padded[:, tap * dilation : tap * dilation + frames] for tap in range(k)], axis=0)
    out = weight.transpose(0, 2, 1).reshape(c_out, k * c_in) @ stacked  # taps as rows: one product
    out += bias[:, None]
    return out


def load_beat_network(path: str | os.PathLike[str]) -> tuple[BeatNetwork, dict]:
    """The network and model card of ``NAME.safetensors`` (the card is ``NAME.json`` beside it).

    Raises
    ------
    ConductorError
        The file is missing, unreadable, not a beat network, or holds NaN values.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise ConductorError(f"Beat tracker weights '{path}' do not exist; restore weights/ or use the DSP tracker.")
    try:
        tensors = load_file(str(path))
        network = BeatNetwork(tensors)
    except Exception as error:
        raise ConductorError(
            f"'{path.name}' is not usable beat tracker weights ({error}); reinstall the add-on."
        ) from error
    if not all(np.all(np.isfinite(value)) for value in network.tensors.values()):
        raise ConductorError(f"'{path.name}' holds NaN or infinite weights; reinstall the add-on.")
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    return network, card
