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
TORSO_IMAGE_HEIGHT = 0.30  # hips to shoulders in the image

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


def place_elbows(pose: np.ndarray, *, left_pole: np.ndarray) -> None:
    """Set both elbows of ``pose`` [shape=(T, 13, 2), float64] (image coordinates, 30 fps) in
    place, from its shoulders and wrists: the right elbow points out, down and a little forward,
    the left where ``left_pole`` [shape=(T, 3)] says (see :func:`elbow_positions`)."""
    for side, pole in (("right", ELBOW_POLE * np.array([-1.0, 1.0, 1.0])), ("left", left_pole)):
        wrist = pose[:, JOINT_INDEX[f"{side}_wrist"]]
        depth = hand_depth(wrist, side)
        pose[:, JOINT_INDEX[f"{side}_elbow"]] = elbow_positions(
            pose[:, JOINT_INDEX[f"{side}_shoulder"]], wrist, depth=depth, pole=pole
        )


def hand_depth(wrist: np.ndarray, side: str) -> np.ndarray:
    """How far in front of its shoulder a wrist works: further forward the more it crosses the body.

    Parameters
    ----------
    wrist : np.ndarray [shape=(T, 2), float64]
        The wrist per motion frame (30 fps), image coordinates.
    side : {"left", "right"}

    Returns
    -------
    np.ndarray [shape=(T,), float64]
        Depth per frame, image units.
    """
    shoulder_x = REST_POSE[f"{side}_shoulder"][0]
    across = (wrist[:, 0] - shoulder_x) if side == "right" else (shoulder_x - wrist[:, 0])
    return HAND_DEPTH + HAND_DEPTH_ACROSS * np.clip(across / SHOULDER_WIDTH, 0.0, 1.2)


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
    elbow = upper * (cos_bend[:, None] * along + np.sqrt(1.0 - cos_bend**2)[:, None] * across)
    return shoulder + elbow[:, :2]
