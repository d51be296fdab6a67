"""The body around the hands: the torso leans with intensity and gives a little into each beat, the
head follows the beating hand a little behind it, turns to cues and nods after downbeats, the chest
lifts for big preparations.

Every movement is an angle of a bone of constant length, projected into the image, so the lift to
3D (which knows the lengths, ``SKELETON_UNITS``) recovers it exactly: an image-plane nudge of the
shoulders or the head that no bone of that length can make would be read as a lean of many degrees
(a 5 mm bob of an upright torso as a 10 degree rock) and pop from frame to frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..beats.track import BeatTrack
from ..motion.skeleton import JOINT_INDEX
from .irregularity import slow_noise
from .patterns import BEAT_PLANE_Y, PATTERN_CENTRE_X
from .planning import BeatPlan, smooth
from .pose import FACE_DEPTH, REST_POSE, SKELETON_UNITS
from .style import ConductingStyle

LEAN_BASE_RAD = np.radians(3.0)  # a conductor stands a little forward, toward the orchestra
LEAN_MAX_RAD = np.radians(9.0)  # more forward lean at the loudest, energy 1
BOB_RAD, BOB_WIDTH_S = np.radians(1.5), 0.15  # the torso gives this much into each ictus (size 1), over about this
BREATH_RAD = np.radians(2.5)  # ... and straightens this much (the chest lifting) for a big preparation
SIDE_SHIFT = 0.05  # the shoulders follow the beating hand across by this share of its offset
NECK_LEAN_RAD = np.radians(8.0)  # the head carried a little forward of the torso's line
HEAD_YAW_MAX_RAD = np.radians(12.0)  # the head turns toward the beating hand, at most this much
HEAD_LAG_S = 0.2  # ... a little behind it
HEAD_FOLLOW_PITCH_RAD = np.radians(3.0)  # it dips with the hand into low strokes
CUE_YAW_RAD = np.radians(15.0)  # ... and turns toward a cue of the left hand
NOD_RAD = np.radians(6.0)  # a small nod after each downbeat
BODY_SETTLE_S = 0.8  # the body leans into the conducting and out of it over this


@dataclasses.dataclass
class BodyAngles:
    """The body's angles per motion frame (30 fps), radians, each [shape=(T,), float64].

    Attributes
    ----------
    lean : forward lean of the torso from upright.
    side : sideways lean of the torso, toward the conductor's left (larger image x).
    neck : forward tilt of the neck from upright.
    yaw : the head's turn toward the conductor's left.
    pitch : the head's nod down.
    """

    lean: np.ndarray
    side: np.ndarray
    neck: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray


def move_body(
    pose: np.ndarray,
    plan: BeatPlan,
    track: BeatTrack,
    *,
    times_s: np.ndarray,
    style: ConductingStyle,
    cue: np.ndarray,
    rng: np.random.Generator,
    variation: float,
) -> BodyAngles:
    """Torso, shoulders and head around the hands (see :func:`body_angles`), set in ``pose`` in place.

    Parameters
    ----------
    pose : np.ndarray [shape=(T, 13, 2), float64]
        All keypoints per motion frame (30 fps), image coordinates, wrists already set; moved in place.
    plan : BeatPlan
    track : BeatTrack
    times_s : np.ndarray [shape=(T,), float64]
        Each frame's time, seconds.
    style : ConductingStyle
    cue : np.ndarray [shape=(T,), float64] in [0, 1]
        The left hand's cue weight per frame (:func:`core.procedural.left_hand.left_hand`).
    rng : np.random.Generator
        The body's own stream of irregularity.
    variation : float >= 0
        Its scale.

    Returns
    -------
    BodyAngles
        The angles drawn, per frame.
    """
    index = JOINT_INDEX
    frame_count = times_s.size
    hand_x = smooth(pose[:, index["right_wrist"], 0], 0.5)
    angles = body_angles(plan, track, times_s, style=style, hand_x=hand_x, cue=cue, rng=rng, variation=variation)

    hips_shift = 0.3 * SKELETON_UNITS["torso"] * np.sin(angles.side)
    hips_shift = hips_shift + variation * slow_noise(rng, times_s, channels=1, amplitude=0.001)[:, 0] * plan.engaged
    for name in ("left_hip", "right_hip"):
        pose[:, index[name], 0] += hips_shift
    pelvis = (pose[:, index["left_hip"]] + pose[:, index["right_hip"]]) / 2
    neck = pelvis + bone(SKELETON_UNITS["torso"], forward=angles.lean, side=angles.side)
    # A hand raised above the chest lifts its shoulder: the shoulder line tilts about the neck.
    lift = {side: 0.06 * np.maximum(0.0, 0.55 - pose[:, index[f"{side}_wrist"], 1]) for side in ("left", "right")}
    tilt = 0.5 * (lift["left"] - lift["right"])
    half = SKELETON_UNITS["shoulder_half"]
    pose[:, index["left_shoulder"]] = neck + np.stack([np.full(frame_count, half), -tilt], axis=1)
    pose[:, index["right_shoulder"]] = neck + np.stack([np.full(frame_count, -half), tilt], axis=1)

    ears_mid = neck + bone(SKELETON_UNITS["neck"], forward=angles.neck, side=-0.5 * angles.side)
    turn_head(pose, angles.yaw, angles.pitch, centre=ears_mid)
    return angles


def bone(length: float, *, forward: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The image offset [shape=(T, 2)] (x, y down) of an upright bone of ``length`` (image units)
    leaning ``forward`` (toward the camera) and to the ``side`` (toward larger x), radians [shape=(T,)]:
    its projection, which the lift's constant length turns back into the same angles."""
    return length * np.stack([np.sin(side), -np.cos(side) * np.cos(forward)], axis=1)


