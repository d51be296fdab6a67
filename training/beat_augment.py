"""Augmentation of rendered stereo audio, on the fly, so the beat tracker hears rooms,
microphones, noise and codecs that FluidSynth never makes.

:func:`augment` turns a stereo crop into the mono signal the tracker sees, each step with its
own probability, every choice drawn from the generator it is given (seeded per item, so a
resumed training run sees exactly the same audio):

- channel mix: both channels, one, or an uneven mix with a small delay between them (a spaced pair);
- room reverberation: an exponentially decaying noise impulse response (RT60 0.2-2.2 s) with a
  few early reflections, mixed in wet;
- EQ and microphone colouring: random peaking filters, sometimes a high-pass (thin microphones,
  small speakers) or a low-pass (old or telephone-like recordings);
- dynamic range compression;
- noise: white, pink or brown, 5-40 dB below the music;
- lossy coding: Ogg Vorbis or MP3 at a low quality, decoded again;
- level: -25 to +6 dB, sometimes driven into soft clipping.

:func:`beatless_stretch` (applied by :class:`training.beats.RenderCrops` with its own
probability) replaces a stretch of a crop with noise, a hum or silence whose targets are all
zero, so the tracker learns to give no beat where there is none; :func:`level_ramp` brings a
stretch down by 10-40 dB with its labels kept, so it also learns that a pianissimo still has
beats (the features are logarithmic only above about -20 dB re full scale); :func:`splice_meter`
(issue 24) re-cuts a render beat by beat into bars of another meter (4/4 into 3/4 or 2/4, 3/4
into 4/4 or 2/4, 2/4 into 3/4), with its exact labels, so the meters are balanced and the bar
has to be heard from the music itself; every render it cuts is cut at random beats of the bar,
so a cut never marks the downbeat.
"""

from __future__ import annotations

import io

import numpy as np
from scipy import signal

from core.audio.decode import SAMPLE_RATE_HZ

PROBABILITY = {"reverb": 0.45, "eq": 0.6, "compress": 0.2, "noise": 0.4, "codec": 0.15, "clip": 0.08}


