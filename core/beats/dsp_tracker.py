"""Beat, downbeat and meter tracking of a music signal, in numpy alone.

The beat tracker is the dynamic-programming method of Ellis (2007, "Beat tracking by dynamic
programming") with a tempo that may drift over the piece: an onset-strength curve from the
log-mel spectral flux, a local tempo from windowed autocorrelation, then the beat sequence that
best trades onset strength against regular spacing. A beat locked half a beat out is moved
back when harmony changes between the beats rather than on them. The meter is the bar length
into which the beats' accents (onset, bass onset and change of chroma) group most clearly
beyond chance, with a prior for 4 and 3; the bars then come from a small hidden Markov model
over the position in the bar. No model file, no numba, no download; the mel spectrum comes
from :func:`core.audio.mel.mel_power`.
"""

from __future__ import annotations


import numpy as np

from .track import CONDUCTED_TEMPO_BPM, BeatTrack
from ..audio.mel import HOP_LENGTH, mel_power
from ..audio.filters import local_maxima, running_mean

MIN_BPM, MAX_BPM = CONDUCTED_TEMPO_BPM  # the beat is looked for where a conductor beats
PRIOR_BPM = 110.0  # centre of the log-normal tempo prior
PRIOR_OCTAVES = 0.6  # its standard deviation, in octaves (0.9 took op. 18/1 i's hemiola as the beat)
REST_DB = -30.0  # under the loud (95th percentile) frames: a rest, not a held note
SILENT_BEAT_SHARE = 0.5  # of the beats at one place in the bar, lone and silent: a tie, kept
COMPOUND_MARGIN = 0.05  # autocorrelation by which a 6/8 bar's halves and eighths must stand out
TIGHTNESS = 300.0  # penalty per squared log-ratio of a beat interval to the local period
TEMPO_WINDOW_S = 8.0
TEMPO_CHANGE_COST = 10.0  # per squared log-ratio of the period between windows one second apart
BASS_BANDS = 24  # lowest mel bands (below ~500 Hz) that give the bass onsets
CHROMA_N_FFT = 4096  # 186 ms at 22,050 Hz: enough to tell semitones apart above ~100 Hz
CHROMA_HOP = 4 * HOP_LENGTH  # chroma frames are 4 onset frames apart (~46 ms)
CHROMA_RANGE_HZ = (60.0, 2000.0)
BASS_RANGE_HZ = (40.0, 220.0)
SPECTRAL_WEIGHT = 0.25  # of the mel-spectrum change among the beat accents
METER_PRIOR = {2: 0.0, 3: 0.3, 4: 0.6}  # added to the evidence, in standard deviations
COMPOUND_METER_PRIOR = {2: 0.6, 3: 0.3, 4: 0.0}  # beats in three: 6/8 is far commoner than 12/8
COMPOUND_MIN_BPM = 130.0  # triple beats this fast may be the quavers of a 6/8
COMPOUND_EVIDENCE = 2.0  # how clearly its bars must pair up to be beaten in six
# No meter's accents group this clearly (standard deviations of chance, before the prior): the
# accents tell nothing (a click track, a hand-tapped grid on even music), so the bars are the
# prior's meter from the first beat, not a grouping of noise.
NO_GROUPING_SD = 1.0
PHASE_MARGIN = 0.1  # spreads by which the half-shifted beats must win
# The onset autocorrelation's best beat period must stand this far above its median over the
# tempo range (noise: ~0.055 over 20-60 s; the weakest music measured: 0.07, most above 0.12) ...
MIN_RHYTHM_CONTRAST = 0.065
RHYTHM_CONTRAST_SPREADS = 3.0  # ... and this many times a random signal's spread, 1 / sqrt(frames)


