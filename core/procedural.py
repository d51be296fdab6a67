"""The procedural conductor: beat patterns drawn exactly on the music's tracked beats.

Where M2S-GAN learns motion from data, this mode builds it from the rules a conducting class
teaches: each meter has its classic pattern (2, 3, 4 and 6 beats), every beat's ictus is the
lowest point of the right hand's bounce and falls exactly on the tracked beat, the size of the
gesture follows the loudness, the last beat of a bar rebounds high to prepare the downbeat, the
hand holds through fermatas and rests when the music stops. The left hand mirrors the right,
rests in quiet passages and now and then cues an entrance on its own. Head, shoulders and hips
follow. A seeded random generator adds human irregularity, scaled by ``variation``.

Keypoints use the model's image conventions (x, y in [0, 1], y down, the conductor's left at
larger x) and the scale of its output: shoulders about 0.17 apart at y 0.45, hips at y 0.75.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

from .beats import BeatTrack, track_beats
from .errors import CancelledError, ConductorError
from .mel import SAMPLE_RATE_HZ, frame_count_30fps, frame_count_90hz
from .motion import MODEL_FPS, Motion
from .skeleton import JOINT_INDEX

# Rest pose of the whole body, image coordinates (x right, y down), from the model's typical
# output with the hands lowered in front of the waist; the eyes sit level with the ears as there
# (higher eyes lift to a head tipped back by 20 degrees in 3D).
REST_POSE = {
    "nose": (0.500, 0.386),
    "left_eye": (0.516, 0.367),
    "right_eye": (0.484, 0.367),
    "left_ear": (0.540, 0.364),
    "right_ear": (0.460, 0.364),
    "left_shoulder": (0.585, 0.452),
    "right_shoulder": (0.415, 0.452),
    "left_elbow": (0.625, 0.575),
    "right_elbow": (0.375, 0.575),
    "left_wrist": (0.570, 0.690),
    "right_wrist": (0.430, 0.690),
    "left_hip": (0.555, 0.750),
    "right_hip": (0.445, 0.750),
}
BODY_CENTRE_X = 0.5
BEAT_PLANE_Y = 0.64  # height of every ictus of the right hand
RIGHT_HAND_CENTRE_X = 0.41
ELBOW_OUT, ELBOW_DOWN = 0.05, 0.02  # elbow offset from the shoulder-wrist line
SIZE_RANGE = (0.07, 0.22)  # height of a full preparation, soft to loud
LATERAL_SCALE = 0.75  # lateral pattern units per unit of size
SILENCE_DB = -45.0  # below the piece's loud level: no music
QUIET_DB = -14.0  # below it the left hand rests
HOLD_FACTOR = 1.7  # a gap this many periods long is a hold (fermata or rest)

# Where each beat's ictus lies across the beat plane, in units of gesture size; positive is
# away from the body (the conductor's right, smaller image x). Beat 1 is always in the middle.
ICTUS_LATERAL = {
    2: (0.0, 0.35),
    3: (0.0, 0.75, 0.30),
    4: (0.0, -0.65, 0.75, 0.25),
    6: (0.0, -0.35, -0.65, 0.45, 0.80, 0.30),
}
# Rebound height after each beat, as a fraction of a full preparation; the last beat of the
# bar rebounds all the way up to prepare the downbeat.
REBOUND = {
    2: (0.55, 1.0),
    3: (0.45, 0.55, 1.0),
    4: (0.40, 0.40, 0.55, 1.0),
    6: (0.35, 0.30, 0.40, 0.35, 0.50, 1.0),
}
PEAK_AT = 0.7  # rebound shape sin(pi s^0.7): quick rise, falls into the next ictus


def conduct(
    samples: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    *,
    seed: int | None = 0,
    variation: float = 1.0,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    meter: int | None = None,
) -> Motion:
    """Conducting motion for a piece of music, on its tracked beats.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (use :func:`core.audio.load_audio`); at least 1 s.
    sample_rate_hz : int > 0
        Rate of ``samples`` in Hz; other rates than 22,050 Hz are resampled for the analysis.
    seed : int or None
        Seed of the human irregularity; None draws a fresh one.
    variation : float >= 0
        Scale of the irregularity: 0 gives the exact textbook pattern, 1 a natural amount.
    progress : callable(fraction, message) or None
        Called with a fraction in [0, 1] and a short message as the work advances.
    should_cancel : callable() -> bool or None
        Polled between stages; returning True raises :class:`core.errors.CancelledError`.
    meter : {2, 3, 4, 6} or None
        Beats per bar to conduct in, overriding the detected meter (e.g. 6 for a slow 6/8
        whose quavers are tracked as beats); None detects it.

    Returns
    -------
    Motion
        ``keypoints`` [shape=(T, 13, 2), float32] at 30 fps with
        ``T = frame_count_30fps(frame_count_90hz(n, sample_rate_hz))``, the neural generator's
        frame count; ``weights_id`` "procedural"; ``extra`` holds ``beats_s``, ``downbeats_s``
        (lists of seconds), ``meter`` (beats per bar), ``tempo_bpm`` and ``variation``.
    """
    report = progress or (lambda fraction, message: None)
    cancelled = should_cancel or (lambda: False)

    def checkpoint(fraction: float, message: str) -> None:
        if cancelled():
            raise CancelledError()
        report(fraction, message)

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    frame_count = frame_count_30fps(frame_count_90hz(samples.shape[0], sample_rate_hz))
    if frame_count < 1 or samples.shape[0] < sample_rate_hz // 2:
        raise ConductorError("The audio is too short to conduct; give at least 1 second of music.")
    if not np.all(np.isfinite(samples)):
        raise ConductorError("The audio contains NaN or infinite samples; re-export the file.")
    variation = float(variation)
    if not (np.isfinite(variation) and variation >= 0):
        raise ConductorError(f"Variation must be 0 or more, got {variation!r}; use 0 to 2.")

    if meter is not None and meter not in ICTUS_LATERAL:
        raise ConductorError(f"Meter must be 2, 3, 4 or 6 beats per bar, got {meter!r}; leave it unset to detect it.")

    checkpoint(0.0, "Tracking beats")
    if sample_rate_hz != SAMPLE_RATE_HZ:
        import soxr

        samples = soxr.resample(samples, sample_rate_hz, SAMPLE_RATE_HZ).astype(np.float32)
    track = track_beats(samples, SAMPLE_RATE_HZ, meter=meter)
    checkpoint(0.5, "Measuring loudness")
    times_s = np.arange(frame_count) / MODEL_FPS
    loudness_db = loudness_30fps(samples, SAMPLE_RATE_HZ, frame_count)
    rng = np.random.default_rng(seed)
    checkpoint(0.6, "Drawing the beat pattern")
    keypoints = draw(track, loudness_db, times_s, rng, variation)
    checkpoint(1.0, "Done")
    return Motion(
        keypoints=keypoints,
        fps=MODEL_FPS,
        seed=seed,
        weights_id="procedural",
        extra={
            "beats_s": [round(float(b), 4) for b in track.beats_s],
            "downbeats_s": [round(float(b), 4) for b in track.downbeats_s],
            "meter": int(track.meter),
            "tempo_bpm": round(float(track.tempo_bpm), 2),
            "variation": variation,
        },
    )


def loudness_30fps(samples: np.ndarray, sample_rate_hz: int, frame_count: int) -> np.ndarray:
    """RMS level in dB relative to the piece's loud level, one value per motion frame.

    Returns
    -------
    np.ndarray [shape=(frame_count,), float64] <= ~0
        0 dB is the 95th percentile of the frame levels; digital silence reads -120 dB.
    """
    hop = sample_rate_hz / MODEL_FPS
    centres = (np.arange(frame_count) * hop).astype(int)
    half = int(hop)  # two motion frames wide
    energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    low = np.clip(centres - half, 0, samples.shape[0])
    high = np.clip(centres + half, 0, samples.shape[0])
    rms = np.sqrt((energy[high] - energy[low]) / np.maximum(high - low, 1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-6))
    reference = np.percentile(db, 95)
    if reference < -100.0:  # digital silence throughout
        return np.full(frame_count, -120.0)
    return ndimage.uniform_filter1d(db - reference, 9, mode="nearest")  # 0.3 s


def draw(
    track: BeatTrack, loudness_db: np.ndarray, times_s: np.ndarray, rng: np.random.Generator, variation: float
) -> np.ndarray:
    """All 13 keypoints for every frame.

    Returns
    -------
    np.ndarray [shape=(T, 13, 2), float32] in [0, 1]
    """
    frame_count = times_s.size
    pose = np.tile(np.array([REST_POSE[name] for name in REST_POSE], dtype=np.float64), (frame_count, 1, 1))
    sounding = smooth(loudness_db > SILENCE_DB, 0.25)
    beats_s = track.beats_s
    if beats_s.size < 2:
        return pose.astype(np.float32)  # nothing to beat: stand still

    meter = track.meter if track.meter in ICTUS_LATERAL else 4
    positions = np.mod(track.bar_position, meter)
    period_s = np.median(np.diff(beats_s))
    size_at = lambda t: np.interp(t, times_s, gesture_size(loudness_db))

    # The right hand: one segment from each ictus to the next, plus a preparation before the
    # first beat and a release after the last one.
    jitter = variation * rng.standard_normal((beats_s.size, 2))
    lateral = np.array([ICTUS_LATERAL[meter][p] for p in positions]) + 0.10 * jitter[:, 0]
    rebound = np.array([REBOUND[meter][p] for p in positions]) * (1.0 + 0.12 * np.clip(jitter[:, 1], -2, 2))
    sizes = size_at(beats_s)
    phase, segment = beat_phase(times_s, beats_s, period_s)
    first, last = segment < 0, segment >= beats_s.size - 1
    k = np.clip(segment, 0, beats_s.size - 1)
    k_next = np.clip(segment + 1, 0, beats_s.size - 1)
    ease = phase * phase * (3.0 - 2.0 * phase)
    lateral_now = np.where(first, lateral[0], lateral[k] + (lateral[k_next] - lateral[k]) * ease)
    height = np.where(first, 1.0, rebound[k]) * np.sin(np.pi * phase**PEAK_AT)
    # After the last beat the hand rises into a held release instead of falling again.
    height = np.where(last, rebound[k] * np.sin(0.5 * np.pi * np.minimum(1.0, phase / 0.37)), height)
    lateral_now = np.where(last, lateral[k], lateral_now)
    size_now = np.where(first, sizes[0], sizes[k] + (sizes[k_next] - sizes[k]) * ease)
    right = np.stack(
        [RIGHT_HAND_CENTRE_X - LATERAL_SCALE * size_now * lateral_now, BEAT_PLANE_Y - size_now * height], axis=1
    )
    drift = variation * slow_noise(rng, frame_count, 2, 0.004)
    right += drift

    # Active from a preparation before the first beat until the release after the last one,
    # and only while something sounds.
    span = ((times_s >= beats_s[0] - 1.2 * period_s) & (times_s <= beats_s[-1] + 1.5 * period_s)).astype(float)
    near_beat = phase_in_gap(times_s, beats_s, period_s)
    active = np.clip(smooth(span * np.maximum(sounding, near_beat), 0.3), 0.0, 1.0)[:, None]
    rest_right = pose[:, JOINT_INDEX["right_wrist"]]
    right = rest_right + active * (right - rest_right)

    # The left hand mirrors, rests when the music is quiet, and cues big entrances.
    mirrored = np.stack([2.0 * BODY_CENTRE_X - right[:, 0], right[:, 1]], axis=1)
    mirrored += variation * slow_noise(rng, frame_count, 2, 0.006)
    rest_left = pose[:, JOINT_INDEX["left_wrist"]]
    joining = smooth(loudness_db > QUIET_DB, 0.6)[:, None] * active
    left = rest_left + joining * (mirrored - rest_left)
    cue_weight = cue_envelope(track, loudness_db, times_s, period_s, rng, variation)[:, None]
    cue_point = np.array([0.66, 0.42])
    left = left + cue_weight * (cue_point - left)

    pose[:, JOINT_INDEX["right_wrist"]] = right
    pose[:, JOINT_INDEX["left_wrist"]] = left
    move_body(pose, track, times_s, period_s, active[:, 0], cue_weight[:, 0], rng, variation)
    return np.clip(pose, 0.0, 1.0).astype(np.float32)


def beat_phase(times_s: np.ndarray, beats_s: np.ndarray, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each frame lies between two beats: (phase in [0, 1], index of the beat before).

    Index -1 is the preparation (one period before the first beat). In a hold (a gap longer
    than ``HOLD_FACTOR`` periods) the rebound takes its usual time, the hand waits at the top,
    and the fall into the next beat takes its usual time again.

    Returns
    -------
    phase : np.ndarray [shape=(T,), float64]
    segment : np.ndarray [shape=(T,), int]
    """
    segment = np.searchsorted(beats_s, times_s, side="right") - 1
    start = np.where(segment >= 0, beats_s[np.clip(segment, 0, None)], beats_s[0] - period_s)
    end = np.where(segment + 1 < beats_s.size, beats_s[np.clip(segment + 1, 0, beats_s.size - 1)], start + period_s)
    length = np.maximum(end - start, 1e-6)
    phase = (times_s - start) / length
    held = length > HOLD_FACTOR * period_s
    rise = (times_s - start) / period_s
    fall = 1.0 - (end - times_s) / period_s
    peak = 0.5 ** (1.0 / PEAK_AT)  # phase of the rebound's top
    held_phase = np.where(rise < peak, rise, np.where(fall > peak, fall, peak))
    phase = np.where(held, held_phase, phase)
    return np.clip(phase, 0.0, 1.0), segment


