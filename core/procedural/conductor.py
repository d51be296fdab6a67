"""The procedural conductor: textbook beat patterns drawn exactly on the music's tracked beats.

Where M2S-GAN learns motion from data, this mode builds it from the rules a conducting class
teaches (Rudolf, *The Grammar of Conducting*). :func:`conduct` hears the piece (its beats, the
articulation of each, its loudness per frame) and :func:`draw_figure` puts the figure together: the
patterns (:mod:`core.procedural.patterns`) become a beat plan (:mod:`core.procedural.planning`),
the right hand strokes through it (:mod:`core.procedural.right_hand`), the left hand mirrors,
asks, calms and cues (:mod:`core.procedural.left_hand`), the body follows
(:mod:`core.procedural.body`) and the arms are solved as two bones (:mod:`core.procedural.pose`).
A seeded random generator adds human irregularity (:mod:`core.procedural.irregularity`), scaled
by ``variation``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from ..audio.mel import SAMPLE_RATE_HZ, frame_count_30fps, frame_count_90hz
from ..beats.track import CONDUCTED_METERS, TRACKED_METERS, BeatTrack
from ..beats.tracking import track_beats
from ..errors import GenerationCancelled, ConductorError
from ..motion.keypoints import MOTION_FPS, Motion
from ..motion.skeleton import JOINT_INDEX
from .articulation import BeatSound, beat_sound
from .body import move_body
from .left_hand import LeftHand, left_hand, narrowed_for_mirroring
from .loudness import loudness_30fps
from .patterns import beat_patterns, pattern_name, regroup, subdivided, subdivided_name, subdivides
from .planning import BeatPlan, ictus_push, lead_in_frames, plan_beats, used_articulation
from .hands import BATON_REST, FREE_REST, hand_channels
from .pose import ELBOW_POLE, ELBOW_POLE_REST, REST_POSE, SKELETON_UNITS, hand_depth, mirrored_pole, place_elbows
from .right_hand import right_wrist
from .style import ARTICULATIONS, ConductingStyle


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
        Polled between stages; returning True raises :class:`core.errors.GenerationCancelled`.
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
        ``keypoints`` [shape=(T, 13, 2), float32] at 30 fps, ``T`` the neural generator's frame
        count (``frame_count_30fps(frame_count_90hz(n, sample_rate_hz))``) after ``lead_in_s``
        (the ready point and the preparatory beat, where the music starts too soon after its first
        beat for them; :func:`core.procedural.planning.lead_in_frames`); ``hands`` [shape=(T,
        2, 4), float32] each hand's flex, turn, curl and point; ``weights_id`` "procedural"; ``extra`` holds ``beats_s``, ``downbeats_s``
        (lists of seconds), ``meter`` (beats per bar), ``pattern`` (e.g. "4", "3+2", "4 subdivided",
        "4 subdivided in three"), ``tempo_bpm``, ``tracker`` (:attr:`core.beats.track.BeatTrack.tracker`), ``variation``,
        ``articulation`` (share of the beats conducted legato, staccato and marcato),
        ``style`` (the controls used), ``skeleton_units`` (:data:`core.procedural.pose.SKELETON_UNITS`,
        the body for the lift to 3D) and ``noise_free`` (True: no jitter for the lift to smooth).
    """
    checkpoint = stage_reporter(progress, should_cancel)
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    frame_count = frame_count_30fps(frame_count_90hz(samples.shape[0], sample_rate_hz))
    variation = checked_variation(
        samples, sample_rate_hz, frame_count=frame_count, variation=variation, meter=meter, beats=beats
    )
    style = style or ConductingStyle()
    samples, track, sound, pattern = hear(
        samples, sample_rate_hz, beats=beats, meter=meter, tracker=tracker, checkpoint=checkpoint
    )
    # A grave piece is drawn on its beats and their divisions; the motion reports the beats themselves.
    drawn, drawn_sound = subdivided(track, sound) if subdivides(track) else (track, sound)
    lead_in = lead_in_frames(drawn)  # the preparation before the music, where it starts on the beat
    times_s = (np.arange(lead_in + frame_count) - lead_in) / MOTION_FPS
    # Before the music the level is its first frame's, so the lead-in reads as no crescendo.
    loudness_db = np.pad(loudness_30fps(samples, SAMPLE_RATE_HZ, frame_count), (lead_in, 0), mode="edge")
    rng = np.random.default_rng(seed)
    checkpoint(0.6, "Drawing the beat pattern")
    keypoints, hands = draw_figure(
        drawn, loudness_db, times_s, rng=rng, variation=variation, style=style, sound=drawn_sound, pattern=pattern
    )
    if drawn is not track:
        pattern = subdivided_name(track.meter, track.compound)
    checkpoint(1.0, "Motion ready")
    return Motion(
        keypoints=keypoints,
        hands=hands,
        fps=MOTION_FPS,
        seed=seed,
        weights_id="procedural",
        extra=motion_extra(track, pattern=pattern, variation=variation, style=style, sound=sound),
        lead_in_s=lead_in / MOTION_FPS,
    )