def track_beats_dsp(samples: np.ndarray, sample_rate_hz: int = 22050, *, meter: int | None = None) -> BeatTrack:
    """Beats, downbeats and meter of a mono signal by the signal-processing tracker (no weights).

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (22,050 Hz from :func:`core.audio.decode.load_audio`).
    sample_rate_hz : int > 0
    meter : int in :data:`core.beats.track.TRACKED_METERS` or None
        Beats per bar to use instead of the detected meter (the downbeats are still found).

    Returns
    -------
    BeatTrack
        Empty beat lists for silence or a signal with no rhythm to follow.
    """
    frame_rate_hz = sample_rate_hz / HOP_LENGTH
    log_mel = log_mel_spectrum(samples, sample_rate_hz)
    onset = onset_strength(log_mel)
    bass = onset_strength(log_mel[:BASS_BANDS])
    if log_mel.shape[1] < 8 or not np.any(onset > 0):
        return BeatTrack(np.zeros(0), np.zeros(0), np.zeros(0, int), meter or 4, 0.0)
    whole = unbiased_autocorrelation(onset)  # of the whole piece: is a period a 6/8 bar, a beat in three?
    if rhythm_contrast(whole, frame_rate_hz) < max(MIN_RHYTHM_CONTRAST, RHYTHM_CONTRAST_SPREADS / np.sqrt(onset.size)):
        return BeatTrack(np.zeros(0), np.zeros(0), np.zeros(0, int), meter or 4, 0.0)  # noise: nothing to beat
    period_frames = onset_period_frames(onset, frame_rate_hz, whole_autocorrelation=whole)
    beat_frames = dynamic_programming_beats(onset, period_frames)
    chroma, bass_chroma = pitch_class_profiles(samples, sample_rate_hz)
    shifted = on_beat_phase(beat_frames, chroma, bass_chroma)
    shifted = shifted[shifted < onset.size]
    # Halfway points with nothing starting under them are not the beats after all.
    supported = drop_unsupported_beats(beat_frames, onset, period_frames).size
    if drop_unsupported_beats(shifted, onset, period_frames).size >= 0.9 * supported:
        beat_frames = shifted
    # Rests and ties inside a regular rhythm are beaten through (the bars need them too).
    level_db = 10.0 * np.log10(np.mean(10.0 ** (log_mel / 10.0), axis=0))
    sounding = level_db > np.percentile(level_db, 95) + REST_DB
    beat_frames = drop_unsupported_beats(beat_frames, onset, period_frames, sounding=sounding)
    beats_s = beat_frames * HOP_LENGTH / sample_rate_hz
    if beat_frames.size < 2:
        return BeatTrack(beats_s, beats_s[:0], np.zeros(beat_frames.size, int), meter or 4, 0.0)
    accent = beat_accent(beat_frames, onset, bass=bass, log_mel=log_mel, chroma=chroma)
    tempo_bpm = float(60.0 / np.median(np.diff(beats_s)))
    compound = compound_beat(whole, float(np.median(np.diff(beat_frames))))
    meter, bar_position = infer_bars(accent, tempo_bpm, meter=meter, compound=compound)
    return BeatTrack(beats_s, beats_s[bar_position == 0], bar_position, meter, tempo_bpm)


