"""The left hand: it mirrors the beating hand at 70 % in loud passages, rises palm up through a
crescendo, lowers palm down to calm, cues entrances and otherwise rests; and the two hands keep
out of each other's way (no clasp, no crossing, the free hand never past the body's midline)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..audio.filters import gaussian_smooth, running_max, running_mean, running_min, true_runs
from ..beats.track import BeatTrack
from ..motion.keypoints import MOTION_FPS
from .irregularity import slow_noise, uniform_at
from .loudness import END_DB
from .patterns import BEAT_PLANE_Y, PATTERN_CENTRE_X
from .planning import BeatPlan, smooth
from .pose import (
    BODY_CENTRE_X,
    ELBOW_POLE,
    ELBOW_POLE_PALM_DOWN,
    ELBOW_POLE_PALM_UP,
    ELBOW_POLE_REST,
    REST_POSE,
    hand_depth,
    softplus,
)
from .style import ConductingStyle

LEFT_MIRROR_SHARE = 0.7  # the left hand mirrors the pattern at this size
MIRROR_DB = 2.0  # beats this much louder than the piece's median: the left hand mirrors (activity 1)
CRESCENDO_DB_PER_S = 1.0  # a level trend this steep for ``DYNAMIC_MIN_S``: crescendo or diminuendo
DYNAMIC_MIN_S = 1.5
TREND_SMOOTHING_S = 1.0  # the trend is of the level smoothed by a Gaussian this wide (sigma)
SUBITO_DB = 8.0  # a beat this much softer than the one before: subito piano, the left hand calms
# The left wrist rising palm up through a crescendo, to the chest (higher, the forearm would have
# to point up and show the palm to the orchestra), and lowering palm down in front of the body to calm.
ASK_FROM, ASK_TO = (0.63, 0.62), (0.65, 0.52)
CALM_FROM, CALM_TO = (0.63, 0.53), (0.63, 0.62)
ASK_NEARER = 0.07  # asking, the hand comes this much nearer the body than it beats (image units), the elbow tucked
CUE_POINT = (0.69, 0.43)  # the left hand points up and out to an entrance
ENTRANCE_DB = 6.0  # a downbeat this much louder than the bar before is an entrance to cue
# Room between the hands (image units, 1.77 m each for the lift's body): while mirroring each
# stays this far on its own side of the midline; the hands, wrist to fingertips, never come
# closer than ``HAND_GAP`` in 3D (18 cm: 8 cm even on a rig of other proportions); the free
# hand stays ``MIDLINE_GAP`` on its side of the midline. Pushes ease over ``ROOM_SOFTNESS``.
MIRROR_GAP, HAND_GAP, MIDLINE_GAP, ROOM_SOFTNESS = 0.05, 0.10, 0.03, 0.01
MIRROR_HAND_GAP = 0.06  # ... the room while mirroring, each hand on its own side
# Each hand from its wrist to its fingertips (x, y, depth; image units): forward, the baton hand
# a little across the body toward the orchestra's middle.
HAND_REACH = {"left": (0.0, 0.0, 0.09), "right": (0.045, 0.0, 0.09)}


@dataclasses.dataclass
class LeftHand:
    """What the left hand does, per motion frame (30 fps).

    Attributes
    ----------
    wrist : np.ndarray [shape=(T, 2), float64]
        The left wrist, image coordinates.
    right : np.ndarray [shape=(T, 2), float64]
        The right wrist as given.
    depth : np.ndarray [shape=(T,), float64]
        The left wrist in front of its shoulder, image units.
    pole : np.ndarray [shape=(T, 3), float64]
        Direction the left elbow points (see :func:`core.procedural.pose.elbow_positions`).
    mirror, ask, calm, cue : np.ndarray [shape=(T,), float64] in [0, 1]
        The weight of each gesture: mirroring the right hand, asking (palm up), calming (palm
        down), cueing (pointing).
    """

    wrist: np.ndarray
    right: np.ndarray
    depth: np.ndarray
    pole: np.ndarray
    mirror: np.ndarray
    ask: np.ndarray
    calm: np.ndarray
    cue: np.ndarray


def left_hand(
    right: np.ndarray,
    plan: BeatPlan,
    track: BeatTrack,
    *,
    loudness_db: np.ndarray,
    times_s: np.ndarray,
    style: ConductingStyle,
    rng: np.random.Generator,
    variation: float,
) -> LeftHand:
    """The left wrist, where its elbow points, and the weight of each of its gestures.

    The left hand mirrors the right at ``LEFT_MIRROR_SHARE`` through loud passages, the
    preparation and first bar, holds and the final cut-off; rises palm up through a crescendo,
    lowers palm down through a diminuendo or after a subito piano, points to entrances, and
    otherwise rests. ``style.left_hand_activity`` 0 keeps it at rest; 2 mirrors from the
    median level on. The hands keep their room (:func:`keep_apart`).

    Parameters
    ----------
    right : np.ndarray [shape=(T, 2), float64]
        The right wrist per motion frame (30 fps), image coordinates.
    plan : BeatPlan
    track : BeatTrack
    loudness_db : np.ndarray [shape=(T,), float64]
        Level per frame, dB (:func:`core.procedural.loudness.loudness_30fps`).
    times_s : np.ndarray [shape=(T,), float64]
        Each frame's time, seconds.
    style : ConductingStyle
    rng : np.random.Generator
        The left hand's own stream of irregularity.
    variation : float >= 0
        Its scale.
    """
    frame_count = times_s.size
    activity = style.left_hand_activity
    taking_part = min(activity, 1.0)
    rest = np.array(REST_POSE["left_wrist"])
    together = mirrors(plan, track, times_s, activity=activity)
    mirror_weight = taking_part * smooth(together.astype(float), 0.6) * plan.engaged
    centre = np.array([2.0 * BODY_CENTRE_X - PATTERN_CENTRE_X, BEAT_PLANE_Y])
    mirrored = np.stack([2.0 * BODY_CENTRE_X - right[:, 0], right[:, 1]], axis=1)
    mirrored = centre + LEFT_MIRROR_SHARE * (mirrored - centre)
    mirrored += variation * slow_noise(rng, times_s, channels=2, amplitude=0.006)

    ask_weight, ask_progress, calm_weight, calm_progress = dynamic_gestures(plan, loudness_db, times_s)
    ask_point = np.array(ASK_FROM) + ask_progress[:, None] * (np.array(ASK_TO) - np.array(ASK_FROM))
    calm_point = np.array(CALM_FROM) + calm_progress[:, None] * (np.array(CALM_TO) - np.array(CALM_FROM))
    ask_weight, calm_weight = taking_part * ask_weight, taking_part * calm_weight
    cue = taking_part * cue_envelope(
        track,
        loudness_db,
        times_s,
        beats_s=plan.beats_s,
        period_s=plan.period_s,
        rng=rng,
        variation=variation,
        activity=activity,
    )

    left = rest + mirror_weight[:, None] * (mirrored - rest)
    for weight, point in ((ask_weight, ask_point), (calm_weight, calm_point), (cue, np.array(CUE_POINT))):
        left += weight[:, None] * (point - left)
    hand = LeftHand(
        left, right, np.zeros(frame_count), np.zeros((frame_count, 3)), mirror_weight, ask_weight, calm_weight, cue
    )
    return placed(hand, plan)


def placed(hand: LeftHand, plan: BeatPlan) -> LeftHand:
    """``hand`` with its elbow's pole and its depth set from its gestures' weights, and its wrist
    kept out of the baton hand's way (:func:`keep_apart`)."""
    working = np.maximum.reduce([hand.mirror, hand.ask, hand.calm, hand.cue])
    pole = ELBOW_POLE_REST + working[:, None] * (ELBOW_POLE - ELBOW_POLE_REST)
    pole += hand.ask[:, None] * (ELBOW_POLE_PALM_UP - pole)
    pole += hand.calm[:, None] * (ELBOW_POLE_PALM_DOWN - pole)
    depth = hand_depth(hand.wrist, "left", engaged=working) - ASK_NEARER * hand.ask
    right_depth = hand_depth(hand.right, "right", engaged=plan.engaged)
    # Mirroring, the hands already keep to their own sides (narrowed_for_mirroring): less room to make.
    gap = HAND_GAP + hand.mirror * (MIRROR_HAND_GAP - HAND_GAP)
    wrist = keep_apart(hand.wrist, hand.right, left_depth=depth, right_depth=right_depth, gap=gap)
    depth = hand_depth(wrist, "left", engaged=working) - ASK_NEARER * hand.ask
    return dataclasses.replace(hand, wrist=wrist, depth=depth, pole=pole)