def stage_reporter(
    progress: Callable[[float, str], None] | None, should_cancel: Callable[[], bool] | None
) -> Callable[[float, str], None]:
    """A checkpoint for each stage of :func:`conduct`: it raises :class:`core.errors.GenerationCancelled`
    when ``should_cancel`` says so, else reports the fraction done and a message to ``progress``."""
    report = progress or (lambda fraction, message: None)
    cancelled = should_cancel or (lambda: False)

    def checkpoint(fraction: float, message: str) -> None:
        if cancelled():
            raise GenerationCancelled()
        report(fraction, message)

    return checkpoint


def hear(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    beats: BeatTrack | None,
    meter: int | None,
    tracker: str,
    checkpoint: Callable[[float, str], None],
) -> tuple[np.ndarray, BeatTrack, BeatSound, str]:
    """The piece as the conductor hears it: its beats (given, or tracked and grouped in
    ``meter``), how each beat is played, and the pattern to beat it in.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (Hz).
    beats, meter, tracker
        As :func:`conduct` takes them.
    checkpoint : callable(fraction, message)
        From :func:`stage_reporter`.

    Returns
    -------
    samples : np.ndarray [shape=(m,), float32]
        The signal at 22,050 Hz (``SAMPLE_RATE_HZ``).
    track : BeatTrack
    sound : BeatSound
    pattern : str
        A key of :data:`core.procedural.patterns.PATTERNS`.
    """
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
    return samples, track, sound, pattern


def checked_variation(
    samples: np.ndarray,
    sample_rate_hz: int,
    *,
    frame_count: int,
    variation: float,
    meter: int | None,
    beats: BeatTrack | None,
) -> float:
    """``variation`` as a float, once :func:`conduct`'s arguments are known to go together;
    else :class:`core.errors.ConductorError` saying what to change.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal at ``sample_rate_hz`` (Hz).
    frame_count : int
        Motion frames (30 fps) the piece will have.
    variation, meter, beats
        As :func:`conduct` takes them.
    """
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
    if beats is not None and meter is not None:  # front ends refuse it first (core.generate_options.RULES)
        raise ValueError("conduct() takes the meter from the given beats; pass beats or a meter, not both")
    if beats is not None and beats.meter not in CONDUCTED_METERS:
        raise ConductorError(
            f"The beats' meter must be 1, 2, 3, 4, 5 or 6 beats per bar, got {beats.meter!r}; "
            "regroup them into one of those."
        )
    return variation


def motion_extra(
    track: BeatTrack, *, pattern: str, variation: float, style: ConductingStyle, sound: BeatSound
) -> dict[str, Any]:
    """What :func:`conduct` says about its motion (``Motion.extra``): the beats and bars it
    conducted, the pattern, the articulation it used, the style and the body it drew."""
    used = used_articulation(sound, style, track.beats_s.size)
    return {
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
        "noise_free": True,  # drawn without jitter: the lift to 3D need not smooth it
    }


def beaten_summary(extra: dict[str, Any]) -> str:
    """How a motion's beats were conducted, from its :func:`motion_extra` ("beaten in 4 at 136 a
    minute, 1038 beats"), for the command line and the panel; "" for a motion without beats
    (a network's without a grid, or silence)."""
    if not extra.get("beats_s") or "pattern" not in extra:
        return ""
    return f"beaten in {extra['pattern']} at {float(extra['tempo_bpm']):.0f} a minute, {len(extra['beats_s'])} beats"


