"""The procedural conductor: textbook beat patterns drawn exactly on the music's tracked beats.

Where M2S-GAN learns motion from data, this mode builds it from the rules a conducting class
teaches (Rudolf, *The Grammar of Conducting*): each meter has its pattern (1, 2, 3, 4, 5 as 2+3
or 3+2, and 6), beat 1 falls straight down, the last beat rises to prepare the next bar, in 4
the second beat crosses the body and the third goes out wide, in 3 the second goes out wide.
Every beat's ictus is the lowest point of the right hand and falls exactly on the tracked beat.
The strokes are round and continuous for legato, straight with a sharp stop and a quick
rebound for staccato and marcato (read from the audio, see :mod:`core.procedural.articulation`). Their
size follows each beat's loudness at the scale of real conductors (the hand travels about two
shoulder widths). The piece opens with a preparatory beat one beat ahead, in tempo; fermatas
are held and released; the last note is cut off. The left hand mirrors at 70 % in loud
passages, rises palm up through a crescendo, lowers palm down to calm, cues entrances and
otherwise rests. The torso leans with intensity and gives a little into each beat, the head
turns toward the beating hand, the shoulders lift on big preparations. A seeded random
generator adds human irregularity, scaled by ``variation``.

Keypoints use the model's image conventions (x, y in [0, 1], y down, the conductor's left at
larger x) and the scale of its output: shoulders about 0.17 apart at y 0.45, hips at y 0.75.
The arms are solved as two bones of constant length in 3D and projected, so the elbows sit
where a real arm puts them and the retargeting lifts them back without stretching.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .articulation import BeatSound, articulation_weights, beat_sound
from ..beats.track import CONDUCTED_METERS, TRACKED_METERS, BeatTrack, local_period_s
from ..beats.tracking import track_beats
from .style import ARTICULATIONS, ConductingStyle
from ..errors import CancelledError, ConductorError
from ..audio.mel import SAMPLE_RATE_HZ, frame_count_30fps, frame_count_90hz
from ..motion.keypoints import MOTION_FPS, Motion
from ..audio.filters import gaussian_smooth, running_mean, running_min, true_runs
from ..motion.skeleton import JOINT_INDEX

# Rest pose of the whole body, image coordinates (x right, y down), from the model's typical
# output with the hands lowered in front of the waist; the eyes sit level with the ears as there
# (higher eyes lift to a head tipped back by 20 degrees in 3D). The elbows are solved from the
# wrists (see :func:`elbow_positions`); these two are where that puts them at rest.
REST_POSE = {
    "nose": (0.500, 0.386),
    "left_eye": (0.516, 0.367),
    "right_eye": (0.484, 0.367),
    "left_ear": (0.540, 0.364),
    "right_ear": (0.460, 0.364),
    "left_shoulder": (0.585, 0.452),
    "right_shoulder": (0.415, 0.452),
    "left_elbow": (0.640, 0.597),
    "right_elbow": (0.360, 0.597),
    "left_wrist": (0.570, 0.690),
    "right_wrist": (0.430, 0.690),
    "left_hip": (0.555, 0.750),
    "right_hip": (0.445, 0.750),
}
BODY_CENTRE_X = 0.5
SHOULDER_WIDTH = REST_POSE["left_shoulder"][0] - REST_POSE["right_shoulder"][0]  # image units
BEAT_PLANE_Y = 0.68  # height of beat 1's ictus, the lowest of the pattern, at the waist
PATTERN_CENTRE_X = 0.44  # where beat 1 falls: in front of the right half of the chest
TOP_Y, TOP_SOFTNESS = 0.28, 0.03  # the hand rises to the top of the head at most, easing in over this

# The arm as two bones in 3D, image units: the model's upper arms and forearms seen side-on
# (95th percentile of the official network's image lengths: 0.158 and 0.143).
UPPER_ARM_LENGTH, FOREARM_LENGTH = 0.16, 0.145
REACH_SHARE = 0.97  # of the arm's length: the elbow never locks straight
# How far in front of the shoulders the beating hand works (toward the camera), image units:
# further forward across the body, so the hand passes in front of the chest.
HAND_DEPTH, HAND_DEPTH_ACROSS = 0.12, 0.06
# Where each elbow points (x toward the conductor's left, y down, z toward the camera): out,
# down and a little forward; palm up (asking) tucks it down to the body, palm down lifts it out.
ELBOW_POLE = np.array([0.5, 1.0, 0.2])
ELBOW_POLE_PALM_UP = np.array([0.25, 1.0, 0.3])
ELBOW_POLE_PALM_DOWN = np.array([1.0, 0.15, 0.2])


@dataclasses.dataclass(frozen=True)
class Pattern:
    """One meter's beat pattern for the right hand at gesture size 1.

    Points are (outward, height) in image units from (``PATTERN_CENTRE_X``, ``BEAT_PLANE_Y``):
    outward is toward the conductor's right (smaller image x), height is up.

    Attributes
    ----------
    ictus : tuple of (float, float), one per beat of the bar
        Where each beat lands.
    rebound : tuple of (float, float), one per beat of the bar
        The top of the rebound after each beat; the last one prepares the next downbeat.
    """

    ictus: tuple[tuple[float, float], ...]
    rebound: tuple[tuple[float, float], ...]


# Textbook geometry (Rudolf): 1 straight down, the last beat up, in 4 the second beat across the
# body and the third out wide, in 3 the second out wide; 5 is a 4 with a second beat on the
# right (2+3) or on the left (3+2); 6 is the German six (two small beats in, two out, one up);
# 5 and 6 lift before they cross the body and before the last beat.
# Every rebound stands at least 0.08 above the ictus before and after it, so each ictus stays a
# clear lowest point even at pianissimo.
PATTERNS: dict[str, Pattern] = {
    "1": Pattern(ictus=((0.0, 0.0),), rebound=((0.0, 0.34),)),
    "2": Pattern(ictus=((0.0, 0.0), (0.12, 0.03)), rebound=((0.28, 0.18), (-0.05, 0.35))),
    "3": Pattern(ictus=((0.0, 0.0), (0.20, 0.02), (0.07, 0.05)), rebound=((-0.11, 0.15), (0.21, 0.18), (-0.01, 0.35))),
    "4": Pattern(
        ictus=((0.0, 0.0), (-0.12, 0.03), (0.19, 0.02), (0.07, 0.05)),
        rebound=((-0.05, 0.14), (-0.14, 0.17), (0.20, 0.18), (0.01, 0.35)),
    ),
    "2+3": Pattern(
        ictus=((0.0, 0.0), (-0.12, 0.03), (0.13, 0.02), (0.22, 0.03), (0.07, 0.05)),
        rebound=((-0.05, 0.14), (-0.14, 0.22), (0.16, 0.13), (0.23, 0.22), (0.01, 0.35)),
    ),
    "3+2": Pattern(
        ictus=((0.0, 0.0), (-0.07, 0.03), (-0.14, 0.04), (0.19, 0.02), (0.07, 0.05)),
        rebound=((-0.04, 0.13), (-0.10, 0.13), (-0.15, 0.22), (0.20, 0.22), (0.01, 0.35)),
    ),
    "6": Pattern(
        ictus=((0.0, 0.0), (-0.07, 0.03), (-0.14, 0.04), (0.13, 0.02), (0.21, 0.03), (0.065, 0.05)),
        rebound=((-0.04, 0.15), (-0.10, 0.16), (-0.15, 0.29), (0.14, 0.16), (0.21, 0.29), (0.01, 0.35)),
    ),
}

# Stroke timing, as shares of the beat: the legato rebound peaks a little before half way; a
# detached stroke is up by ``up``, waits, and falls from ``fall`` (staccato is lighter and later).
LEGATO_PEAK = 0.45
STACCATO_UP, STACCATO_FALL = 0.22, 0.72
MARCATO_UP, MARCATO_FALL = 0.28, 0.60
ICTUS_STOP_S = 0.05  # a detached stroke stops this long at the ictus before it rebounds
# A detached stroke's rebound takes at least this long (at most 0.4 of what is left of the beat,
# for fast tempi): at 130 a minute its share of the beat alone left a staccato rebound 0.05 s to
# cross most of the pattern's height, 1.2-1.4 shoulder widths in one frame. A slower rebound
# would put the ictus, the smoothed lowest point, a frame after the beat.
DETACHED_REBOUND_MIN_S = 0.08
ROUNDNESS = 0.6  # share of the Catmull-Rom tangents a legato path takes: 0 would be straight
ARTICULATION_SIZE = {"legato": 1.0, "staccato": 0.9, "marcato": 1.12}  # relative gesture size
SIZE_PER_DB = 1.0 / 20.0  # gesture size change per dB from the piece's median beat (energy 1)
SIZE_LIMITS = (0.35, 1.4)  # gesture size from pianissimo to fortissimo (1 = mezzo-forte)
METRIC_ACCENT_SHARE = 0.7  # of each beat's level above its bar's mean, taken out before sizing
LOUDNESS_SMEAR_S = 0.17  # how far :func:`loudness_30fps` smears a level change forward and back

SILENCE_DB = -45.0  # below the piece's loud level: no music
END_DB = -30.0  # below the piece's loud level: the last note (or a fermata) has stopped
END_SILENCE_S = 0.3  # ... for at least this long
NOISE_CELL_S = 0.1  # the human irregularity of a beat is drawn for its tenth of a second
HOLD_HEIGHT = 0.17  # least height above the beat plane of a held hand (size 1)
RAISE_S, READY_HOLD_S = 0.8, 0.5  # hands up from rest, then still, before the preparation
POST_CUTOFF_S, LOWER_S = 0.6, 1.5  # still after a cut-off, then down to rest
LONG_REST_S = 3.0  # a silence this long after a release: the hands go down and come back
CUTOFF_BEATS = 0.75  # length of a cut-off stroke, in beats (at most 0.6 s)
SHORT_NOTE_BEATS = 0.6  # a held beat whose sound stops this soon is cut off at its ictus
RELEASE_LIFT, RELEASE_LIFT_S = 0.04, 0.3  # ... and the hand lifts off it this much (image units), this fast
# The cut-off: a small loop out and down from the held point, then a quick close in and up
# that stops on the release (up, so that it does not read as another ictus); size 1.
CUTOFF_HOOK = (0.03, -0.02)
CUTOFF_CLOSE = (-0.05, 0.04)

LEFT_MIRROR_SHARE = 0.7  # the left hand mirrors the pattern at this size
MIRROR_DB = 2.0  # beats this much louder than the piece's median: the left hand mirrors (activity 1)
CRESCENDO_DB_PER_S = 1.0  # a level trend this steep for ``DYNAMIC_MIN_S``: crescendo or diminuendo
DYNAMIC_MIN_S = 1.5
TREND_SMOOTHING_S = 1.0  # the trend is of the level smoothed by a Gaussian this wide (sigma)
SUBITO_DB = 8.0  # a beat this much softer than the one before: subito piano, the left hand calms
ASK_FROM, ASK_TO = (0.625, 0.60), (0.64, 0.44)  # the left wrist rising palm up through a crescendo
CALM_FROM, CALM_TO = (0.65, 0.55), (0.65, 0.66)  # ... and lowering palm down to calm
CUE_POINT = (0.66, 0.42)  # the left hand points up and out to an entrance
ENTRANCE_DB = 6.0  # a downbeat this much louder than the bar before is an entrance to cue

LEAN_MAX_RAD = np.radians(9.0)  # forward lean at the loudest, energy 1
TORSO_IMAGE_HEIGHT = 0.30  # hips to shoulders in the image


# The body this conductor is drawn from, for the lift to 3D (instead of estimating it from the
# piece, which an edited beat would shift everywhere): core.retarget.lift_to_3d(skeleton_units=...).
def _rest_distance(a: tuple[str, str], b: tuple[str, str]) -> float:
    """Image distance between the midpoints of two pairs of joints of the rest pose."""
    mid_a, mid_b = (np.mean([REST_POSE[name] for name in pair], axis=0) for pair in (a, b))
    return float(np.linalg.norm(mid_a - mid_b))


SKELETON_UNITS = {
    "shoulder_width": SHOULDER_WIDTH,
    "torso_height": TORSO_IMAGE_HEIGHT,
    "torso": TORSO_IMAGE_HEIGHT,
    "upper_arm": UPPER_ARM_LENGTH,
    "forearm": FOREARM_LENGTH,
    "shoulder_half": SHOULDER_WIDTH / 2,
    "hip_half": (REST_POSE["left_hip"][0] - REST_POSE["right_hip"][0]) / 2,
    "ear_half": (REST_POSE["left_ear"][0] - REST_POSE["right_ear"][0]) / 2,
    "neck": _rest_distance(("left_ear", "right_ear"), ("left_shoulder", "right_shoulder")),
}
HEAD_YAW_MAX_RAD = np.radians(12.0)  # the head turns toward the beating hand, at most this much
CUE_YAW_RAD = np.radians(15.0)  # ... and toward a cue of the left hand
NOD_RAD = np.radians(6.0)  # a small nod after each downbeat
# Depth of the face points in front of the ears' midpoint (image units), for turning the head.
FACE_DEPTH = {"nose": 0.05, "left_eye": 0.035, "right_eye": 0.035, "left_ear": 0.0, "right_ear": 0.0}
BREATH_Y = 0.012  # both shoulders lift this much on a big preparation
BOB_Y = 0.005  # the shoulders give this much into each ictus (size 1)


def conduct(
    samples: np.ndarray,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    *,
    seed: int | None = 0,
    variation: float = 1.0,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    meter: int | None = None,
    style: ConductingStyle | None = None,
    beats: BeatTrack | None = None,
    tracker: str = "auto",
) -> Motion:
    """Conducting motion for a piece of music, on its tracked beats.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (use :func:`core.audio.decode.load_audio`); at least 1 s.
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
    meter : {1, 2, 3, 4, 5, 6} or None
        Beats per bar to conduct in, overriding the detected meter (e.g. 6 for a slow 6/8
        whose quavers are tracked as beats, 1 for a fast waltz tracked one beat a bar); a 5 is
        beaten 2+3 or 3+2 as its accents group. None detects it.
    style : ConductingStyle or None
        Gesture size, energy, stroke style and left-hand activity; None for the defaults.
    beats : BeatTrack or None
        Beats, bars and meter to conduct (e.g. a score's) instead of tracking them; then
        ``meter`` must be None.
    tracker : {"auto", "learned", "dsp"}
        Which tracker of :func:`core.beats.tracking.track_beats` finds the beats when none are given.

    Returns
    -------
    Motion
        ``keypoints`` [shape=(T, 13, 2), float32] at 30 fps with
        ``T = frame_count_30fps(frame_count_90hz(n, sample_rate_hz))``, the neural generator's
        frame count; ``weights_id`` "procedural"; ``extra`` holds ``beats_s``, ``downbeats_s``
        (lists of seconds), ``meter`` (beats per bar), ``pattern`` (e.g. "4", "3+2"),
        ``tempo_bpm``, ``tracker`` (:attr:`core.beats.track.BeatTrack.tracker`), ``variation``,
        ``articulation`` (share of the beats conducted legato, staccato and marcato) and
        ``style`` (the controls used).
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
    if meter is not None and meter not in CONDUCTED_METERS:
        raise ConductorError(
            f"Meter must be 1, 2, 3, 4, 5 or 6 beats per bar, got {meter!r}; leave it unset to detect it."
        )
    style = style or ConductingStyle()
    if beats is not None and meter is not None:  # front ends refuse it first (core.generate_options.RULES)
        raise ValueError("conduct() takes the meter from the given beats; pass beats or a meter, not both")
    if beats is not None and beats.meter not in CONDUCTED_METERS:
        raise ConductorError(
            f"The beats' meter must be 1, 2, 3, 4, 5 or 6 beats per bar, got {beats.meter!r}; "
            "regroup them into one of those."
        )

    checkpoint(0.0, "Reading the given beats" if beats is not None else "Tracking beats")
    if sample_rate_hz != SAMPLE_RATE_HZ:
        import soxr

        samples = soxr.resample(samples, sample_rate_hz, SAMPLE_RATE_HZ).astype(np.float32)
    # The tracker knows the common meters; 1 and 5 are grouped here from its beats.
    track = beats or track_beats(
        samples, SAMPLE_RATE_HZ, meter=meter if meter in TRACKED_METERS else None, tracker=tracker
    )
    checkpoint(0.5, "Listening to the articulation")
    sound = beat_sound(samples, SAMPLE_RATE_HZ, track.beats_s)
    if meter in (1, 5):
        track = regroup(track, meter, sound.peak_db)
    pattern = pattern_name(track.meter, track.bar_position, sound.peak_db)
    times_s = np.arange(frame_count) / MOTION_FPS
    loudness_db = loudness_30fps(samples, SAMPLE_RATE_HZ, frame_count)
    rng = np.random.default_rng(seed)
    checkpoint(0.6, "Drawing the beat pattern")
    keypoints = draw(track, loudness_db, times_s, rng, variation, style=style, sound=sound, pattern=pattern)
    checkpoint(1.0, "Motion ready")
    used = used_articulation(sound, style, track.beats_s.size)
    return Motion(
        keypoints=keypoints,
        fps=MOTION_FPS,
        seed=seed,
        weights_id="procedural",
        extra={
            "beats_s": [round(float(b), 4) for b in track.beats_s],
            "downbeats_s": [round(float(b), 4) for b in track.downbeats_s],
            "meter": int(track.meter),
            "pattern": pattern,
            "tempo_bpm": round(float(track.tempo_bpm), 2),
            "tracker": track.tracker,  # "dsp", the learned tracker's weights id, or "given:..."
            "variation": variation,
            "articulation": {name: round(float(share), 3) for name, share in zip(ARTICULATIONS, used.mean(axis=0))}
            if used.size
            else {},
            "style": dataclasses.asdict(style),
            "skeleton_units": SKELETON_UNITS,
        },
    )


def regroup(track: BeatTrack, meter: int, accent_db: np.ndarray) -> BeatTrack:
    """The tracked beats in bars of 1 or 5: every beat a downbeat, or the downbeat where the
    accents (attack in dB, one per beat) are strongest on average."""
    beats_s = track.beats_s
    if meter == 1 or beats_s.size == 0:
        position = np.zeros(beats_s.size, dtype=int)
    else:
        phase = int(
            np.argmax([accent_db[p::meter].mean() if accent_db[p::meter].size else -np.inf for p in range(meter)])
        )
        position = (np.arange(beats_s.size) - phase) % meter
    return BeatTrack(
        beats_s=beats_s,
        downbeats_s=beats_s[position == 0],
        bar_position=position,
        meter=meter,
        tempo_bpm=track.tempo_bpm,
    )


def pattern_name(meter: int, bar_position: np.ndarray, accent_db: np.ndarray) -> str:
    """The key of :data:`PATTERNS` for a meter: a 5 is 2+3 when its third beat is accented
    more than its fourth, else 3+2; meters without a pattern are beaten in 4."""
    if meter == 5:
        third, fourth = (accent_db[bar_position == p].mean() if np.any(bar_position == p) else 0.0 for p in (2, 3))
        return "2+3" if third >= fourth else "3+2"
    return str(meter) if str(meter) in PATTERNS else "4"


def used_articulation(sound: BeatSound | None, style: ConductingStyle, beat_count: int) -> np.ndarray:
    """Per-beat weights of legato, staccato and marcato [shape=(B, 3)]: the style's, or the
    music's (legato without an analysis of it)."""
    if style.articulation != "auto":
        return np.tile(np.eye(3)[ARTICULATIONS.index(style.articulation)], (beat_count, 1))
    if sound is None or len(sound.dip_db) != beat_count:
        return np.tile(np.eye(3)[0], (beat_count, 1))
    return articulation_weights(sound)


def loudness_30fps(samples: np.ndarray, sample_rate_hz: int, frame_count: int) -> np.ndarray:
    """RMS level in dB relative to the piece's loud level, one value per motion frame.

    Returns
    -------
    np.ndarray [shape=(frame_count,), float64] <= ~0
        0 dB is the 95th percentile of the frame levels; digital silence reads -120 dB.
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


ENERGY_CHUNK_SAMPLES = 1 << 22  # float64 squares of ~3 minutes at a time, not of the whole piece


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


# ------------------------------------------------------------------------------- drawing
def draw(
    track: BeatTrack,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    rng: np.random.Generator,
    variation: float,
    *,
    style: ConductingStyle | None = None,
    sound: BeatSound | None = None,
    pattern: str | None = None,
) -> np.ndarray:
    """All 13 keypoints for every frame.

    Parameters
    ----------
    track : BeatTrack
        Beats, bar positions and meter (1 to 6; others are beaten in 4).
    loudness_db : np.ndarray [shape=(T,)]
        From :func:`loudness_30fps`.
    times_s : np.ndarray [shape=(T,)]
        Each frame's time in seconds.
    rng : np.random.Generator
        Source of the human irregularity.
    variation : float >= 0
        Its scale.
    style : ConductingStyle or None
    sound : BeatSound or None
        How each beat is played (:func:`core.procedural.articulation.beat_sound`): the strokes' style and
        each beat's level come from it; None conducts legato (unless ``style`` says otherwise)
        with each beat's level from ``loudness_db``.
    pattern : str or None
        A key of :data:`PATTERNS`; None takes the meter's (a 5 as 2+3).

    Returns
    -------
    np.ndarray [shape=(T, 13, 2), float32] in [0, 1]
    """
    style = style or ConductingStyle()
    frame_count = times_s.size
    pose = np.tile(np.array([REST_POSE[name] for name in REST_POSE], dtype=np.float64), (frame_count, 1, 1))
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    if beats_s.size < 2:
        return pose.astype(np.float32)  # nothing to beat: stand still
    shapes = beat_patterns(track, pattern or pattern_name(track.meter, track.bar_position, np.zeros(beats_s.size)))
    # Each part of the body draws from its own stream, and per-beat draws are keyed to time, so
    # moving, adding or deleting one beat changes the motion there and nowhere else.
    beat_rng, right_rng, left_rng, body_rng = rng.spawn(4)
    plan = plan_beats(
        track,
        loudness_db,
        times_s,
        shapes,
        style,
        used_articulation(sound, style, beats_s.size),
        beat_rng,
        variation,
        peak_db=sound.peak_db if sound is not None and len(sound.peak_db) == beats_s.size else None,
    )

    legato_path = right_hand_path(plan, legato=True).evaluate(times_s)
    detached_path = right_hand_path(plan, legato=False).evaluate(times_s)
    segment = np.clip(np.searchsorted(beats_s, times_s, side="right") - 1, 0, beats_s.size - 1)
    legato_share = plan.articulation[segment, 0][:, None]
    right = legato_share * legato_path + (1.0 - legato_share) * detached_path
    right += variation * slow_noise(right_rng, frame_count, 2, 0.004) * plan.engaged[:, None]

    left, left_pole, cue = left_hand(right, plan, track, loudness_db, times_s, style, left_rng, variation)
    pose[:, JOINT_INDEX["right_wrist"]] = right
    pose[:, JOINT_INDEX["left_wrist"]] = left
    move_body(pose, plan, track, times_s, style, cue, body_rng, variation)
    for side, pole in (("right", ELBOW_POLE * np.array([-1.0, 1.0, 1.0])), ("left", left_pole)):
        wrist = pose[:, JOINT_INDEX[f"{side}_wrist"]]
        depth = hand_depth(wrist, side)
        pose[:, JOINT_INDEX[f"{side}_elbow"]] = elbow_positions(
            pose[:, JOINT_INDEX[f"{side}_shoulder"]], wrist, depth, pole
        )
    return np.clip(pose, 0.0, 1.0).astype(np.float32)


@dataclasses.dataclass
class BeatPlan:
    """Where and how every beat is drawn, and the piece's shape around them.

    Attributes
    ----------
    beats_s : np.ndarray [shape=(B,)]
        Beat times, seconds.
    ictus : np.ndarray [shape=(B, 2)]
        Each beat's ictus, image coordinates.
    rebound : np.ndarray [shape=(B, 2)]
        The top of the rebound after each beat (sized for the beat it prepares).
    hold : np.ndarray [shape=(B, 2)]
        Where the hand holds after a held beat: its rebound, at least ``HOLD_HEIGHT`` up.
    size : np.ndarray [shape=(B,)]
        Gesture size of the stroke into each beat (1 = mezzo-forte).
    level_db : np.ndarray [shape=(B,)]
        Each beat's loudness relative to the piece's median beat, dB.
    articulation : np.ndarray [shape=(B, 3)]
        Legato, staccato, marcato weights.
    period_s : np.ndarray [shape=(B,)]
        The local beat period around each beat, seconds.
    held : np.ndarray [shape=(B,), bool]
        Whether the gap after each beat is a hold (fermata, rest); the last beat's is True.
    release_s : np.ndarray [shape=(B,)]
        For a held beat: when its sound stops (the cut-off), NaN when it sounds on.
    ready : np.ndarray [shape=(2,)], prep_top : np.ndarray [shape=(2,)]
        Where the hand waits before the preparatory beat and the top it rises to.
    engaged : np.ndarray [shape=(T,)]
        1 from the raise before the first beat to the end of the last cut-off, else 0
        (smoothed): where the conductor is conducting.
    """

    beats_s: np.ndarray
    ictus: np.ndarray
    rebound: np.ndarray
    hold: np.ndarray
    size: np.ndarray
    level_db: np.ndarray
    articulation: np.ndarray
    period_s: np.ndarray
    held: np.ndarray
    release_s: np.ndarray
    ready: np.ndarray
    prep_top: np.ndarray
    engaged: np.ndarray


def beat_patterns(track: BeatTrack, piece_pattern: str) -> list[Pattern]:
    """The pattern each beat is drawn in: its bar's meter's (a bar of 3 in a piece in 4 is beaten
    in 3, from its barline), the piece's own choice (a 5 as 2+3 or 3+2) for the bars in its meter."""
    names = {int(track.meter): piece_pattern}
    return [
        PATTERNS[names.get(int(meter)) or pattern_name(int(meter), np.zeros(0, int), np.zeros(0))]
        for meter in track.beat_meters()
    ]


def plan_beats(
    track: BeatTrack,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    patterns: list[Pattern],
    style: ConductingStyle,
    articulation: np.ndarray,
    rng: np.random.Generator,
    variation: float,
    *,
    peak_db: np.ndarray | None = None,
) -> BeatPlan:
    """Each beat's ictus, rebound and size from its place in the bar and its loudness: the
    peak level of its note (``peak_db`` [shape=(B,)], :attr:`core.procedural.articulation.BeatSound.peak_db`)
    or else the mean of ``loudness_db`` over the beat."""
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    places = np.array(
        [min(int(p), len(pattern.ictus) - 1) for p, pattern in zip(track.bar_position, patterns)], dtype=int
    )
    held = np.asarray(track.held, dtype=bool)
    period_s = local_period_s(beats_s, held)
    gaps_s = np.append(np.diff(beats_s), np.inf)

    # Loudness of each beat: its level over one period from the beat (past the loudness curve's
    # spill from the beat before), against the piece's median.
    spans_s = np.minimum(gaps_s, period_s)
    raw_db = mean_over(
        loudness_db, times_s, beats_s + np.minimum(LOUDNESS_SMEAR_S, 0.5 * spans_s), beats_s + spans_s, empty=SILENCE_DB
    )
    if peak_db is not None:  # the note itself, not the silence after a short one
        raw_db = np.where(raw_db > SILENCE_DB, np.asarray(peak_db, dtype=np.float64), raw_db)
    sounding = raw_db > SILENCE_DB
    # Piece-wide levels come from the frames and medians, so one beat moved or deleted by the user
    # leaves every other beat's size as it was.
    heard = loudness_db > SILENCE_DB
    median_db = float(np.median(loudness_db[heard])) if heard.any() else 0.0
    level_db = raw_db - median_db
    # The bar's own accents (a loud downbeat, a soft upbeat) are mostly left to the pattern:
    # the size shows the dynamics, not the meter.
    # Within each bar, against the bar's own mean (not the piece's), so editing a beat resizes
    # only its bar.
    bars = np.asarray(track.bar_number, dtype=int) + 1  # 0: the pickup
    heard_sum = np.bincount(bars, weights=np.where(sounding, level_db, 0.0), minlength=bars.max(initial=0) + 1)
    heard_count = np.bincount(bars, weights=sounding.astype(float), minlength=heard_sum.size)
    bar_mean = np.where(heard_count[bars] > 0, heard_sum[bars] / np.maximum(heard_count[bars], 1), level_db)
    level_db = level_db - METRIC_ACCENT_SHARE * (level_db - bar_mean)
    articulation_size = articulation @ np.array([ARTICULATION_SIZE[name] for name in ARTICULATIONS])
    size = style.gesture_size * articulation_size * np.clip(1.0 + style.energy * SIZE_PER_DB * level_db, *SIZE_LIMITS)

    jitter = variation * noise_at(rng, beats_s, times_s[-1] if times_s.size else 0.0, 3)
    ictus_points = np.array([pattern.ictus[p] for p, pattern in zip(places, patterns)])
    ictus_points = ictus_points + np.stack([0.010 * jitter[:, 0], 0.006 * np.clip(jitter[:, 1], -2, 2)], axis=1)
    rebound_points = np.array([pattern.rebound[p] for p, pattern in zip(places, patterns)])
    rebound_points[:, 1] *= 1.0 + 0.08 * np.clip(jitter[:, 2], -2, 2)
    next_size = np.append(size[1:], size[-1])
    ictus = to_image(ictus_points, size)
    rebound = to_image(rebound_points, next_size)
    # A held hand stays well up, so it is seen to sustain the note.
    hold = np.stack([rebound[:, 0], np.minimum(rebound[:, 1], BEAT_PLANE_Y - HOLD_HEIGHT * size)], axis=1)

    release_s = np.full(beats_s.size, np.nan)
    stopped = sustained_until(loudness_db, times_s)
    for k in np.flatnonzero(held):
        end_s = beats_s[k + 1] - period_s[k + 1] if k + 1 < beats_s.size else np.inf
        after = stopped[(stopped > beats_s[k]) & (stopped < end_s)]
        release_s[k] = after[0] if after.size else np.nan

    opening = patterns[0]
    before = (places[0] - 1) % len(opening.ictus)  # the beat before the first: its ictus and rebound prepare it
    ready = to_image(np.array([opening.ictus[before]]), size[:1])[0]
    prep_top = to_image(np.array([opening.rebound[before]]), size[:1])[0]
    first_s = beats_s[0] - period_s[0] - READY_HOLD_S - RAISE_S
    # Conducting ends after the last cut-off, or never when the last note sounds to the end.
    last_s = release_s[-1] + POST_CUTOFF_S + LOWER_S if np.isfinite(release_s[-1]) else np.inf
    engaged = smooth(((times_s >= first_s) & (times_s <= last_s)).astype(float), 0.3)
    return BeatPlan(
        beats_s=beats_s,
        ictus=ictus,
        rebound=rebound,
        hold=hold,
        size=size,
        level_db=level_db,
        articulation=articulation,
        period_s=period_s,
        held=held,
        release_s=release_s,
        ready=ready,
        prep_top=prep_top,
        engaged=engaged,
    )


def mean_over(
    values: np.ndarray, times_s: np.ndarray, starts_s: np.ndarray, ends_s: np.ndarray, *, empty: float
) -> np.ndarray:
    """Mean of per-frame ``values`` over the frames in each [start, end) [shape=(K,)];
    ``empty`` where a span holds no frame."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    first = np.searchsorted(times_s, starts_s, side="left")
    last = np.maximum(np.searchsorted(times_s, ends_s, side="left"), first)
    count = last - first
    return np.where(count > 0, (total[last] - total[first]) / np.maximum(count, 1), empty)


def to_image(points: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Pattern points (outward, height) [shape=(N, 2)] at gesture sizes [shape=(N,)] ->
    image coordinates [shape=(N, 2)]."""
    points = np.asarray(points, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    y = BEAT_PLANE_Y - size * points[:, 1]
    y = TOP_Y + TOP_SOFTNESS * np.logaddexp(0.0, (y - TOP_Y) / TOP_SOFTNESS)  # a big preparation flattens out
    return np.stack([PATTERN_CENTRE_X - size * points[:, 0], y], axis=1)


def sustained_until(loudness_db: np.ndarray, times_s: np.ndarray) -> np.ndarray:
    """The times (seconds) at which the music stops: the start of every run of at least
    ``END_SILENCE_S`` under ``END_DB`` that follows sound [shape=(K,)]."""
    quiet = loudness_db < END_DB
    run = max(1, int(round(END_SILENCE_S * MOTION_FPS)))
    # A frame starts a stop when it is quiet, the frame before was not, and the next ``run`` are quiet.
    stays_quiet = running_min(quiet, run, origin=-(run // 2))
    starts = stays_quiet & np.concatenate([[False], ~quiet[:-1]])
    return times_s[starts] - LOUDNESS_SMEAR_S  # the curve drops below END_DB this late


class Path:
    """A 2D path through timed points, each span eased in its own way (image coordinates).

    Kinds of span (from a point to the next): ``hold`` stays at the first point, ``linear``,
    ``smooth`` (smoothstep), ``rebound`` (fast start, easing out), ``fall`` (accelerating into
    the end point: arrives at speed and stops there), ``curve`` (legato: a Catmull-Rom curve
    across, smoothstep up and down, so the path is round and the ends are its turning points).
    """

    KINDS = ("hold", "linear", "smooth", "rebound", "fall", "curve")

    def __init__(self, time_s: float, point: np.ndarray) -> None:
        self.times_s = [float(time_s)]
        self.points = [np.asarray(point, dtype=np.float64)]
        self.kinds: list[int] = []

    def to(self, time_s: float, point: np.ndarray, kind: str) -> Path:
        """Add a span to ``point`` at ``time_s`` (a time not after the last one is skipped)."""
        if time_s > self.times_s[-1] + 1e-4:
            self.times_s.append(float(time_s))
            self.points.append(np.asarray(point, dtype=np.float64))
            self.kinds.append(self.KINDS.index(kind))
        return self

    @property
    def end(self) -> tuple[float, np.ndarray]:
        return self.times_s[-1], self.points[-1]

    def evaluate(self, times_s: np.ndarray) -> np.ndarray:
        """Positions [shape=(T, 2)] at ``times_s``; before the first point and after the last
        the path stays at them."""
        knots_s = np.array(self.times_s)
        points = np.array(self.points)
        if knots_s.size == 1:
            return np.tile(points[0], (times_s.size, 1))
        kinds = np.array(self.kinds)
        span = np.clip(np.searchsorted(knots_s, times_s, side="right") - 1, 0, knots_s.size - 2)
        start, end = points[span], points[span + 1]
        duration = knots_s[span + 1] - knots_s[span]
        u = np.clip((times_s - knots_s[span]) / duration, 0.0, 1.0)
        kind = kinds[span]
        smoothstep = u * u * (3.0 - 2.0 * u)
        ease = np.select(
            [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
            [np.zeros_like(u), u, smoothstep, 1.0 - (1.0 - u) ** 2.2, u**2],
            default=smoothstep,
        )
        position = start + ease[:, None] * (end - start)
        # Legato spans: x along a cubic Hermite with Catmull-Rom tangents through the neighbours.
        curved = kinds == self.KINDS.index("curve")
        tangent = np.zeros(knots_s.size)
        inner = np.arange(1, knots_s.size - 1)
        both = curved[inner - 1] & curved[inner]
        tangent[inner[both]] = (
            ROUNDNESS
            * (points[inner[both] + 1, 0] - points[inner[both] - 1, 0])
            / (knots_s[inner[both] + 1] - knots_s[inner[both] - 1])
        )
        m0, m1 = tangent[span] * duration, tangent[span + 1] * duration
        hermite_x = (
            (2 * u**3 - 3 * u**2 + 1) * start[:, 0]
            + (u**3 - 2 * u**2 + u) * m0
            + (-2 * u**3 + 3 * u**2) * end[:, 0]
            + (u**3 - u**2) * m1
        )
        position[:, 0] = np.where(kind == self.KINDS.index("curve"), hermite_x, position[:, 0])
        before, after = times_s < knots_s[0], times_s > knots_s[-1]
        position[before], position[after] = points[0], points[-1]
        return position


def right_hand_path(plan: BeatPlan, *, legato: bool) -> Path:
    """The baton hand's path through the whole piece, all legato or all detached.

    Before the first beat: rest, raise to the ready point (the ictus of the beat before), wait,
    then the preparatory beat in tempo. Each beat: ictus, rebound, the next ictus; a held beat
    rises and sustains, is released with a cut-off stroke when its sound stops (or just before
    the next preparation), and the next beat is prepared again. After the last beat the hand
    sustains, cuts off at the last note, waits and lowers to rest.
    """
    rest = np.array(REST_POSE["right_wrist"])
    beats_s, period_s = plan.beats_s, plan.period_s
    ready_s = beats_s[0] - period_s[0]
    path = Path(ready_s - READY_HOLD_S - RAISE_S, rest)
    path.to(ready_s - READY_HOLD_S, plan.ready, "smooth").to(ready_s, plan.ready, "hold")
    marcato = plan.articulation[:, 2] / np.maximum(plan.articulation[:, 1] + plan.articulation[:, 2], 1e-9)
    stroke(path, ready_s, plan.prep_top, beats_s[0], plan.ictus[0], legato, marcato[0])
    for k in range(beats_s.size):
        period, size = period_s[k], plan.size[k]
        if not plan.held[k]:
            stroke(path, beats_s[k], plan.rebound[k], beats_s[k + 1], plan.ictus[k + 1], legato, marcato[k])
            continue
        last = k + 1 >= beats_s.size
        release = plan.release_s[k]
        if last and not np.isfinite(release):
            path.to(beats_s[k] + 0.4 * period, plan.hold[k], "rebound")  # sounds on to the end: hold
            path.to(beats_s[k] + 60.0, plan.hold[k] + np.array([0.0, -0.01 * size]), "linear")
            break
        next_prep = beats_s[k + 1] - period_s[k + 1] if not last else np.inf
        if release - beats_s[k] < SHORT_NOTE_BEATS * period:
            # A short note: its ictus is the cut-off; the hand stops there and lifts off a little.
            release = beats_s[k] + RELEASE_LIFT_S
            closed = plan.ictus[k] + np.array([0.0, -RELEASE_LIFT])
            path.to(beats_s[k] + ICTUS_STOP_S, plan.ictus[k] + np.array([0.0, -0.002]), "linear")
            path.to(release, closed, "rebound")
        else:
            if not np.isfinite(release):
                release = next_prep  # held into the next phrase: the release leads into its preparation
            cutoff_s = min(CUTOFF_BEATS * period, 0.6, max(release - beats_s[k] - 0.4 * period, 0.05))
            held_point = plan.hold[k]
            path.to(beats_s[k] + 0.4 * period, held_point, "rebound")
            sustain_point = held_point + np.array([0.0, -0.015 * size])  # the hand keeps the note alive
            path.to(release - cutoff_s, sustain_point, "linear")
            hook = sustain_point + size * np.array([-CUTOFF_HOOK[0], -CUTOFF_HOOK[1]])
            closed = sustain_point + size * np.array([-CUTOFF_CLOSE[0], -CUTOFF_CLOSE[1]])
            path.to(release - 0.55 * cutoff_s, hook, "smooth").to(release, closed, "fall")
        if last:
            path.to(release + POST_CUTOFF_S, closed, "hold").to(release + POST_CUTOFF_S + LOWER_S, rest, "smooth")
            break
        ready = closed
        if next_prep - release > LONG_REST_S:  # a long silence: down to rest and up again
            path.to(release + POST_CUTOFF_S, closed, "hold").to(release + POST_CUTOFF_S + LOWER_S, rest, "smooth")
            ready = plan.ictus[k]
            path.to(next_prep - READY_HOLD_S - RAISE_S, rest, "hold").to(next_prep - READY_HOLD_S, ready, "smooth")
        path.to(next_prep, ready, "hold")
        stroke(path, next_prep, plan.rebound[k], beats_s[k + 1], plan.ictus[k + 1], legato, marcato[k])
    return path


def stroke(
    path: Path, start_s: float, top: np.ndarray, end_s: float, ictus: np.ndarray, legato: bool, marcato: float
) -> None:
    """One beat from the path's end point (an ictus, or the point before a preparation) through
    the rebound ``top`` into ``ictus`` at ``end_s``: round for legato; for detached strokes
    straight up fast, a wait, and a straight fall that stops at the ictus."""
    duration = end_s - start_s
    path.to(start_s, path.end[1], "hold")
    if legato:
        path.to(start_s + LEGATO_PEAK * duration, top, "curve").to(end_s, ictus, "curve")
        return
    up = STACCATO_UP + marcato * (MARCATO_UP - STACCATO_UP)
    fall = STACCATO_FALL + marcato * (MARCATO_FALL - STACCATO_FALL)
    start = path.end[1]
    if path.kinds and path.kinds[-1] == Path.KINDS.index("fall"):  # arrived at an ictus
        # The stop at the ictus: a moment still (rising a hair, so the beat stays the lowest point).
        path.to(start_s + ICTUS_STOP_S, start + np.array([0.0, -0.002]), "linear")
    settled = top + np.array([0.0, 0.006])  # the hand settles a little at the top
    moving_from_s = path.end[0]
    top_s = max(start_s + up * duration, moving_from_s + min(DETACHED_REBOUND_MIN_S, 0.4 * (end_s - moving_from_s)))
    falls_from_s = max(start_s + fall * duration, top_s)
    path.to(top_s, top, "rebound").to(falls_from_s, settled, "linear")
    path.to(end_s, ictus, "fall")


# ------------------------------------------------------------------------------- left hand
def left_hand(
    right: np.ndarray,
    plan: BeatPlan,
    track: BeatTrack,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    style: ConductingStyle,
    rng: np.random.Generator,
    variation: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The left wrist, where its elbow points, and the weight of its cues.

    The left hand mirrors the right at ``LEFT_MIRROR_SHARE`` through loud passages, the
    preparation and first bar, holds and the final cut-off; rises palm up through a crescendo,
    lowers palm down through a diminuendo or after a subito piano, points to entrances, and
    otherwise rests. ``style.left_hand_activity`` 0 keeps it at rest; 2 mirrors from the
    median level on.

    Returns
    -------
    wrist : np.ndarray [shape=(T, 2)]
    pole : np.ndarray [shape=(T, 3)]
        Direction the elbow points (see :func:`elbow_positions`).
    cue : np.ndarray [shape=(T,)] in [0, 1]
    """
    frame_count = times_s.size
    activity = style.left_hand_activity
    taking_part = min(activity, 1.0)
    rest = np.array(REST_POSE["left_wrist"])
    centre = np.array([2.0 * BODY_CENTRE_X - PATTERN_CENTRE_X, BEAT_PLANE_Y])
    mirrored = np.stack([2.0 * BODY_CENTRE_X - right[:, 0], right[:, 1]], axis=1)
    mirrored = centre + LEFT_MIRROR_SHARE * (mirrored - centre)
    mirrored += variation * slow_noise(rng, frame_count, 2, 0.006)

    beats_s = plan.beats_s
    segment = np.clip(np.searchsorted(beats_s, times_s, side="right") - 1, 0, beats_s.size - 1)
    loud = plan.level_db >= MIRROR_DB - 3.0 * (activity - 1.0)
    together = loud[segment] & (times_s >= beats_s[0])
    first_bar_s = beats_s[min(len(beats_s) - 1, max(int(np.max(track.bar_position, initial=0)), 1))]
    together |= times_s <= first_bar_s  # the start: raise, preparation, first bar
    for k in np.flatnonzero(plan.held):  # holds and cut-offs: both hands
        release = (
            plan.release_s[k]
            if np.isfinite(plan.release_s[k])
            else (beats_s[k + 1] - plan.period_s[k + 1] if k + 1 < beats_s.size else np.inf)
        )
        together[slice(*np.searchsorted(times_s, [beats_s[k], release + 0.2]))] = True
    together |= times_s >= beats_s[-1]
    mirror_weight = taking_part * smooth(together.astype(float), 0.6) * plan.engaged

    ask_weight, ask_progress, calm_weight, calm_progress = dynamic_gestures(plan, loudness_db, times_s)
    ask_point = np.array(ASK_FROM) + ask_progress[:, None] * (np.array(ASK_TO) - np.array(ASK_FROM))
    calm_point = np.array(CALM_FROM) + calm_progress[:, None] * (np.array(CALM_TO) - np.array(CALM_FROM))
    ask_weight, calm_weight = taking_part * ask_weight, taking_part * calm_weight
    cue = taking_part * cue_envelope(
        track, loudness_db, times_s, float(np.median(plan.period_s)), rng, variation, activity
    )

    left = rest + mirror_weight[:, None] * (mirrored - rest)
    left += ask_weight[:, None] * (ask_point - left)
    left += calm_weight[:, None] * (calm_point - left)
    left += cue[:, None] * (np.array(CUE_POINT) - left)
    pole = np.tile(ELBOW_POLE, (frame_count, 1))
    pole += ask_weight[:, None] * (ELBOW_POLE_PALM_UP - pole)
    pole += calm_weight[:, None] * (ELBOW_POLE_PALM_DOWN - pole)
    return left, pole, cue


def dynamic_gestures(
    plan: BeatPlan, loudness_db: np.ndarray, times_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the left hand asks for more (a crescendo) and where it calms (a diminuendo, a
    subito piano): weights in [0, 1] and the progress through each gesture, per frame.

    A crescendo or diminuendo is a level trend of at least ``CRESCENDO_DB_PER_S`` for
    ``DYNAMIC_MIN_S`` while the music sounds throughout (an entrance after silence is not one).

    Returns
    -------
    ask_weight, ask_progress, calm_weight, calm_progress : np.ndarray [shape=(T,)]
    """
    frame_count = times_s.size
    trend = np.gradient(gaussian_smooth(loudness_db, TREND_SMOOTHING_S * MOTION_FPS)) * MOTION_FPS
    span = int(4 * TREND_SMOOTHING_S * MOTION_FPS)  # a start or stop within two sigmas would read as a trend
    sounding = running_min(loudness_db > END_DB, span)
    inside = (times_s >= plan.beats_s[0]) & (times_s <= plan.beats_s[-1]) & sounding
    runs = {"ask": inside & (trend > CRESCENDO_DB_PER_S), "calm": inside & (trend < -CRESCENDO_DB_PER_S)}
    spans: dict[str, list[tuple[float, float]]] = {}
    for name, mask in runs.items():
        spans[name] = [
            (times_s[start], times_s[stop - 1])
            for start, stop in true_runs(mask)
            if times_s[stop - 1] - times_s[start] >= DYNAMIC_MIN_S
        ]
    drops = np.flatnonzero((np.diff(plan.level_db) <= -SUBITO_DB) & (plan.level_db[1:] > END_DB)) + 1
    spans["calm"] += [(plan.beats_s[k] - 0.2 * plan.period_s[k], plan.beats_s[k] + 2.0) for k in drops]

    result = []
    for name in ("ask", "calm"):
        weight, progress = np.zeros(frame_count), np.zeros(frame_count)
        for start_s, end_s in spans[name]:
            near = slice(*np.searchsorted(times_s, [start_s, end_s + 0.8]))
            local_s = times_s[near]
            shape = np.minimum(
                np.clip((local_s - start_s) / 0.4, 0.0, 1.0), np.clip(1.0 - (local_s - end_s) / 0.8, 0.0, 1.0)
            )  # in over 0.4 s, out over 0.8 s
            shape = shape * shape * (3.0 - 2.0 * shape)
            along = np.clip((local_s - start_s) / max(end_s - start_s, 1e-6), 0.0, 1.0)
            progress[near] = np.where(shape > weight[near], along, progress[near])
            weight[near] = np.maximum(weight[near], shape)
        result += [weight, progress]
    return result[0], result[1], result[2], result[3]


def cue_envelope(
    track: BeatTrack,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    period_s: float,
    rng: np.random.Generator,
    variation: float,
    activity: float = 1.0,
) -> np.ndarray:
    """Weight in [0, 1] of the left hand's cue gesture: up a beat before, down on the cue.

    Cues go to downbeats where the music gets at least ``ENTRANCE_DB`` louder than in the bar
    before (an entrance), and with ``variation`` > 0 to a few more downbeats chosen at random
    (more with ``activity`` above 1).

    Returns
    -------
    np.ndarray [shape=(T,), float64]
    """
    weight = np.zeros(times_s.size)

    def level(time_s: float) -> float:
        return float(np.interp(time_s, times_s, loudness_db))

    bar_s = period_s * max(track.meter, 1)
    last_cue = -np.inf
    draws = uniform_at(rng, np.asarray(track.downbeats_s), times_s[-1] if times_s.size else 0.0)
    for downbeat, draw_ in zip(track.downbeats_s, draws):
        entrance = level(downbeat + 0.3 * period_s) - level(downbeat - 0.5 * bar_s) >= ENTRANCE_DB
        chosen = draw_ < 0.08 * min(variation, 2.0) * activity
        if (entrance or chosen) and downbeat - last_cue > 2 * bar_s and downbeat > period_s:
            last_cue = downbeat
            # Rise over the beat before, point on the downbeat, let go over the next two beats.
            near = slice(*np.searchsorted(times_s, [downbeat - period_s, downbeat + 2 * period_s]))
            offset = (times_s[near] - downbeat) / period_s
            shape = np.where(offset < 0, np.clip(1.0 + offset, 0.0, 1.0), np.clip(1.0 - offset / 2.0, 0.0, 1.0))
            weight[near] = np.maximum(weight[near], np.sin(0.5 * np.pi * shape) ** 2)
    return weight


# ------------------------------------------------------------------------------- body
def move_body(
    pose: np.ndarray,
    plan: BeatPlan,
    track: BeatTrack,
    times_s: np.ndarray,
    style: ConductingStyle,
    cue: np.ndarray,
    rng: np.random.Generator,
    variation: float,
) -> None:
    """Torso, shoulders and head around the hands: a lean with intensity, a give into each
    beat, the body following the beating hand, the shoulders lifting on big preparations and
    when a hand goes high, the head turning toward the beating hand and to cues and nodding
    after downbeats.

    Works in place on ``pose`` [shape=(T, 13, 2)], whose wrists are already set.
    """
    index = JOINT_INDEX
    frame_count = times_s.size
    engaged, energy = plan.engaged, style.energy
    beats_s = plan.beats_s
    segment = np.clip(np.searchsorted(beats_s, times_s, side="right") - 1, 0, beats_s.size - 1)
    size_now = smooth(plan.size[np.clip(segment + 1, 0, beats_s.size - 1)] / style.gesture_size, 0.8)
    hand_x = smooth(pose[:, index["right_wrist"], 0], 0.5)

    lean = energy * LEAN_MAX_RAD * np.clip((size_now - 0.7) / 0.6, 0.0, 1.0) * engaged
    nearest_s = np.minimum(
        np.abs(times_s - beats_s[segment]), np.abs(times_s - beats_s[np.clip(segment + 1, 0, beats_s.size - 1)])
    )
    bob = energy * BOB_Y * size_now * np.exp(-((nearest_s / 0.1) ** 2)) * engaged
    breath = BREATH_Y * preparation_breath(plan, track, times_s)
    torso = np.zeros((frame_count, 2))
    torso[:, 0] = 0.05 * energy * (hand_x - PATTERN_CENTRE_X) * engaged
    torso[:, 1] = TORSO_IMAGE_HEIGHT * (1.0 - np.cos(lean)) + bob - breath
    torso += variation * slow_noise(rng, frame_count, 2, 0.002) * engaged[:, None]
    for side in ("left", "right"):
        shoulder = pose[:, index[f"{side}_shoulder"]]
        shoulder += torso
        # A hand raised above the chest lifts its shoulder a little.
        shoulder[:, 1] -= 0.06 * np.maximum(0.0, 0.55 - pose[:, index[f"{side}_wrist"], 1])

    # Head: a turn toward the beating hand and to cues, a nod after each downbeat, the lean.
    yaw = np.clip(energy * HEAD_YAW_MAX_RAD * (hand_x - PATTERN_CENTRE_X) / 0.2, -HEAD_YAW_MAX_RAD, HEAD_YAW_MAX_RAD)
    yaw = smooth((yaw + CUE_YAW_RAD * cue) * engaged, 0.3)
    yaw += variation * slow_noise(rng, frame_count, 1, np.radians(2.0))[:, 0] * engaged
    downbeats = np.asarray(track.downbeats_s)
    nod = np.zeros(frame_count)
    if downbeats.size:
        last_downbeat = np.clip(np.searchsorted(downbeats, times_s, side="right") - 1, 0, downbeats.size - 1)
        offset = (times_s - downbeats[last_downbeat]) / float(np.median(plan.period_s))
        nod = np.where((offset >= 0) & (offset < 1), np.sin(np.pi * np.clip(offset, 0, 1)), 0.0)
    pitch = NOD_RAD * nod * engaged + 0.5 * lean
    turn_head(pose, yaw, pitch)
    head_shift = torso + np.stack([np.zeros(frame_count), 0.09 * np.sin(lean) ** 2], axis=1)
    for name in FACE_DEPTH:
        pose[:, index[name]] += head_shift
    hips = 0.3 * torso[:, 0] + variation * slow_noise(rng, frame_count, 1, 0.001)[:, 0] * engaged
    for name in ("left_hip", "right_hip"):
        pose[:, index[name], 0] += hips


def preparation_breath(plan: BeatPlan, track: BeatTrack, times_s: np.ndarray) -> np.ndarray:
    """How much the shoulders lift for a preparation, per frame in [0, 1]: fully for the
    preparatory beat and after each hold, and in proportion to how big the stroke into the
    next downbeat is (from size 0.9 up)."""
    beats_s, size = plan.beats_s, plan.size
    count = max(int(track.meter), 1)
    last_places = np.flatnonzero(np.mod(track.bar_position, count) == count - 1)
    windows = [(beats_s[0] - plan.period_s[0], beats_s[0], 1.0)]
    windows += [(beats_s[k + 1] - plan.period_s[k + 1], beats_s[k + 1], 1.0) for k in np.flatnonzero(plan.held[:-1])]
    windows += [
        (beats_s[k], beats_s[k + 1], float(np.clip((size[k + 1] - 0.9) / 0.4, 0.0, 1.0)))
        for k in last_places
        if k + 1 < beats_s.size and not plan.held[k]
    ]
    breath = np.zeros(times_s.size)
    for start_s, end_s, amount in windows:
        if amount <= 0:
            continue
        inside = slice(*np.searchsorted(times_s, [start_s, end_s]))
        u = (times_s[inside] - start_s) / (end_s - start_s)
        breath[inside] = np.maximum(breath[inside], amount * np.sin(np.pi * u) ** 2)
    return breath


def turn_head(pose: np.ndarray, yaw_rad: np.ndarray, pitch_rad: np.ndarray) -> None:
    """Turn the face keypoints about the ears' midpoint: ``yaw_rad`` toward the conductor's
    left (larger x), ``pitch_rad`` down; each [shape=(T,)]. In place on ``pose``."""
    index = JOINT_INDEX
    centre = np.array(
        [
            (REST_POSE["left_ear"][0] + REST_POSE["right_ear"][0]) / 2,
            (REST_POSE["left_ear"][1] + REST_POSE["right_ear"][1]) / 2,
        ]
    )
    cos_yaw, sin_yaw = np.cos(yaw_rad), np.sin(yaw_rad)
    cos_pitch, sin_pitch = np.cos(pitch_rad), np.sin(pitch_rad)
    for name, depth in FACE_DEPTH.items():
        x, y = np.array(REST_POSE[name]) - centre
        # Yaw about the vertical axis (x across, depth toward the camera), then pitch about x.
        turned_x = x * cos_yaw + depth * sin_yaw
        turned_depth = -x * sin_yaw + depth * cos_yaw
        turned_y = y * cos_pitch + turned_depth * sin_pitch
        pose[:, index[name]] = centre + np.stack([turned_x, turned_y], axis=1)


def hand_depth(wrist: np.ndarray, side: str) -> np.ndarray:
    """How far in front of its shoulder a wrist works [shape=(T,)], image units: further
    forward the more it crosses the body."""
    shoulder_x = REST_POSE[f"{side}_shoulder"][0]
    across = (wrist[:, 0] - shoulder_x) if side == "right" else (shoulder_x - wrist[:, 0])
    return HAND_DEPTH + HAND_DEPTH_ACROSS * np.clip(across / SHOULDER_WIDTH, 0.0, 1.2)


def elbow_positions(shoulder: np.ndarray, wrist: np.ndarray, depth: np.ndarray, pole: np.ndarray) -> np.ndarray:
    """Elbows of two-bone arms of constant length, seen in the image.

    The wrist lies ``depth`` in front of the shoulder (less where the arm could not reach);
    the elbow sits on the circle the two bones allow, on the side ``pole`` points to.

    Parameters
    ----------
    shoulder, wrist : np.ndarray [shape=(T, 2)]
        Image coordinates.
    depth : np.ndarray [shape=(T,)]
        Wrist in front of the shoulder, image units.
    pole : np.ndarray [shape=(3,) or (T, 3)]
        (x, y down, toward the camera).

    Returns
    -------
    np.ndarray [shape=(T, 2)]
    """
    upper, fore = UPPER_ARM_LENGTH, FOREARM_LENGTH
    reach = REACH_SHARE * (upper + fore)
    planar = wrist - shoulder
    planar_length = np.linalg.norm(planar, axis=1)
    depth = np.minimum(depth, np.sqrt(np.maximum(reach**2 - planar_length**2, 0.0)))
    arm = np.concatenate([planar, depth[:, None]], axis=1)
    length = np.maximum(np.linalg.norm(arm, axis=1), 1e-9)
    along = arm / length[:, None]
    distance = np.clip(length, abs(upper - fore) + 1e-3, reach)
    cos_bend = np.clip((upper**2 + distance**2 - fore**2) / (2.0 * upper * distance), -1.0, 1.0)
    pole = np.broadcast_to(np.asarray(pole, dtype=np.float64), arm.shape)
    across = pole - np.sum(pole * along, axis=1, keepdims=True) * along
    across_length = np.linalg.norm(across, axis=1, keepdims=True)
    across = np.where(across_length > 1e-6, across / np.maximum(across_length, 1e-9), np.array([0.0, 1.0, 0.0]))
    elbow = upper * (cos_bend[:, None] * along + np.sqrt(1.0 - cos_bend**2)[:, None] * across)
    return shoulder + elbow[:, :2]


def smooth(values: np.ndarray, seconds: float) -> np.ndarray:
    """A moving average over ``seconds`` at 30 fps, for blending weights."""
    width = max(1, int(round(seconds * MOTION_FPS)))
    return running_mean(values, width)


def noise_at(rng: np.random.Generator, times_s: np.ndarray, span_s: float, channels: int) -> np.ndarray:
    """Standard-normal draws [shape=(N, channels)] keyed to time: one per ``NOISE_CELL_S`` cell of
    a piece ``span_s`` long, read at each of ``times_s``; the draw at a time never depends on
    how many other times there are."""
    field = rng.standard_normal((int(span_s / NOISE_CELL_S) + 2, channels))
    return field[np.clip((np.asarray(times_s) / NOISE_CELL_S).astype(int), 0, field.shape[0] - 1)]


def uniform_at(rng: np.random.Generator, times_s: np.ndarray, span_s: float) -> np.ndarray:
    """Uniform draws in [0, 1) keyed to time, as :func:`noise_at`."""
    field = rng.random(int(span_s / NOISE_CELL_S) + 2)
    return field[np.clip((np.asarray(times_s) / NOISE_CELL_S).astype(int), 0, field.size - 1)]


def slow_noise(rng: np.random.Generator, frame_count: int, channels: int, amplitude: float) -> np.ndarray:
    """Smooth random drift, about one wiggle per two seconds.

    Returns
    -------
    np.ndarray [shape=(frame_count, channels), float64]
        Standard deviation about ``amplitude``.
    """
    noise = rng.standard_normal((frame_count, channels))
    smoothed = gaussian_smooth(noise, 0.4 * MOTION_FPS, axis=0)
    spread = smoothed.std() if frame_count > 1 else 1.0
    return amplitude * smoothed / max(spread, 1e-9)