def keep_apart(
    left: np.ndarray, right: np.ndarray, *, left_depth: np.ndarray, right_depth: np.ndarray, gap: np.ndarray
) -> np.ndarray:
    """The left wrist [shape=(T, 2)] moved out of the right hand's way: each hand a segment in 3D
    (image x, y and depth in front of the shoulders [shape=(T,)], image units) from its wrist
    along ``HAND_REACH`` (forward; the baton hand a little across the body), kept at least
    ``gap`` [shape=(T,)] apart by pushing the left wrist across the image away from the right, and never
    closer than ``MIDLINE_GAP`` to the body's midline. The push eases over a fifth of a second,
    so it never jumps."""
    samples = np.linspace(0.0, 1.0, 5)[None, :, None]
    left_3d = np.concatenate([left, left_depth[:, None]], axis=1)
    right_3d = np.concatenate([right, right_depth[:, None]], axis=1)
    left_points = left_3d[:, None] + samples * np.array(HAND_REACH["left"])
    right_points = right_3d[:, None] + samples * np.array(HAND_REACH["right"])
    distance = np.linalg.norm(left_points[:, :, None] - right_points[:, None, :], axis=-1).min(axis=(1, 2))
    planar = left - right
    planar_length = np.linalg.norm(planar, axis=1, keepdims=True)
    away = np.where(planar_length > 1e-6, planar / np.maximum(planar_length, 1e-9), np.array([1.0, 0.0]))
    push = softplus(gap - distance, ROOM_SOFTNESS)
    width = max(1, int(round(0.2 * MOTION_FPS)))
    push = running_mean(running_max(push, width), width)  # reaches its peak before the closest frame
    moved = left + push[:, None] * away
    moved[:, 0] += softplus((BODY_CENTRE_X + MIDLINE_GAP) - moved[:, 0], ROOM_SOFTNESS)
    return moved