def body_angles(
    plan: BeatPlan,
    track: BeatTrack,
    times_s: np.ndarray,
    *,
    style: ConductingStyle,
    hand_x: np.ndarray,
    cue: np.ndarray,
    rng: np.random.Generator,
    variation: float,
) -> BodyAngles:
    """How the body turns: the torso leans with intensity, gives into each beat and straightens
    for preparations, follows the beating hand (``hand_x`` [shape=(T,)], its smoothed image x)
    across; the neck carries the head a little forward, half the lean more; the head follows the
    hand ``HEAD_LAG_S`` behind, turns to cues (``cue`` [shape=(T,)]) and nods after downbeats."""
    # The body settles into and out of conducting more slowly than the hands.
    engaged, energy = smooth(plan.engaged, BODY_SETTLE_S), style.energy
    beats_s = plan.beats_s
    segment = np.clip(np.searchsorted(beats_s, times_s, side="right") - 1, 0, beats_s.size - 1)
    size_now = smooth(plan.size[np.clip(segment + 1, 0, beats_s.size - 1)] / style.gesture_size, 0.8)
    intensity = energy * LEAN_MAX_RAD * np.clip((size_now - 0.7) / 0.6, 0.0, 1.0)
    nearest_s = np.minimum(
        np.abs(times_s - beats_s[segment]), np.abs(times_s - beats_s[np.clip(segment + 1, 0, beats_s.size - 1)])
    )
    bob = energy * BOB_RAD * size_now * np.exp(-((nearest_s / BOB_WIDTH_S) ** 2))
    breath = BREATH_RAD * smooth(preparation_breath(plan, track, times_s), 0.3)  # even a quick upbeat breathes smoothly
    wobble = variation * slow_noise(rng, times_s, channels=3, amplitude=np.radians(0.6))
    lean = LEAN_BASE_RAD + (intensity + bob - breath + wobble[:, 0]) * engaged
    lean = np.maximum(lean, np.radians(0.5))  # the lift reads a lean as forward: never behind upright
    side = np.arcsin(np.clip(SIDE_SHIFT * energy * (hand_x - PATTERN_CENTRE_X) / SKELETON_UNITS["torso"], -0.2, 0.2))
    side = side * engaged + wobble[:, 1] * engaged

    lagged_x = np.interp(times_s - HEAD_LAG_S, times_s, hand_x)
    hand_low = np.interp(times_s - HEAD_LAG_S, times_s, smooth(plan_height(plan, times_s), 0.3))
    yaw = np.clip(energy * HEAD_YAW_MAX_RAD * (lagged_x - PATTERN_CENTRE_X) / 0.2, -HEAD_YAW_MAX_RAD, HEAD_YAW_MAX_RAD)
    yaw = smooth((yaw + CUE_YAW_RAD * cue) * engaged, 0.3)
    yaw += variation * slow_noise(rng, times_s, channels=1, amplitude=np.radians(2.0))[:, 0] * engaged
    pitch = (nods(plan, track, times_s) + HEAD_FOLLOW_PITCH_RAD * hand_low + wobble[:, 2]) * engaged
    return BodyAngles(lean=lean, side=side, neck=NECK_LEAN_RAD + 0.5 * (lean - LEAN_BASE_RAD), yaw=yaw, pitch=pitch)


