"""The figure the procedural conductor draws: its rest pose and proportions in image units, and
its arms as two bones of constant length.

Keypoints use the model's image conventions (x, y in [0, 1], y down, the conductor's left at
larger x) and the scale of its output: shoulders about 0.17 apart at y 0.45, hips at y 0.75.
The arms are solved in 3D and projected, so the elbows sit where a real arm puts them and the
retargeting lifts them back without stretching.
"""

from __future__ import annotations

import numpy as np

from ..motion.skeleton import JOINT_INDEX

# Rest pose of the whole body, image coordinates (x right, y down), from the model's typical
# output; the eyes sit level with the ears as there (higher eyes lift to a head tipped back in
# 3D). The hands rest as conductors keep them: relaxed, a little in front of the body at about
# the waist, the elbows hanging at the sides (never on the hips). The elbows are solved from the
# wrists (see :func:`elbow_positions`); these two are where that puts them at rest.
REST_POSE = {
    "nose": (0.500, 0.386),
    "left_eye": (0.516, 0.367),
    "right_eye": (0.484, 0.367),
    "left_ear": (0.540, 0.364),
    "right_ear": (0.460, 0.364),
    "left_shoulder": (0.585, 0.452),
    "right_shoulder": (0.415, 0.452),
    "left_elbow": (0.601, 0.611),
    "right_elbow": (0.399, 0.611),
    "left_wrist": (0.625, 0.640),
    "right_wrist": (0.375, 0.640),
    "left_hip": (0.555, 0.750),
    "right_hip": (0.445, 0.750),
}
BODY_CENTRE_X = 0.5
SHOULDER_WIDTH = REST_POSE["left_shoulder"][0] - REST_POSE["right_shoulder"][0]  # image units
TORSO_IMAGE_HEIGHT = 0.30  # hips to shoulders in the image

# The arm as two bones in 3D, image units: the model's upper arms and forearms seen side-on
# (95th percentile of the official network's image lengths: 0.158 and 0.143).
UPPER_ARM_LENGTH, FOREARM_LENGTH = 0.16, 0.145
# Depth of the face points in front of the ears' midpoint (image units), for turning the head.
FACE_DEPTH = {"nose": 0.05, "left_eye": 0.035, "right_eye": 0.035, "left_ear": 0.0, "right_ear": 0.0}
REACH_SHARE = 0.97  # of the arm's length: the elbow never locks straight
# How far in front of the shoulders the hands work (toward the camera), image units: the beating
# hand some 45 cm in front of its shoulder (30 cm before the chest), the forearm pointing at the
# orchestra; further forward across the body, so the hand passes well in front of the chest. A
# hand at rest stays nearer the body.
HAND_DEPTH, HAND_DEPTH_ACROSS, REST_DEPTH = 0.21, 0.06, 0.14
# How far a wrist goes across the body past the other shoulder, and out past its own (image units).
ACROSS_REACH, OUTWARD_REACH = 0.02, 0.24
# Where each elbow points, for the left arm (x toward the conductor's left, y down, z toward the
# camera): mostly down, the upper arm hanging relaxed, a little out and forward; palm up
# (asking) tucks it down to the body, palm down lifts it out. The right arm's is mirrored.
ELBOW_POLE = np.array([0.3, 1.0, 0.2])
ELBOW_POLE_REST = np.array([0.15, 1.0, 0.1])
ELBOW_POLE_PALM_UP = np.array([0.15, 1.0, 0.3])
ELBOW_POLE_PALM_DOWN = np.array([0.8, 0.5, 0.15])


# The body this conductor is drawn from, for the lift to 3D (instead of estimating it from the
# piece, which an edited beat would shift everywhere): core.retarget.lift_to_3d(skeleton_units=...).
def _rest_distance(a: tuple[str, str], b: tuple[str, str]) -> float:
    """Image distance between the midpoints of two pairs of joints of the rest pose."""
    mid_a, mid_b = (np.mean([REST_POSE[name] for name in pair], axis=0) for pair in (a, b))
    return float(np.linalg.norm(mid_a - mid_b))