def narrowed_for_mirroring(plan: BeatPlan, track: BeatTrack, *, style: ConductingStyle) -> BeatPlan:
    """``plan`` with the baton hand kept on its own side of the midline wherever the left hand
    mirrors it (:func:`mirrors`): the strokes' points past ``MIRROR_GAP`` short of the midline
    eased back, so the two hands meet in the middle without crossing. Across the body goes only
    the hand beating alone. Decided by beat, so a held hand never drifts."""
    if min(style.left_hand_activity, 1.0) <= 0.0:
        return plan
    mirrored = mirrors(plan, track, plan.beats_s, activity=style.left_hand_activity)
    # The left hand eases into and out of mirroring over a beat or so: a beat either side too.
    mirrored = mirrored | np.append(mirrored[1:], mirrored[-1]) | np.insert(mirrored[:-1], 0, mirrored[0])
    into_next = mirrored | np.append(mirrored[1:], mirrored[-1])  # a rebound leads into the next beat
    limit = BODY_CENTRE_X - MIRROR_GAP

    def narrowed(points: np.ndarray, where: np.ndarray | bool) -> np.ndarray:
        points = np.array(points, dtype=np.float64)
        eased = points[..., 0] - softplus(points[..., 0] - limit, ROOM_SOFTNESS)
        points[..., 0] = np.where(where, eased, points[..., 0])
        return points

    return dataclasses.replace(
        plan,
        ictus=narrowed(plan.ictus, mirrored),
        rebound=narrowed(plan.rebound, into_next),
        hold=narrowed(plan.hold, mirrored),
        ready=narrowed(plan.ready, True),
        prep_top=narrowed(plan.prep_top, True),
    )