def augment(stereo: np.ndarray, rng: np.random.Generator, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """A randomly coloured mono version of a stereo signal.

    Parameters
    ----------
    stereo : np.ndarray [shape=(n, 2), float32]
        Nominally in [-1, 1].
    rng : np.random.Generator
        Source of every choice.

    Returns
    -------
    np.ndarray [shape=(n,), float32]
        Finite, peak at most 1.
    """
    mono = channel_mix(stereo, rng, sample_rate_hz)
    if rng.random() < PROBABILITY["reverb"]:
        mono = reverberate(mono, rng, sample_rate_hz)
    if rng.random() < PROBABILITY["eq"]:
        mono = colour(mono, rng, sample_rate_hz)
    if rng.random() < PROBABILITY["compress"]:
        mono = compress(mono, rng, sample_rate_hz)
    if rng.random() < PROBABILITY["noise"]:
        mono = add_noise(mono, rng)
    if rng.random() < PROBABILITY["codec"]:
        mono = lossy_round_trip(mono, rng, sample_rate_hz)
    peak = float(np.abs(mono).max())
    if peak > 0:
        mono = mono / peak * np.float32(10 ** (rng.uniform(-25.0, 6.0) / 20.0))
    if rng.random() < PROBABILITY["clip"]:
        drive = float(rng.uniform(1.5, 4.0))
        mono = np.tanh(drive * mono) / np.tanh(drive)
    return np.clip(np.nan_to_num(mono), -1.0, 1.0).astype(np.float32)


def channel_mix(stereo: np.ndarray, rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """The mean of both channels (most often), one channel, or an uneven mix with up to 2 ms
    between the channels (a comb filter, as from two spaced microphones summed)."""
    choice = rng.random()
    if choice < 0.6:
        return stereo.mean(axis=1)
    if choice < 0.75:
        return stereo[:, 0].copy()
    if choice < 0.9:
        return stereo[:, 1].copy()
    weight = float(rng.uniform(0.2, 0.8))
    delay = int(rng.integers(0, int(0.002 * sample_rate_hz) + 1))
    right = np.concatenate([np.zeros(delay, np.float32), stereo[: stereo.shape[0] - delay, 1]])
    return weight * stereo[:, 0] + (1 - weight) * right


def reverberate(mono: np.ndarray, rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """Convolution with a synthetic room: decaying noise for the late sound, a few taps for the
    early reflections; a wet share of 10-60 %."""
    rt60_s = float(rng.uniform(0.2, 2.2))
    length = int(min(1.5 * rt60_s, 2.5) * sample_rate_hz)
    t = np.arange(length) / sample_rate_hz
    response = rng.standard_normal(length) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    response[: int(0.005 * sample_rate_hz)] = 0.0
    for _ in range(int(rng.integers(2, 7))):
        response[int(rng.uniform(0.005, 0.06) * sample_rate_hz)] += rng.uniform(0.3, 1.0) * rng.choice([-1, 1])
    response /= np.sqrt(np.sum(response**2)) + 1e-9
    wet = signal.oaconvolve(mono, response.astype(np.float32))[: mono.size]
    share = float(rng.uniform(0.1, 0.6))
    dry_rms, wet_rms = np.sqrt(np.mean(mono**2)) + 1e-9, np.sqrt(np.mean(wet**2)) + 1e-9
    return ((1 - share) * mono + share * wet * (dry_rms / wet_rms)).astype(np.float32)


def peaking(frequency_hz: float, gain_db: float, q: float, sample_rate_hz: int) -> np.ndarray:
    """A peaking EQ biquad (the audio-EQ-cookbook formulas) as one second-order section."""
    a = 10 ** (gain_db / 40.0)
    w = 2 * np.pi * frequency_hz / sample_rate_hz
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None]


def colour(mono: np.ndarray, rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """Two to four peaking filters (80 Hz-8 kHz, +-9 dB), sometimes a high-pass (60-400 Hz) or a
    low-pass (2.5-9 kHz)."""
    sections = [
        peaking(
            float(np.exp(rng.uniform(np.log(80), np.log(8000)))),
            float(rng.uniform(-9, 9)),
            float(rng.uniform(0.5, 2.0)),
            sample_rate_hz,
        )
        for _ in range(int(rng.integers(2, 5)))
    ]
    if rng.random() < 0.3:
        sections.append(signal.butter(2, float(rng.uniform(60, 400)), "highpass", fs=sample_rate_hz, output="sos"))
    if rng.random() < 0.3:
        sections.append(signal.butter(4, float(rng.uniform(2500, 9000)), "lowpass", fs=sample_rate_hz, output="sos"))
    return signal.sosfilt(np.concatenate(sections), mono).astype(np.float32)


def compress(mono: np.ndarray, rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """A feed-forward compressor: a 5-50 ms envelope, ratio 2-8 above a threshold 10-30 dB under the peak."""
    window = max(1, int(rng.uniform(0.005, 0.05) * sample_rate_hz))
    energy = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
    trailing = (energy[1:] - energy[np.maximum(np.arange(1, mono.size + 1) - window, 0)]) / window  # running mean
    envelope = np.sqrt(np.maximum(trailing, 0.0) + 1e-12)
    level_db = 20 * np.log10(envelope / (envelope.max() + 1e-12) + 1e-12)
    threshold_db, ratio = -float(rng.uniform(10, 30)), float(rng.uniform(2, 8))
    reduction_db = np.minimum(0.0, (threshold_db - level_db) * (1 - 1 / ratio))
    return (mono * 10 ** (reduction_db / 20)).astype(np.float32)


def coloured_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise of unit RMS, float32."""
    import scipy.fft

    white = rng.standard_normal(size, dtype=np.float32)
    kind = rng.integers(3)
    if kind:  # pink or brown by shaping the spectrum
        spectrum = scipy.fft.rfft(white)
        frequency = np.maximum(np.arange(spectrum.size, dtype=np.float32), 1.0)
        spectrum /= frequency ** np.float32(0.5 * kind)
        white = scipy.fft.irfft(spectrum, size)
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def add_noise(mono: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise at 5-40 dB below the music's RMS level."""
    noise = coloured_noise(mono.size, rng)
    rms = np.sqrt(np.mean(mono**2)) + 1e-9
    return (mono + noise * rms * 10 ** (-rng.uniform(5, 40) / 20)).astype(np.float32)


def beatless_stretch(mono: np.ndarray, rng: np.random.Generator, sample_rate_hz: int = SAMPLE_RATE_HZ) -> slice:
    """Replace a stretch of 2 s to the whole crop, in place, with sound that has no beat.

    The stretch is white, pink or brown noise (-50 to -6 dB full scale), a steady hum of a few
    partials with a little noise, or silence, faded over 10 ms at both ends.

    Returns
    -------
    slice
        The samples replaced; the caller zeroes the targets of the frames inside it.
    """
    length = int(rng.integers(min(mono.size, 2 * sample_rate_hz), mono.size + 1))
    start = int(rng.integers(0, mono.size - length + 1))
    kind = rng.integers(3)
    if kind == 0:
        sound = coloured_noise(length, rng) * np.float32(10 ** (rng.uniform(-50, -6) / 20))
    elif kind == 1:
        t_s = np.arange(length) / sample_rate_hz
        f0_hz = rng.uniform(40.0, 400.0)
        sound = sum(np.sin(2 * np.pi * f0_hz * k * t_s + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 5))
        sound = 0.2 * sound + 0.01 * rng.standard_normal(length)
    else:
        sound = np.zeros(length)
    fade = min(length // 2, sample_rate_hz // 100)
    ramp = np.linspace(0.0, 1.0, fade)
    window = np.ones(length)
    window[:fade], window[length - fade :] = ramp, ramp[::-1]
    replaced = mono[start : start + length]
    mono[start : start + length] = (replaced * (1 - window) + sound * window).astype(np.float32)
    return slice(start, start + length)


def lossy_round_trip(mono: np.ndarray, rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    """The signal coded as Ogg Vorbis (quality 0-0.4) or MP3 (low bit rates) and decoded again."""
    import soundfile

    buffer = io.BytesIO()
    peak = float(np.abs(mono).max()) + 1e-9
    scaled = mono / peak * 0.9
    if rng.random() < 0.75:  # MP3 takes twice as long to code
        soundfile.write(
            buffer,
            scaled,
            sample_rate_hz,
            format="OGG",
            subtype="VORBIS",
            compression_level=float(rng.uniform(0.6, 1.0)),
        )
    else:
        soundfile.write(
            buffer,
            scaled,
            sample_rate_hz,
            format="MP3",
            subtype="MPEG_LAYER_III",
            compression_level=float(rng.uniform(0.5, 1.0)),
            bitrate_mode="CONSTANT",
        )
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    decoded = decoded.mean(axis=1) if decoded.ndim > 1 else decoded
    out = np.zeros_like(mono)
    out[: min(mono.size, decoded.size)] = decoded[: mono.size]
    return out * np.float32(peak / 0.9)


def level_ramp(mono: np.ndarray, rng: np.random.Generator, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """The signal with one stretch (2 s to half of it) 10-40 dB quieter, ramped over 0.3-2 s at
    both ends: a pianissimo, or a recording whose level was lowered; its beats stay beats.

    ``mono`` [shape=(n,), float32] -> [shape=(n,), float32]."""
    n = mono.size
    length = int(rng.integers(min(n, 2 * sample_rate_hz), max(min(n, 2 * sample_rate_hz), n // 2) + 1))
    start = int(rng.integers(0, n - length + 1))
    ramp = min(length // 2, int(rng.uniform(0.3, 2.0) * sample_rate_hz))
    gain_db = np.zeros(n, dtype=np.float32)
    depth = -float(rng.uniform(10.0, 40.0))
    gain_db[start : start + length] = depth
    if ramp > 0:
        shape = np.linspace(0.0, depth, ramp, dtype=np.float32)
        gain_db[start : start + ramp] = shape
        gain_db[start + length - ramp : start + length] = shape[::-1]
    return (mono * np.power(np.float32(10.0), gain_db / np.float32(20.0))).astype(np.float32)


# Meter changes by cutting beats: the places of a bar of the key's meter that make a bar of the
# other meter (a place repeated is played twice); one is drawn per render.
SPLICES = {
    (4, 3): ((0, 1, 2), (0, 1, 3), (0, 2, 3)),
    (4, 2): ((0, 1), (0, 2)),
    (3, 4): ((0, 1, 1, 2), (0, 1, 2, 2)),
    (3, 2): ((0, 1), (0, 2)),
    (2, 3): ((0, 1, 1), (0, 0, 1)),
}
SPLICE_FADE_S = 0.015
SPLICE_LEAD_S = 0.03  # before the beat's onset: the joins and their fades lie before it


def splice_meter(
    stereo: np.ndarray, labels: dict[str, np.ndarray], rng: np.random.Generator, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """A render re-cut into bars of another meter, with its labels (see the module).

    Every complete bar of the render's most common meter ``m`` becomes a bar of ``m'`` by the
    places of one of ``SPLICES[(m, m')]`` (the audio between a beat and the next is the beat's
    segment); other bars (a pickup, another meter, the last one) stay as they are. Each join of
    segments that were not adjacent is crossfaded over ``SPLICE_FADE_S``.

    Parameters
    ----------
    stereo : np.ndarray [shape=(n, 2), float32]
    labels : dict
        The render's labels (:func:`training.beat_renders.labels_of`): beats_s, beat_in_bar,
        bar_beats, beat_division, downbeats_s, divisions_s.
    rng : np.random.Generator

    Returns
    -------
    (np.ndarray [shape=(n', 2), float32], dict) or None
        None when the render has no complete bar of a meter that can be re-cut.
    """
    beats_s = np.asarray(labels["beats_s"], dtype=np.float64)
    place = np.asarray(labels["beat_in_bar"], dtype=int)
    meters = np.asarray(labels["bar_beats"], dtype=int)
    if beats_s.size < 8:
        return None
    meter = int(np.bincount(meters).argmax())
    targets = [other for (source, other) in SPLICES if source == meter]
    if not targets:
        return None
    target = targets[int(rng.integers(len(targets)))]
    choices = SPLICES[(meter, target)]
    plan = choices[int(rng.integers(len(choices)))]
    onsets = np.round(beats_s * sample_rate_hz).astype(int)
    # Segments are cut SPLICE_LEAD_S before each beat, so a crossfade never touches its onset.
    cuts = np.maximum(onsets - int(SPLICE_LEAD_S * sample_rate_hz), np.r_[0, onsets[:-1]])
    bounds = np.append(cuts, stereo.shape[0])
    order, new_place, new_meter = _spliced_beats(place, meters, meter=meter, plan=plan)
    if order.size == place.size and np.array_equal(order, np.arange(place.size)):
        return None  # no complete bar to re-cut
    recut = _assemble(stereo, labels, bounds, order, new_place, new_meter, sample_rate_hz=sample_rate_hz)
    return recut[0], {**recut[1], **_moved_onsets(recut[1], onsets - cuts, order, sample_rate_hz)}


def _moved_onsets(
    labels: dict[str, np.ndarray], lead: np.ndarray, order: np.ndarray, sample_rate_hz: int
) -> dict[str, np.ndarray]:
    """The new beats and downbeats where the onsets are: each segment starts ``lead`` [shape=(B,),
    samples] before its beat."""
    beats_s = labels["beats_s"] + lead[order] / sample_rate_hz
    return {"beats_s": beats_s, "downbeats_s": beats_s[labels["beat_in_bar"] == 0]}


def _spliced_beats(
    place: np.ndarray, meters: np.ndarray, *, meter: int, plan: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which beats (indices [shape=(B',)]) follow one another after the cut, with each one's new
    place in its bar and its bar's new meter: complete bars of ``meter`` played by ``plan``."""
    order, new_place, new_meter = [], [], []
    count = place.size
    k = 0
    while k < count:
        complete = (
            place[k] == 0
            and k + meter <= count - 1  # not the last bar
            and meters[k] == meter
            and np.array_equal(place[k : k + meter], np.arange(meter))
        )
        if complete:
            order += [k + q for q in plan]
            new_place += list(range(len(plan)))
            new_meter += [len(plan)] * len(plan)
            k += meter
        else:
            order.append(k)
            new_place.append(int(place[k]))
            new_meter.append(int(meters[k]))
            k += 1
    return np.array(order, dtype=int), np.array(new_place, dtype=int), np.array(new_meter, dtype=int)


def _assemble(
    stereo: np.ndarray,
    labels: dict[str, np.ndarray],
    bounds: np.ndarray,
    order: np.ndarray,
    new_place: np.ndarray,
    new_meter: np.ndarray,
    *,
    sample_rate_hz: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The audio of the beats' segments in ``order`` (``bounds`` [shape=(B + 1,)] samples: each
    beat's start and the end), joined with crossfades, and the labels of the new beats."""
    fade = int(SPLICE_FADE_S * sample_rate_hz)
    pieces, starts, position = [], [], 0
    lead = stereo[: bounds[0]]  # before the first beat
    pieces.append(lead)
    position = lead.shape[0]
    previous_end = bounds[0]
    for beat in order:
        segment = stereo[bounds[beat] : bounds[beat + 1]]
        if bounds[beat] != previous_end and fade and pieces[-1].shape[0] > fade and segment.shape[0] > fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
            tail = stereo[previous_end : previous_end + fade]
            if tail.shape[0] == fade:  # the last segment's sound fades out under the new one
                segment = segment.copy()
                segment[:fade] = segment[:fade] * ramp + tail * (1.0 - ramp)
        starts.append(position)
        pieces.append(segment)
        position += segment.shape[0]
        previous_end = bounds[beat + 1]
    audio = np.concatenate(pieces).astype(np.float32)
    new_beats = np.array(starts, dtype=np.float64) / sample_rate_hz
    cuts_s = bounds[:-1] / sample_rate_hz  # where each old segment starts
    divisions = np.asarray(labels["divisions_s"], dtype=np.float64)
    moved = []
    for new_start, beat in zip(new_beats, order):
        inside = divisions[(divisions >= cuts_s[beat]) & (divisions < bounds[beat + 1] / sample_rate_hz)]
        moved.append(inside - cuts_s[beat] + new_start)
    out = {
        "beats_s": new_beats,
        "beat_in_bar": new_place,
        "bar_beats": new_meter,
        "beat_division": np.asarray(labels["beat_division"])[order],
        "downbeats_s": new_beats[new_place == 0],
        "divisions_s": np.sort(np.concatenate(moved)) if moved else np.zeros(0),
    }
    return audio, out