def log_mel_spectrum(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Mel power in dB, floored 80 dB under the peak.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz``, nominally in [-1, 1].
    sample_rate_hz : int > 0

    Returns
    -------
    np.ndarray [shape=(128, 1 + n // 256), float32]
        Frame ``i`` is centred on sample ``256 i`` (~86 frames per second at 22,050 Hz).
    """
    power = mel_power(np.asarray(samples, dtype=np.float32), sample_rate_hz=sample_rate_hz)
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    return np.maximum(db, db.max() - 80.0)


def onset_strength(log_mel: np.ndarray) -> np.ndarray:
    """Half-wave rectified spectral flux, mean over bands, with its slow trend removed.

    Parameters
    ----------
    log_mel : np.ndarray [shape=(bands, frames), float32] dB
        From :func:`log_mel_spectrum` (or some of its bands), ~86 frames a second.

    Returns
    -------
    np.ndarray [shape=(frames,), float64] >= 0
        Unit standard deviation where there is any flux; all zeros for a steady signal.
    """
    flux = np.maximum(0.0, np.diff(log_mel, axis=1, prepend=log_mel[:, :1])).mean(axis=0)
    flux = flux - running_mean(flux, 32)  # ~0.37 s trend
    flux = np.maximum(flux, 0.0)
    spread = flux.std()
    return flux / spread if spread > 1e-6 else np.zeros_like(flux)


def pitch_class_profiles(samples: np.ndarray, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-compressed chroma of the whole texture and of the bass alone.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz``, nominally in [-1, 1].
    sample_rate_hz : int > 0

    Returns
    -------
    chroma, bass_chroma : np.ndarray [shape=(12, 1 + n // 1024), float32] >= 0
        Magnitude per pitch class (C = 0) in ``CHROMA_RANGE_HZ`` and ``BASS_RANGE_HZ``; column
        ``i`` is centred on sample ``1024 i`` (4 onset frames, ~46 ms at 22,050 Hz).
    """
    samples = np.asarray(samples, dtype=np.float32)
    frame_count = 1 + samples.shape[0] // CHROMA_HOP
    padded = np.pad(samples, (CHROMA_N_FFT // 2, CHROMA_N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, CHROMA_N_FFT)[::CHROMA_HOP][:frame_count]
    frequencies_hz = np.fft.rfftfreq(CHROMA_N_FFT, 1.0 / sample_rate_hz)
    midi = 12.0 * np.log2(np.maximum(frequencies_hz, 1e-3) / 440.0) + 69.0
    pitch_class = np.round(midi).astype(int) % 12

    def folding(low_hz: float, high_hz: float) -> np.ndarray:  # (12, bins) sums bins per class
        used = np.flatnonzero((frequencies_hz >= low_hz) & (frequencies_hz < high_hz))
        matrix = np.zeros((12, frequencies_hz.size), dtype=np.float32)
        matrix[pitch_class[used], used] = 1.0
        return matrix

    full, low = folding(*CHROMA_RANGE_HZ), folding(*BASS_RANGE_HZ)
    window = np.hanning(CHROMA_N_FFT).astype(np.float32)
    chroma = np.zeros((12, frame_count), dtype=np.float32)
    bass_chroma = np.zeros((12, frame_count), dtype=np.float32)
    for start in range(0, frame_count, 512):  # blocks keep a 10-minute piece's STFT small
        magnitude = np.abs(np.fft.rfft(frames[start : start + 512] * window, axis=1)).astype(np.float32).T
        chroma[:, start : start + 512] = full @ magnitude
        bass_chroma[:, start : start + 512] = low @ magnitude
    # Log compression so a loud melody note does not hide the rest of the chord.
    return np.log1p(chroma / (chroma.mean() + 1e-9)), np.log1p(bass_chroma / (bass_chroma.mean() + 1e-9))


def chroma_change(chroma: np.ndarray, centres: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Harmonic change at each centre: cosine distance of the mean chroma before and after it.

    Parameters
    ----------
    chroma : np.ndarray [shape=(12, F)]
        From :func:`pitch_class_profiles`.
    centres : np.ndarray [shape=(K,), int]
        Chroma frames.
    width : np.ndarray [shape=(K,), int] >= 1
        Frames averaged on each side.

    Returns
    -------
    np.ndarray [shape=(K,), float64] in [0, 1]
        0 where nothing changes or one side is nearly silent.
    """
    total = np.concatenate([np.zeros((12, 1)), np.cumsum(chroma, axis=1, dtype=np.float64)], axis=1)
    frame_count = chroma.shape[1]
    centres = np.clip(centres, 0, frame_count)
    before = total[:, centres] - total[:, np.clip(centres - width, 0, frame_count)]
    after = total[:, np.clip(centres + width, 0, frame_count)] - total[:, centres]
    before_norm = np.linalg.norm(before, axis=0) / np.maximum(centres - np.clip(centres - width, 0, None), 1)
    after_norm = np.linalg.norm(after, axis=0) / np.maximum(np.clip(centres + width, None, frame_count) - centres, 1)
    # A side that is nearly silent (a decayed click, a rest) has a chroma of noise: no change.
    audible = 0.1 * np.percentile(np.linalg.norm(chroma, axis=0), 90)
    sounding = (before_norm > audible) & (after_norm > audible)
    norms = np.linalg.norm(before, axis=0) * np.linalg.norm(after, axis=0)
    similarity = np.sum(before * after, axis=0) / np.maximum(norms, 1e-9)
    return np.where(sounding, 1.0 - similarity, 0.0)


def on_beat_phase(beats: np.ndarray, chroma: np.ndarray, bass_chroma: np.ndarray) -> np.ndarray:
    """The beats, or the points halfway between them when those are the real beats.

    Steady off-beat figures (an Alberti bass, repeated quavers after a rest) give the
    off-beats as much spectral flux as the beats, and the tracker may lock half a beat out.
    Harmony and bass notes change on the beat, so the halfway points replace the beats when
    the chroma and bass chroma change more there (over one beat on each side); they must win
    by ``PHASE_MARGIN`` spreads, since the tracker is usually right.

    Parameters
    ----------
    beats : np.ndarray [shape=(B,), int]
        Onset frames (~86 a second), increasing.
    chroma, bass_chroma : np.ndarray [shape=(12, F), float32]
        From :func:`pitch_class_profiles`, one column per 4 onset frames.

    Returns
    -------
    np.ndarray [shape=(B',), int]
        Increasing onset frames: ``beats`` itself, or the B - 1 halfway points and one after.
    """
    if beats.size < 8:
        return beats
    middles = (beats[:-1] + beats[1:]) // 2
    frames_per_chroma = CHROMA_HOP / HOP_LENGTH

    def change(frames: np.ndarray) -> np.ndarray:  # (2, K): chroma and bass chroma change
        period = np.median(np.diff(beats))
        width = np.full(frames.size, max(1, int(round(period / frames_per_chroma))))
        centres = np.round(frames / frames_per_chroma).astype(int)
        return np.stack([chroma_change(chroma, centres, width), chroma_change(bass_chroma, centres, width)])

    on, off = change(beats[1:-1]), change(middles)
    spread = np.maximum(np.concatenate([on, off], axis=1).std(axis=1), 0.05)  # steady harmony: no evidence
    advantage = float(np.sum((off.mean(axis=1) - on.mean(axis=1)) / spread))
    if advantage <= PHASE_MARGIN:
        return beats
    return np.concatenate([middles, [beats[-1] + (beats[-1] - beats[-2]) // 2]])


def onset_period_frames(
    onset: np.ndarray, frame_rate_hz: float, *, whole_autocorrelation: np.ndarray | None = None
) -> np.ndarray:
    """Beat period in frames for every frame: a smooth path through windowed autocorrelations.

    Each ``TEMPO_WINDOW_S`` window's onset autocorrelation scores every period in the
    conductor's range, and :func:`smoothest_path` takes the periods through the windows (one
    second apart) with the most score less ``TEMPO_CHANGE_COST`` per squared log-ratio between
    neighbours. A gradual accelerando or ritardando costs little, so it is followed however far
    it goes; a jump to half or double tempo costs more than any window can gain. Two passes: the
    first, on scores weighted by a log-normal prior around ``PRIOR_BPM``, chooses the tempo
    level; the second keeps within half an octave of it, without the prior, whose pull towards
    ``PRIOR_BPM`` would otherwise move a steady tempo to a nearby rhythm's. A path that is the
    bar of a 6/8 (:func:`compound_bar`) is halved.

    Parameters
    ----------
    onset : np.ndarray [shape=(frames,), float64]
        From :func:`onset_strength`, at ``frame_rate_hz``.
    frame_rate_hz : float > 0
    whole_autocorrelation : np.ndarray [shape=(frames,)] or None
        :func:`unbiased_autocorrelation` of ``onset`` when the caller has it already.

    Returns
    -------
    np.ndarray [shape=(frames,), float64] onset frames
        The beat period at each onset frame.
    """
    min_lag = int(frame_rate_hz * 60.0 / MAX_BPM)
    max_lag = min(int(frame_rate_hz * 60.0 / MIN_BPM), onset.size - 1)
    lags = np.arange(min_lag, max(max_lag, min_lag + 1) + 1)
    bpm = 60.0 * frame_rate_hz / lags
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)

    def autocorrelation(chunk: np.ndarray) -> np.ndarray:
        full = unbiased_autocorrelation(chunk)
        values = np.zeros(lags.size)
        usable = lags < chunk.size
        values[usable] = full[lags[usable]]
        return values

    window = int(TEMPO_WINDOW_S * frame_rate_hz)
    hop = max(1, window // 8)
    starts = np.arange(0, max(1, onset.size - window + 1), hop)
    correlations = np.stack([autocorrelation(onset[start : start + window]) for start in starts])  # (W, L)
    if starts.size < 3:  # shorter than about ten seconds: one tempo
        correlations = autocorrelation(onset)[None]
    log_lags = np.log(lags)
    # First the tempo level, with the prior; then the tempo within half an octave of that level,
    # without it, so that the prior's pull towards PRIOR_BPM cannot move a steady tempo.
    level = smoothest_path(correlations * prior, log_lags)
    near_level = np.abs(log_lags[None, :] - log_lags[level][:, None]) < np.log(2.0) / 2.0
    path = smoothest_path(np.where(near_level, correlations, -1e6), log_lags)
    periods = lags[path].astype(np.float64)
    if whole_autocorrelation is None:
        whole_autocorrelation = unbiased_autocorrelation(onset)
    if compound_bar(whole_autocorrelation, float(np.median(periods))) and np.median(periods) / 2 >= min_lag:
        periods = periods / 2
    if periods.size == 1:
        return np.full(onset.size, periods[0])
    return np.interp(np.arange(onset.size), starts + window // 2, periods)


def smoothest_path(scores: np.ndarray, log_lags: np.ndarray) -> np.ndarray:
    """Viterbi path through per-window scores of every lag: the sum of the scores minus
    ``TEMPO_CHANGE_COST`` per squared change of log lag from one window to the next.

    Parameters
    ----------
    scores : np.ndarray [shape=(W, L), float64]
    log_lags : np.ndarray [shape=(L,), float64]

    Returns
    -------
    np.ndarray [shape=(W,), int]
        The chosen lag index of each window.
    """
    change_cost = TEMPO_CHANGE_COST * (log_lags[:, None] - log_lags[None, :]) ** 2  # (from, to)
    value = scores[0].copy()
    back = np.zeros(scores.shape, dtype=int)
    for w in range(1, scores.shape[0]):
        total = value[:, None] - change_cost
        back[w] = np.argmax(total, axis=0)
        value = total[back[w], np.arange(log_lags.size)] + scores[w]
    path = np.zeros(scores.shape[0], dtype=int)
    path[-1] = int(np.argmax(value))
    for w in range(scores.shape[0] - 1, 0, -1):
        path[w - 1] = back[w, path[w]]
    return path


def rhythm_contrast(autocorrelation: np.ndarray, frame_rate_hz: float) -> float:
    """How far the best beat period's autocorrelation stands above the median over the beat
    periods of ``MIN_BPM`` to ``MAX_BPM`` (0 when the signal is shorter than the slowest one).

    Parameters
    ----------
    autocorrelation : np.ndarray [shape=(n,), float64] in [-1, 1]
        From :func:`unbiased_autocorrelation` of the onset curve, lag in onset frames.
    frame_rate_hz : float > 0
        Onset frames a second.

    Returns
    -------
    float
        In units of the normalised autocorrelation.
    """
    lags = np.arange(int(frame_rate_hz * 60.0 / MAX_BPM), int(frame_rate_hz * 60.0 / MIN_BPM) + 1)
    lags = lags[lags < autocorrelation.size]
    if lags.size < 2:
        return 0.0
    values = autocorrelation[lags]
    return float(values.max() - np.median(values))


def unbiased_autocorrelation(values: np.ndarray) -> np.ndarray:
    """Autocorrelation of the mean-removed values at every lag, averaged over the overlap.

    Parameters
    ----------
    values : np.ndarray [shape=(n,), float]
        Samples at any rate (the onset curve); lags are counted in those samples.

    Returns
    -------
    np.ndarray [shape=(n,), float64]
        Lag 0 first; divided by lag 0's value, so 1 at lag 0 (all zeros for a constant).
    """
    centred = values - values.mean()
    spectrum = np.fft.rfft(centred, 2 * values.size)
    full = np.fft.irfft(np.abs(spectrum) ** 2)[: values.size] / (values.size - np.arange(values.size))
    return full / full[0] if full[0] > 0 else np.zeros_like(full)


def compound_bar(autocorrelation: np.ndarray, period: float) -> bool:
    """Whether a period is the bar of a compound duple meter (6/8) rather than one beat.

    A 6/8 bar falls in two halves (the dotted crotchets a conductor beats) of three quavers
    each, so the onset curve repeats after a half and after a sixth of the period, and less
    after a third or a quarter. A beat of simple time divides into quavers (half the period)
    and semiquavers (a quarter), and a beat of compound time (k458 i at 80) into three quavers
    (a third); neither is taken for a bar.

    Parameters
    ----------
    autocorrelation : np.ndarray [shape=(n,), float64]
        From :func:`unbiased_autocorrelation` of the onset curve.
    period : float > 0
        In onset frames.
    """
    half, third, quarter, sixth = (autocorrelation_near(autocorrelation, period / d) for d in (2, 3, 4, 6))
    return half > third + COMPOUND_MARGIN and sixth > quarter + COMPOUND_MARGIN and min(half, sixth) > COMPOUND_MARGIN


def compound_beat(autocorrelation: np.ndarray, period: float) -> bool:
    """Whether a beat divides into three (the dotted crotchet of a 6/8) rather than two: the
    onset curve repeats after a third of the period more than after a half.

    ``autocorrelation`` [shape=(n,), float64] is :func:`unbiased_autocorrelation` of the onset
    curve; ``period`` is the beat period in onset frames."""
    third, half = (autocorrelation_near(autocorrelation, period / d) for d in (3, 2))
    return third > half + COMPOUND_MARGIN


def autocorrelation_near(autocorrelation: np.ndarray, lag: float) -> float:
    """The largest of ``autocorrelation`` [shape=(n,)] at the frames around a fractional ``lag``
    (in its samples): the three nearest, lag 0 left out; 0 out of range."""
    i = round(lag)
    return float(autocorrelation[max(i - 1, 1) : i + 2].max()) if 1 <= i < autocorrelation.size - 1 else 0.0


def dynamic_programming_beats(onset: np.ndarray, period_frames: np.ndarray) -> np.ndarray:
    """The beat frames maximising onset strength minus irregular spacing (Ellis 2007).

    Parameters
    ----------
    onset : np.ndarray [shape=(frames,), float64] >= 0
        From :func:`onset_strength`, ~86 frames a second.
    period_frames : np.ndarray [shape=(frames,), float64]
        The local beat period at each frame, in frames (:func:`onset_period_frames`).

    Returns
    -------
    np.ndarray [shape=(B,), int]
        Increasing frame indices.
    """
    frames = onset.size
    # Light smoothing so a beat can land between two flux peaks of a spread-out attack.
    local = np.convolve(onset, np.hanning(5) / np.hanning(5).sum(), mode="same")
    score = local.copy()
    previous = np.full(frames, -1)
    for t in range(frames):
        period = period_frames[t]
        low, high = max(1, int(round(period / 2))), int(round(2 * period))
        if t - low < 0:
            continue
        lags = np.arange(low, min(high, t) + 1)
        candidates = score[t - lags] - TIGHTNESS * np.log(lags / period) ** 2
        best = int(np.argmax(candidates))
        if candidates[best] > 0:
            score[t] = local[t] + candidates[best]
            previous[t] = t - lags[best]
    # End on the last strong local maximum of the score: the music may stop before the end.
    peaks = local_maxima(np.concatenate([[-np.inf], score, [-np.inf]])) - 1
    if peaks.size == 0:
        return np.zeros(0, dtype=int)
    strong = peaks[score[peaks] >= 0.5 * np.median(score[peaks])]
    last = int(strong[-1]) if strong.size else int(np.argmax(score))
    beats = [last]
    while previous[beats[-1]] >= 0:
        beats.append(int(previous[beats[-1]]))
    return np.asarray(beats[::-1], dtype=int)


def drop_unsupported_beats(
    beats: np.ndarray, onset: np.ndarray, period_frames: np.ndarray, *, sounding: np.ndarray | None = None
) -> np.ndarray:
    """Remove beats that land where nothing starts: in silence, or inside a long held note.

    A beat stays when the onset curve within a sixth of a period of it reaches a tenth of the
    typical (75th percentile) beat's onset; otherwise a fermata or a rest is under it and the
    conductor holds.

    Given ``sounding`` (per onset frame, whether the music is audible), two kinds of beats
    without an onset stay when they are one or two between beats with onsets, as a conductor
    beats through them: those in silence (a rest), and those inside a held note when such
    beats recur at one place in a bar of 2, 3 or 4 beats, at least ``SILENT_BEAT_SHARE`` of
    the beats there (a note tied over the second beat of every bar, Beethoven op. 18/1 i). The
    fermatas of a chorale sound on and fall irregularly, and are dropped.

    Parameters
    ----------
    beats : np.ndarray [shape=(B,), int]
        Onset frames, increasing.
    onset : np.ndarray [shape=(frames,), float64] >= 0
        From :func:`onset_strength`.
    period_frames : np.ndarray [shape=(frames,), float64]
        The local beat period at each frame, in frames.
    sounding : np.ndarray [shape=(frames,), bool] or None

    Returns
    -------
    np.ndarray [shape=(B',), int]
        The beats kept, in order.
    """
    if beats.size == 0:
        return beats
    radius = np.maximum(2, np.round(period_frames[beats] / 6)).astype(int)
    support = np.array([onset[max(0, b - r) : b + r + 1].max() for b, r in zip(beats, radius)])
    typical = np.percentile(support, 75)  # the music may be silent for half the piece
    if typical <= 0:
        return beats[:0]
    keep = support >= 0.1 * typical
    if sounding is None or beats.size < 8:
        return beats[keep]
    # Gaps of one or two beats without onsets, between beats with onsets.
    short_gap = np.zeros_like(keep)
    start = 0
    while start < beats.size:
        end = start
        while not keep[start] and end + 1 < beats.size and not keep[end + 1]:
            end += 1
        if not keep[start] and end - start < 2 and start > 0 and end + 1 < beats.size:
            short_gap[start : end + 1] = True
        start = end + 1
    held = short_gap & sounding[beats]
    extra = short_gap & ~sounding[beats]  # a rest
    for meter in (2, 3, 4):
        for phase in range(meter):
            if held[phase::meter].mean() >= SILENT_BEAT_SHARE:
                extra[phase::meter] |= held[phase::meter]  # a tie
    return beats[keep | extra]


def beat_accent(
    beats: np.ndarray, onset: np.ndarray, *, bass: np.ndarray, log_mel: np.ndarray, chroma: np.ndarray
) -> np.ndarray:
    """How strongly each beat is marked: onset, bass onset, change of spectrum and of harmony.

    The harmonic change compares the chroma over one beat before and one beat after; a new bar
    usually brings a new chord (or a new bass note), which is the best single sign of a
    downbeat in notated music.

    Parameters
    ----------
    beats : np.ndarray [shape=(B,), int]
        Onset frames (~86 a second), increasing, B >= 2.
    onset, bass : np.ndarray [shape=(frames,), float64] >= 0
        :func:`onset_strength` of all bands and of the lowest ``BASS_BANDS``.
    log_mel : np.ndarray [shape=(128, frames), float32] dB
        From :func:`log_mel_spectrum`.
    chroma : np.ndarray [shape=(12, F), float32]
        From :func:`pitch_class_profiles`, one column per 4 onset frames.

    Returns
    -------
    np.ndarray [shape=(B,), float64]
        A sum of z-scores (unitless), larger for a more strongly marked beat.
    """
    radius = 3
    strength = np.array([onset[max(0, b - radius) : b + radius + 1].max() for b in beats])
    low = np.array([bass[max(0, b - radius) : b + radius + 1].max() for b in beats])
    frames_per_chroma = CHROMA_HOP / HOP_LENGTH
    width = np.full(beats.size, max(1, int(round(np.median(np.diff(beats)) / frames_per_chroma))))
    change = chroma_change(chroma, np.round(beats / frames_per_chroma).astype(int), width)
    # Spectral change: distance between the mean spectrum from the beat before to this one and
    # from this one to the next (it tells a low click from a high one, which chroma cannot).
    edges = np.concatenate([[0], beats, [log_mel.shape[1]]])
    means = np.stack([log_mel[:, a : max(b, a + 1)].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])])
    means = means - means.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(means, axis=1) + 1e-9
    spectral = 1.0 - np.sum(means[:-1] * means[1:], axis=1) / (norms[:-1] * norms[1:])

    def zscore(values: np.ndarray, floor: float) -> np.ndarray:
        return (values - values.mean()) / max(values.std(), floor)

    # The floor keeps a steady harmony's tiny chroma wobble (a click track) from counting.
    return (
        zscore(strength, 1e-9)
        + zscore(low, 1e-9)
        + SPECTRAL_WEIGHT * zscore(spectral[: beats.size], 1e-9)
        + zscore(change, 0.05)
    )


def meter_evidence(accent: np.ndarray, meter: int, trials: int = 40) -> float:
    """How far the accents group into bars of ``meter`` beats, in standard deviations of chance.

    The statistic is the best phase's mean accent minus the other phases' mean; since the best
    of more, smaller groups is larger by chance alone, it is compared with the same statistic
    on shuffled accents (a fixed seed keeps the answer reproducible).

    Parameters
    ----------
    accent : np.ndarray [shape=(B,), float64]
        From :func:`beat_accent`, one per beat.
    meter : int >= 2
    trials : int
        Shuffles that estimate chance.

    Returns
    -------
    float
        About 0 for no grouping, above 2 for a clear one.
    """

    def contrast(values: np.ndarray) -> float:
        total = values.sum()
        best = -np.inf
        for phase in range(meter):
            chosen = values[phase::meter]
            rest = (total - chosen.sum()) / max(values.size - chosen.size, 1)
            best = max(best, chosen.mean() - rest)
        return best

    rng = np.random.default_rng(meter)
    chance = np.array([contrast(rng.permutation(accent)) for _ in range(trials)])
    return float((contrast(accent) - chance.mean()) / (chance.std() + 1e-9))


def infer_bars(
    accent: np.ndarray, tempo_bpm: float = 0.0, *, meter: int | None = None, compound: bool = False
) -> tuple[int, np.ndarray]:
    """Meter and each beat's place in the bar.

    The meter is the one of 2, 3 and 4 whose accent grouping stands out most from chance
    (:func:`meter_evidence`) after a small prior for 4 and 3, the meters music is most often in;
    for beats that divide into three (``compound``) the prior favours 2 and 3 instead (6/8 and
    9/8 are far commoner than 12/8).
    Where no meter's accents group beyond ``NO_GROUPING_SD`` of chance, the accents tell
    nothing: the prior's meter, its bars from the first beat.
    Six is chosen only on compound evidence: triple groups of fast beats (at least
    ``COMPOUND_MIN_BPM``, so quavers of a 6/8) whose bars alternate strong and weak. The
    positions then come from Viterbi decoding: a beat moves on by one place, or rarely
    anywhere, which absorbs a missed or extra beat; a downbeat gains ``accent``, the other
    places lose a little.

    Parameters
    ----------
    accent : np.ndarray [shape=(B,), float64]
        From :func:`beat_accent`.
    tempo_bpm : float >= 0
        Beats per minute, for the compound test (0 rules six out).
    meter : int > 1 or None
        A given meter; only the positions are then inferred.
    compound : bool
        Whether the beats divide into three (:func:`compound_beat`).

    Returns
    -------
    meter : int
    bar_position : np.ndarray [shape=(B,), int]
    """
    if meter is not None:
        return meter, bar_positions(accent, meter)
    prior = COMPOUND_METER_PRIOR if compound else METER_PRIOR
    grouping = {m: meter_evidence(accent, m) for m in (2, 3, 4) if accent.size >= 2 * m}
    if not grouping or max(grouping.values()) < NO_GROUPING_SD:
        meter = max(prior, key=lambda m: prior[m])
        return meter, np.arange(accent.size) % meter
    evidence = {m: grouping[m] + prior[m] for m in grouping}
    meter = max(evidence, key=lambda m: evidence[m])
    if meter == 3 and tempo_bpm >= COMPOUND_MIN_BPM and accent.size >= 24:
        phase = int(np.argmax([accent[p::3].mean() for p in range(3)]))
        bar_accent = accent[phase::3]
        if meter_evidence(bar_accent, 2) > COMPOUND_EVIDENCE:
            meter = 6
    return meter, bar_positions(accent, meter)


def bar_positions(accent: np.ndarray, meter: int) -> np.ndarray:
    """Each beat's place in a bar of ``meter`` beats, by Viterbi decoding of the accents
    (``accent`` [shape=(B,), float64] from :func:`beat_accent`).

    Returns
    -------
    np.ndarray [shape=(B,), int] in [0, meter)
    """
    transition = np.full((meter, meter), np.log(0.005 / meter))
    for position in range(meter):
        transition[position, (position + 1) % meter] = np.log(0.995)
    emission = np.tile(-accent[:, None] / (meter - 1), (1, meter))
    emission[:, 0] = accent
    value = emission[0].copy()
    back = np.zeros((accent.size, meter), int)
    for b in range(1, accent.size):
        total = value[:, None] + transition
        back[b] = np.argmax(total, axis=0)
        value = total[back[b], np.arange(meter)] + emission[b]
    path = np.zeros(accent.size, int)
    if accent.size:
        path[-1] = int(np.argmax(value))
        for b in range(accent.size - 1, 0, -1):
            path[b - 1] = back[b, path[b]]
    return path