def mirrors(plan: BeatPlan, track: BeatTrack, times_s: np.ndarray, *, activity: float) -> np.ndarray:
    """Whether the left hand mirrors the right at each motion frame: through loud passages
    (from ``MIRROR_DB`` over the median level, lower with more ``activity``), the start (raise,
    preparation, first bar), holds and cut-offs, and after the last beat.

    Returns
    -------
    np.ndarray [shape=(T,), bool]
        One per frame of ``times_s`` [shape=(T,)] (seconds, 30 fps).
    """
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
    return together


def dynamic_gestures(
    plan: BeatPlan, loudness_db: np.ndarray, times_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the left hand asks for more (a crescendo) and where it calms (a diminuendo, a
    subito piano): weights in [0, 1] and the progress through each gesture, per frame.

    A crescendo or diminuendo is a level trend of at least ``CRESCENDO_DB_PER_S`` for
    ``DYNAMIC_MIN_S`` while the music sounds throughout (an entrance after silence is not one).

    Parameters
    ----------
    plan : BeatPlan
    loudness_db, times_s : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps) in dB, and each frame's time in seconds.

    Returns
    -------
    ask_weight, ask_progress, calm_weight, calm_progress : np.ndarray [shape=(T,), float64] in [0, 1]
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
    *,
    beats_s: np.ndarray,
    period_s: np.ndarray,
    rng: np.random.Generator,
    variation: float,
    activity: float = 1.0,
) -> np.ndarray:
    """Weight in [0, 1] of the left hand's cue gesture: up a beat before, down on the cue.

    Cues go to downbeats where the music gets at least ``ENTRANCE_DB`` louder than in the bar
    before (an entrance), and with ``variation`` > 0 to a few more downbeats chosen at random
    (more with ``activity`` above 1).

    Parameters
    ----------
    track : BeatTrack
    loudness_db, times_s : np.ndarray [shape=(T,), float64]
        Level per motion frame (30 fps) in dB, and each frame's time in seconds.
    beats_s, period_s : np.ndarray [shape=(B,), float64]
        The beats and the local beat period at each, seconds (a cue is timed by the period at
        its own downbeat, so a beat edited elsewhere moves no cue).
    rng : np.random.Generator
    variation, activity : float >= 0

    Returns
    -------
    np.ndarray [shape=(T,), float64]
        One weight per frame.
    """
    weight = np.zeros(times_s.size)

    def level(time_s: float) -> float:
        return float(np.interp(time_s, times_s, loudness_db))

    last_cue = -np.inf
    downbeats_s = np.asarray(track.downbeats_s, dtype=np.float64)
    draws = uniform_at(rng, downbeats_s, span_s=times_s[-1] if times_s.size else 0.0)
    periods_s = period_s[np.clip(np.searchsorted(beats_s, downbeats_s), 0, max(period_s.size - 1, 0))]
    for downbeat, draw_, period in zip(downbeats_s, draws, periods_s):
        period = float(period)
        bar_s = period * max(track.meter, 1)
        entrance = level(downbeat + 0.3 * period) - level(downbeat - 0.5 * bar_s) >= ENTRANCE_DB
        chosen = draw_ < 0.08 * min(variation, 2.0) * activity
        if (entrance or chosen) and downbeat - last_cue > 2 * bar_s and downbeat > period:
            last_cue = downbeat
            # Rise over the beat before, point on the downbeat, let go over the next two beats.
            near = slice(*np.searchsorted(times_s, [downbeat - period, downbeat + 2 * period]))
            offset = (times_s[near] - downbeat) / period
            shape = np.where(offset < 0, np.clip(1.0 + offset, 0.0, 1.0), np.clip(1.0 - offset / 2.0, 0.0, 1.0))
            weight[near] = np.maximum(weight[near], np.sin(0.5 * np.pi * shape) ** 2)
    return weight