def _face_length(name: str, depth: float) -> float:
    """3D distance from the ears' midpoint to a face point of the rest pose that lies ``depth``
    (image units) in front of it, for the lift to recover the face's depth exactly."""
    mid = np.mean([REST_POSE["left_ear"], REST_POSE["right_ear"]], axis=0)
    return float(np.hypot(np.linalg.norm(np.array(REST_POSE[name]) - mid), depth))


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
    "nose": _face_length("nose", FACE_DEPTH["nose"]),
    "eye": _face_length("left_eye", FACE_DEPTH["left_eye"]),
}


def place_elbows(pose: np.ndarray, *, poles: dict[str, np.ndarray], depths: dict[str, np.ndarray]) -> None:
    """Set both elbows of ``pose`` [shape=(T, 13, 2), float64] (image coordinates, 30 fps) in
    place, from its shoulders and wrists, each wrist ``depths[side]`` [shape=(T,)] in front of
    its shoulder (image units) and its elbow pointing where ``poles[side]`` [shape=(T, 3)] says
    (see :func:`elbow_positions`); sides "left" and "right"."""
    for side in ("left", "right"):
        pose[:, JOINT_INDEX[f"{side}_elbow"]] = elbow_positions(
            pose[:, JOINT_INDEX[f"{side}_shoulder"]],
            pose[:, JOINT_INDEX[f"{side}_wrist"]],
            depth=depths[side],
            pole=poles[side],
        )


def hand_depth(wrist: np.ndarray, side: str, *, engaged: np.ndarray) -> np.ndarray:
    """How far in front of its shoulder a wrist works: ``HAND_DEPTH`` while conducting (further
    forward the more it crosses the body), ``REST_DEPTH`` at rest.

    Parameters
    ----------
    wrist : np.ndarray [shape=(T, 2), float64]
        The wrist per motion frame (30 fps), image coordinates.
    side : {"left", "right"}
    engaged : np.ndarray [shape=(T,), float64] in [0, 1]
        How much the hand takes part in the conducting per frame (0 at rest).

    Returns
    -------
    np.ndarray [shape=(T,), float64]
        Depth per frame, image units.
    """
    shoulder_x = REST_POSE[f"{side}_shoulder"][0]
    across = (wrist[:, 0] - shoulder_x) if side == "right" else (shoulder_x - wrist[:, 0])
    working = HAND_DEPTH + HAND_DEPTH_ACROSS * np.clip(across / SHOULDER_WIDTH, 0.0, 1.2)
    return REST_DEPTH + engaged * (working - REST_DEPTH)


def softplus(excess: np.ndarray, softness: float) -> np.ndarray:
    """A smooth max(``excess``, 0) [shape=(...)]: exactly 0 up to 0, easing in over ``softness``
    (a parabola, so its slope never jumps), then ``excess - softness / 2``; image units."""
    excess = np.asarray(excess, dtype=np.float64)
    return np.where(
        excess <= 0.0, 0.0, np.where(excess < softness, excess**2 / (2.0 * softness), excess - 0.5 * softness)
    )


def within_reach(x: np.ndarray, *, side: str, softness: float = 0.015) -> np.ndarray:
    """A wrist's image x [shape=(T,)] kept where its arm reaches comfortably: across the body no
    further than the other shoulder, out to the side no further than ``OUTWARD_REACH`` beyond
    its own; eased in over ``softness`` (image units), so the limit never shows as a corner."""
    own, other = REST_POSE[f"{side}_shoulder"][0], REST_POSE[f"{'left' if side == 'right' else 'right'}_shoulder"][0]
    outward = -1.0 if side == "right" else 1.0
    across_limit, out_limit = other - outward * ACROSS_REACH, own + outward * OUTWARD_REACH
    inward_excess = outward * (across_limit - x)  # > 0: past the other shoulder
    outward_excess = outward * (x - out_limit)  # > 0: too far out
    return x + outward * (softplus(inward_excess, softness) - softplus(outward_excess, softness))