def plan_height(plan: BeatPlan, times_s: np.ndarray) -> np.ndarray:
    """How far below its beat plane the stroke at each frame aims, in [-1, 1] (1 at an ictus,
    about -1 at the top of a big rebound): the ictuses and rebounds of the plan, interpolated."""
    low = (plan.ictus[:, 1] - BEAT_PLANE_Y) / 0.15
    return np.clip(np.interp(times_s, plan.beats_s, low), -1.0, 1.0)


def nods(plan: BeatPlan, track: BeatTrack, times_s: np.ndarray) -> np.ndarray:
    """A small nod of the head over the beat after each downbeat [shape=(T,)], radians."""
    downbeats = np.asarray(track.downbeats_s)
    if not downbeats.size:
        return np.zeros(times_s.size)
    last_downbeat = np.clip(np.searchsorted(downbeats, times_s, side="right") - 1, 0, downbeats.size - 1)
    # the beat period at that downbeat, so a beat edited elsewhere changes no nod
    at_beat = np.clip(np.searchsorted(plan.beats_s, downbeats), 0, plan.period_s.size - 1)
    offset = (times_s - downbeats[last_downbeat]) / plan.period_s[at_beat][last_downbeat]
    return NOD_RAD * np.where((offset >= 0) & (offset < 1), np.sin(np.pi * np.clip(offset, 0, 1)), 0.0)


def preparation_breath(plan: BeatPlan, track: BeatTrack, times_s: np.ndarray) -> np.ndarray:
    """How much the chest lifts for a preparation: fully for the preparatory beat and after each
    hold, and in proportion to how big the stroke into the next downbeat is (from size 0.9 up).

    Returns
    -------
    np.ndarray [shape=(T,), float64] in [0, 1]
        One per frame of ``times_s`` (seconds, 30 fps).
    """
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


def turn_head(pose: np.ndarray, yaw_rad: np.ndarray, pitch_rad: np.ndarray, *, centre: np.ndarray) -> None:
    """Place the face keypoints of ``pose`` [shape=(T, 13, 2)] (image coordinates) about the ears'
    midpoint ``centre`` [shape=(T, 2)], in place: turned ``yaw_rad`` toward the conductor's left
    (larger x), nodded ``pitch_rad`` down; each [shape=(T,)], radians per motion frame."""
    rest_centre = np.mean([REST_POSE["left_ear"], REST_POSE["right_ear"]], axis=0)
    cos_yaw, sin_yaw = np.cos(yaw_rad), np.sin(yaw_rad)
    cos_pitch, sin_pitch = np.cos(pitch_rad), np.sin(pitch_rad)
    for name, depth in FACE_DEPTH.items():
        x, y = np.array(REST_POSE[name]) - rest_centre
        # Yaw about the vertical axis (x across, depth toward the camera), then pitch about x.
        turned_x = x * cos_yaw + depth * sin_yaw
        turned_depth = -x * sin_yaw + depth * cos_yaw
        turned_y = y * cos_pitch + turned_depth * sin_pitch
        pose[:, JOINT_INDEX[name]] = centre + np.stack([turned_x, turned_y], axis=1)