def draw_figure(
    track: BeatTrack,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    *,
    rng: np.random.Generator,
    variation: float,
    style: ConductingStyle | None = None,
    sound: BeatSound | None = None,
    pattern: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """All 13 keypoints and both hands' channels for every frame.

    Parameters
    ----------
    track : BeatTrack
        Beats, bar positions and meter (1 to 6; others are beaten in 4); a grave piece's beats
        are drawn subdivided (:func:`core.procedural.patterns.subdivides`).
    loudness_db : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps), dB, from :func:`core.procedural.loudness.loudness_30fps`.
    times_s : np.ndarray [shape=(T,), float64]
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
        A key of :data:`core.procedural.patterns.PATTERNS`; None takes the meter's (a 5 as 2+3).

    Returns
    -------
    keypoints : np.ndarray [shape=(T, 13, 2), float32] in [0, 1]
        Image coordinates per frame, in the order of :data:`core.motion.skeleton.JOINT_NAMES`.
    hands : np.ndarray [shape=(T, 2, 4), float32]
        Each hand's flex, turn, curl and point per frame (:data:`core.motion.skeleton.HAND_CHANNELS`).
    """
    style = style or ConductingStyle()
    if subdivides(track):  # conduct() passes it drawn already; training/build_dataset.py passes labels
        track, sound = subdivided(track, sound)
    frame_count = times_s.size
    pose = np.tile(np.array([REST_POSE[name] for name in REST_POSE], dtype=np.float64), (frame_count, 1, 1))
    beats_s = np.asarray(track.beats_s, dtype=np.float64)
    if beats_s.size < 2:  # nothing to beat: stand still
        hands = np.tile(np.array([FREE_REST, BATON_REST], dtype=np.float32), (frame_count, 1, 1))
        return pose.astype(np.float32), hands
    shapes = beat_patterns(track, pattern or pattern_name(track.meter, track.bar_position, np.zeros(beats_s.size)))
    # Each part of the body draws from its own stream, and per-beat and per-bar draws are keyed to
    # time, so moving, adding or deleting one beat changes the motion there and nowhere else.
    beat_rng, right_rng, left_rng, body_rng, bar_rng = rng.spawn(5)
    plan = plan_beats(
        track,
        loudness_db,
        times_s,
        patterns=shapes,
        style=style,
        articulation=used_articulation(sound, style, beats_s.size),
        rng=beat_rng,
        bar_rng=bar_rng,
        variation=variation,
        peak_db=sound.peak_db if sound is not None and len(sound.peak_db) == beats_s.size else None,
        typical_peak_db=sound.typical_peak_db if sound is not None else None,
    )
    plan = narrowed_for_mirroring(plan, track, style=style)
    right = right_wrist(plan, times_s, rng=right_rng, variation=variation)
    left = left_hand(
        right,
        plan,
        track,
        loudness_db=loudness_db,
        times_s=times_s,
        style=style,
        rng=left_rng,
        variation=variation,
    )
    pose[:, JOINT_INDEX["right_wrist"]] = left.right
    pose[:, JOINT_INDEX["left_wrist"]] = left.wrist
    move_body(pose, plan, track, times_s=times_s, style=style, cue=left.cue, rng=body_rng, variation=variation)
    place_arms(pose, plan, left, times_s=times_s)
    return np.clip(pose, 0.0, 1.0).astype(np.float32), hand_channels(plan, left, times_s)


def place_arms(pose: np.ndarray, plan: BeatPlan, left: LeftHand, *, times_s: np.ndarray) -> None:
    """Set the elbows of ``pose`` [shape=(T, 13, 2), float64] in place, the shoulders and wrists
    placed: the baton arm relaxed at rest and working while conducting, its hand pushing forward
    into each ictus; the free arm as its gestures say (``left``); ``times_s`` [shape=(T,)]."""
    right_pole = ELBOW_POLE_REST + plan.engaged[:, None] * (ELBOW_POLE - ELBOW_POLE_REST)
    right_depth = hand_depth(left.right, "right", engaged=plan.engaged) + ictus_push(plan, times_s)
    place_elbows(
        pose,
        poles={"left": left.pole, "right": mirrored_pole(right_pole)},
        depths={"left": left.depth, "right": right_depth},
    )