def mirrored_pole(pole: np.ndarray) -> np.ndarray:
    """A left arm's elbow pole [shape=(..., 3)] for the right arm (x flipped)."""
    return np.asarray(pole) * np.array([-1.0, 1.0, 1.0])


def elbow_positions(shoulder: np.ndarray, wrist: np.ndarray, *, depth: np.ndarray, pole: np.ndarray) -> np.ndarray:
    """Elbows of two-bone arms of constant length, seen in the image.

    The wrist lies ``depth`` in front of the shoulder (less where the arm could not reach);
    the elbow sits on the circle the two bones allow, on the side ``pole`` points to.

    Parameters
    ----------
    shoulder, wrist : np.ndarray [shape=(T, 2), float64]
        Per motion frame (30 fps), image coordinates.
    depth : np.ndarray [shape=(T,), float64]
        Wrist in front of the shoulder, image units (:func:`hand_depth`).
    pole : np.ndarray [shape=(3,) or (T, 3), float64]
        Where the elbow points: (x, y down, toward the camera), any length.

    Returns
    -------
    np.ndarray [shape=(T, 2), float64]
        The elbow per frame, image coordinates.
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
    sin_bend = np.sqrt(1.0 - cos_bend**2)
    outward = np.sign(shoulder[:, 0] - BODY_CENTRE_X)
    across = never_behind(across, along, cos_bend=cos_bend, sin_bend=sin_bend, outward=outward)
    elbow = upper * (cos_bend[:, None] * along + sin_bend[:, None] * across)
    return shoulder + elbow[:, :2]


def never_behind(
    across: np.ndarray, along: np.ndarray, *, cos_bend: np.ndarray, sin_bend: np.ndarray, outward: np.ndarray
) -> np.ndarray:
    """Where the elbow points from the shoulder-wrist line [shape=(T, 3), unit], turned about
    ``along`` (that line, unit) just enough to keep the elbow from behind the shoulder's depth,
    outward (``outward`` [shape=(T,)]: +1 toward larger x, -1 smaller) where it can: the lift to
    3D reads every elbow as in front of its shoulder (or level with it), and an elbow drawn
    behind would lift with its hand too far forward. ``cos_bend``, ``sin_bend`` [shape=(T,)]
    place the elbow on its circle (see :func:`elbow_positions`)."""
    other = np.cross(along, across)
    depth_reach = np.hypot(across[:, 2], other[:, 2])  # the most the circle's depth can swing
    phase = np.arctan2(other[:, 2], across[:, 2])  # the turn that brings the elbow furthest forward
    behind = cos_bend * along[:, 2] + sin_bend * across[:, 2] < 0.0
    level = np.clip(-cos_bend * along[:, 2] / np.maximum(sin_bend * depth_reach, 1e-9), -1.0, 1.0)
    # The two turns that put the elbow level with the shoulder; the smaller one, or the most forward.
    turns = np.stack([phase - np.arccos(level), phase + np.arccos(level)], axis=1)
    turns = (turns + np.pi) % (2.0 * np.pi) - np.pi
    # The elbow's offset across from its shoulder for each: one tucked inside the shoulder (into
    # the body) is taken only when both are.
    sideways = cos_bend[:, None] * along[:, 0:1] + sin_bend[:, None] * (
        np.cos(turns) * across[:, 0:1] + np.sin(turns) * other[:, 0:1]
    )
    clear = sideways * outward[:, None] >= -0.02
    smaller = np.abs(turns[:, 0]) <= np.abs(turns[:, 1])
    first = np.where(
        clear[:, 0] == clear[:, 1],
        np.where(clear[:, 0], smaller, sideways[:, 0] * outward >= sideways[:, 1] * outward),
        clear[:, 0],
    )
    turn = np.where(first, turns[:, 0], turns[:, 1])
    turn = np.where(behind, turn, 0.0)
    return np.cos(turn)[:, None] * across + np.sin(turn)[:, None] * other
