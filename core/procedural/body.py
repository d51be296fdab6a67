"""The body around the hands: the torso leans with intensity and gives a little into each beat, the
head turns toward the beating hand and to cues and nods after downbeats, the shoulders lift on
big preparations."""

from __future__ import annotations

import numpy as np

from ..beats.track import BeatTrack
from ..motion.skeleton import JOINT_INDEX
from .irregularity import slow_noise
from .patterns import PATTERN_CENTRE_X
from .planning import BeatPlan, smooth
from .pose import REST_POSE, TORSO_IMAGE_HEIGHT
from .style import ConductingStyle

LEAN_MAX_RAD = np.radians(9.0)  # forward lean at the loudest, energy 1
BREATH_Y = 0.012  # both shoulders lift this much on a big preparation
BOB_Y = 0.005  # the shoulders give this much into each ictus (size 1)
HEAD_YAW_MAX_RAD = np.radians(12.0)  # the head turns toward the beating hand, at most this much
CUE_YAW_RAD = np.radians(15.0)  # ... and toward a cue of the left hand
NOD_RAD = np.radians(6.0)  # a small nod after each downbeat
# Depth of the face points in front of the ears' midpoint (image units), for turning the head.
FACE_DEPTH = {"nose": 0.05, "left_eye": 0.035, "right_eye": 0.035, "left_ear": 0.0, "right_ear": 0.0}


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
) -> None:
    """Torso, shoulders and head around the hands: a lean with intensity, a give into each
    beat, the body following the beating hand, the shoulders lifting on big preparations and
    when a hand goes high, the head turning toward the beating hand and to cues and nodding
    after downbeats.

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
    """
    index = JOINT_INDEX
    frame_count = times_s.size
    engaged = plan.engaged
    hand_x = smooth(pose[:, index["right_wrist"], 0], 0.5)
    torso, lean = torso_motion(plan, track, times_s, style=style, hand_x=hand_x, rng=rng, variation=variation)
    for side in ("left", "right"):
        shoulder = pose[:, index[f"{side}_shoulder"]]
        shoulder += torso
        # A hand raised above the chest lifts its shoulder a little.
        shoulder[:, 1] -= 0.06 * np.maximum(0.0, 0.55 - pose[:, index[f"{side}_wrist"], 1])

    yaw, pitch = head_angles(
        plan, track, times_s, style=style, hand_x=hand_x, lean=lean, cue=cue, rng=rng, variation=variation
    )
    turn_head(pose, yaw, pitch)
    head_shift = torso + np.stack([np.zeros(frame_count), 0.09 * np.sin(lean) ** 2], axis=1)
    for name in FACE_DEPTH:
        pose[:, index[name]] += head_shift
    hips = 0.3 * torso[:, 0] + variation * slow_noise(rng, frame_count, channels=1, amplitude=0.001)[:, 0] * engaged
    for name in ("left_hip", "right_hip"):
        pose[:, index[name], 0] += hips


def torso_motion(
    plan: BeatPlan,
    track: BeatTrack,
    times_s: np.ndarray,
    *,
    style: ConductingStyle,
    hand_x: np.ndarray,
    rng: np.random.Generator,
    variation: float,
) -> tuple[np.ndarray, np.ndarray]:
    """How the torso moves: it follows the beating hand (``hand_x`` [shape=(T,)], its smoothed
    image x), leans with intensity, gives into each beat and lifts for preparations.

    Returns
    -------
    torso : np.ndarray [shape=(T, 2), float64]
        The shoulders' shift per motion frame (30 fps), image units.
    lean : np.ndarray [shape=(T,), float64]
        The forward lean per frame, radians.
    """
    frame_count = times_s.size
    engaged, energy = plan.engaged, style.energy
    beats_s = plan.beats_s
    segment = np.clip(np.searchsorted(beats_s, times_s, side="right") - 1, 0, beats_s.size - 1)
    size_now = smooth(plan.size[np.clip(segment + 1, 0, beats_s.size - 1)] / style.gesture_size, 0.8)
    lean = energy * LEAN_MAX_RAD * np.clip((size_now - 0.7) / 0.6, 0.0, 1.0) * engaged
    nearest_s = np.minimum(
        np.abs(times_s - beats_s[segment]), np.abs(times_s - beats_s[np.clip(segment + 1, 0, beats_s.size - 1)])
    )
    bob = energy * BOB_Y * size_now * np.exp(-((nearest_s / 0.1) ** 2)) * engaged
    breath = BREATH_Y * preparation_breath(plan, track, times_s)
    torso = np.zeros((frame_count, 2))
    torso[:, 0] = 0.05 * energy * (hand_x - PATTERN_CENTRE_X) * engaged
    torso[:, 1] = TORSO_IMAGE_HEIGHT * (1.0 - np.cos(lean)) + bob - breath
    torso += variation * slow_noise(rng, frame_count, channels=2, amplitude=0.002) * engaged[:, None]
    return torso, lean


def head_angles(
    plan: BeatPlan,
    track: BeatTrack,
    times_s: np.ndarray,
    *,
    style: ConductingStyle,
    hand_x: np.ndarray,
    lean: np.ndarray,
    cue: np.ndarray,
    rng: np.random.Generator,
    variation: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Where the head looks: a turn toward the beating hand (``hand_x``) and to cues (``cue``),
    a nod after each downbeat, and half the torso's ``lean``; inputs [shape=(T,)] per motion frame.

    Returns
    -------
    yaw, pitch : np.ndarray [shape=(T,), float64]
        Radians per frame, as :func:`turn_head` takes them.
    """
    frame_count = times_s.size
    engaged, energy = plan.engaged, style.energy
    yaw = np.clip(energy * HEAD_YAW_MAX_RAD * (hand_x - PATTERN_CENTRE_X) / 0.2, -HEAD_YAW_MAX_RAD, HEAD_YAW_MAX_RAD)
    yaw = smooth((yaw + CUE_YAW_RAD * cue) * engaged, 0.3)
    yaw += variation * slow_noise(rng, frame_count, channels=1, amplitude=np.radians(2.0))[:, 0] * engaged
    downbeats = np.asarray(track.downbeats_s)
    nod = np.zeros(frame_count)
    if downbeats.size:
        last_downbeat = np.clip(np.searchsorted(downbeats, times_s, side="right") - 1, 0, downbeats.size - 1)
        offset = (times_s - downbeats[last_downbeat]) / float(np.median(plan.period_s))
        nod = np.where((offset >= 0) & (offset < 1), np.sin(np.pi * np.clip(offset, 0, 1)), 0.0)
    pitch = NOD_RAD * nod * engaged + 0.5 * lean
    return yaw, pitch


def preparation_breath(plan: BeatPlan, track: BeatTrack, times_s: np.ndarray) -> np.ndarray:
    """How much the shoulders lift for a preparation: fully for the preparatory beat and after
    each hold, and in proportion to how big the stroke into the next downbeat is (from size 0.9 up).

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


def turn_head(pose: np.ndarray, yaw_rad: np.ndarray, pitch_rad: np.ndarray) -> None:
    """Turn the face keypoints of ``pose`` [shape=(T, 13, 2)] (image coordinates) about the ears'
    midpoint, in place: ``yaw_rad`` toward the conductor's left (larger x), ``pitch_rad`` down;
    each [shape=(T,)], radians per motion frame."""
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