def phase_in_gap(times_s: np.ndarray, beats_s: np.ndarray, period_s: float) -> np.ndarray:
    """1 within a beat period of any beat, else 0: the hands stay up through a short silence."""
    after = np.clip(np.searchsorted(beats_s, times_s), 0, beats_s.size - 1)
    before = np.clip(after - 1, 0, beats_s.size - 1)
    nearest = np.minimum(np.abs(times_s - beats_s[after]), np.abs(times_s - beats_s[before]))
    return (nearest <= period_s).astype(float)


def gesture_size(loudness_db: np.ndarray) -> np.ndarray:
    """Height of a full preparation for each frame, from soft (-24 dB) to loud (0 dB)."""
    loudness = np.clip((loudness_db + 24.0) / 24.0, 0.0, 1.0)
    return SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * smooth(loudness, 0.5)


def cue_envelope(
    track: BeatTrack, loudness_db: np.ndarray, times_s: np.ndarray, period_s: float,
    rng: np.random.Generator, variation: float,
) -> np.ndarray:
    """Weight in [0, 1] of the left hand's cue gesture: up a beat before, down on the cue.

    Cues go to downbeats where the music gets at least 6 dB louder than in the bar before (an
    entrance), and with ``variation`` > 0 to a few more downbeats chosen at random.

    Returns
    -------
    np.ndarray [shape=(T,), float64]
    """
    weight = np.zeros(times_s.size)
    level = lambda t: np.interp(t, times_s, loudness_db)
    bar_s = period_s * track.meter
    last_cue = -np.inf
    for downbeat in track.downbeats_s:
        entrance = level(downbeat + 0.3 * period_s) - level(downbeat - 0.5 * bar_s) >= 6.0
        chosen = rng.random() < 0.08 * min(variation, 2.0)
        if (entrance or chosen) and downbeat - last_cue > 2 * bar_s and downbeat > period_s:
            last_cue = downbeat
            # Rise over the beat before, point on the downbeat, let go over the next two beats.
            offset = (times_s - downbeat) / period_s
            shape = np.where(offset < 0, np.clip(1.0 + offset, 0.0, 1.0), np.clip(1.0 - offset / 2.0, 0.0, 1.0))
            weight = np.maximum(weight, np.sin(0.5 * np.pi * shape) ** 2)
    return weight


def move_body(
    pose: np.ndarray, track: BeatTrack, times_s: np.ndarray, period_s: float, active: np.ndarray,
    cue: np.ndarray, rng: np.random.Generator, variation: float,
) -> None:
    """Elbows from the wrists, shoulders lifted by the arms, a head that nods on downbeats.

    Works in place on ``pose`` [shape=(T, 13, 2)], whose wrists are already set.
    """
    index = JOINT_INDEX
    frame_count = times_s.size
    for side, outward in (("right", -1.0), ("left", 1.0)):
        shoulder = pose[:, index[f"{side}_shoulder"]]
        wrist = pose[:, index[f"{side}_wrist"]]
        rest_wrist = np.array(REST_POSE[f"{side}_wrist"])
        # Raising a hand lifts its shoulder a little and pulls it toward the hand.
        shoulder[:, 1] -= 0.12 * np.maximum(0.0, rest_wrist[1] - wrist[:, 1])
        shoulder[:, 0] += 0.05 * (wrist[:, 0] - rest_wrist[0])
        pose[:, index[f"{side}_elbow"]] = elbow_between(shoulder, wrist, outward)

    # Head: a small nod after each downbeat, a turn toward a cue, a slow sway.
    nod = np.zeros(frame_count)
    for downbeat in track.downbeats_s:
        offset = (times_s - downbeat) / period_s
        nod += np.where((offset >= 0) & (offset < 1), np.sin(np.pi * np.clip(offset, 0, 1)), 0.0)
    sway = variation * slow_noise(rng, frame_count, 2, 0.003)
    head = np.stack([0.012 * cue, 0.010 * nod * active], axis=1) + sway * active[:, None]
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):
        pose[:, index[name]] += head
    hips = variation * slow_noise(rng, frame_count, 1, 0.001) * active[:, None]
    for name in ("left_hip", "right_hip"):
        pose[:, index[name], 0] += hips[:, 0]


def elbow_between(shoulder: np.ndarray, wrist: np.ndarray, outward: float) -> np.ndarray:
    """Elbow positions a little past halfway from shoulder to wrist, pushed out and down.

    A fixed offset rather than two-bone inverse kinematics: in the image the forearm often
    points at the camera, so projected bone lengths vary, and an IK elbow flips between its two
    solutions; the model's elbows sit about here (0.05 out, 0.02 down of the line).

    Parameters
    ----------
    shoulder, wrist : np.ndarray [shape=(T, 2)]
    outward : float
        -1 for the right arm (out is toward smaller x), +1 for the left.

    Returns
    -------
    np.ndarray [shape=(T, 2)]
    """
    return shoulder + 0.55 * (wrist - shoulder) + np.array([outward * ELBOW_OUT, ELBOW_DOWN])


def smooth(values: np.ndarray, seconds: float) -> np.ndarray:
    """A moving average over ``seconds`` at 30 fps, for blending weights."""
    width = max(1, int(round(seconds * MODEL_FPS)))
    return ndimage.uniform_filter1d(np.asarray(values, dtype=np.float64), width, mode="nearest")


def slow_noise(rng: np.random.Generator, frame_count: int, channels: int, amplitude: float) -> np.ndarray:
    """Smooth random drift, about one wiggle per two seconds.

    Returns
    -------
    np.ndarray [shape=(frame_count, channels), float64]
        Standard deviation about ``amplitude``.
    """
    noise = rng.standard_normal((frame_count, channels))
    smoothed = ndimage.gaussian_filter1d(noise, sigma=0.4 * MODEL_FPS, axis=0, mode="nearest")
    spread = smoothed.std() if frame_count > 1 else 1.0
    return amplitude * smoothed / max(spread, 1e-9)
