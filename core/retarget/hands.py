"""The hands in 3D: where each hand points and where its palm faces, the baton's line, and how far
each finger joint curls, from the forearms and the hand channels (:data:`core.motion.skeleton.HAND_CHANNELS`).

A motion without hand channels (the networks') gets them from its wrists: the flex follows each
stroke into the ictus and back, the baton hand grips palm down, the free hand is relaxed.

Directions are in the lift's world frame (metres, Z up, the conductor facing -Y, left on +X).
The palm's turn is measured about the hand's own line from "palm down" (the side of the hand
facing the floor; for a hand hanging down, facing back), toward the body's midline.
"""

from __future__ import annotations

import numpy as np

from ..motion.skeleton import HAND_CHANNELS, JOINT_INDEX
from .rotations import cross3, dot3, gaussian_smooth, normalize, rotate_toward

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
FLEX, TURN, CURL, POINT = (HAND_CHANNELS.index(name) for name in ("flex", "turn", "curl", "point"))
# The baton's line: toward the orchestra, turned this much in toward the middle of it and raised
# BATON_ELEVATION_RAD above the horizon, lowered by the wrist's flex into each ictus; the hand
# reaches it within WRIST_REACH_RAD of its forearm.
BATON_INWARD_RAD = np.radians(15.0)
BATON_ELEVATION_RAD = np.radians(10.0)
WRIST_REACH_RAD = np.radians(60.0)
# Derived channels (a motion without hands): the flex follows the wrist's height against its
# local mean (a Gaussian of this sigma), full at this share of the shoulder width below it.
DERIVED_FLEX_RAD, DERIVED_FLEX_SECONDS, DERIVED_FLEX_REFERENCE_SW = 0.3, 0.35, 0.35
DERIVED_BATON = (0.0, 0.45, 1.0, 0.0)  # flex (replaced), turn, curl (grip), point
DERIVED_FREE = (0.0, 0.9, 0.3, 0.0)
# Each finger's three joint angles (radians) fully curled (curl 1) for a free hand, and for the
# baton hand's grip: the index and thumb pinch the baton, the other fingers close round its end.
FIST_RAD = {
    "thumb": (0.35, 0.5, 0.6),
    "index": (1.2, 1.5, 1.0),
    "middle": (1.3, 1.6, 1.0),
    "ring": (1.35, 1.6, 1.0),
    "pinky": (1.4, 1.6, 1.0),
}
GRIP_RAD = {
    "thumb": (0.25, 0.35, 0.35),
    "index": (0.55, 0.8, 0.5),
    "middle": (1.0, 1.3, 0.8),
    "ring": (1.15, 1.4, 0.9),
    "pinky": (1.25, 1.45, 0.9),
}
POINT_OTHERS = 0.85  # pointing, the other fingers curl at least this much
# The free hand turns away from the other hand (outward at the wrist, at most AWAY_MAX_RAD) where
# the two hands with their fingers (HAND_REACH_M from the wrist) would come closer than HANDS_APART_M
# (15 cm in the lifted body: 8 cm on a rig with narrower shoulders).
HANDS_APART_M, HAND_REACH_M, AWAY_MAX_RAD, AWAY_SECONDS = 0.15, 0.18, np.radians(50.0), 0.1


def derived_hands(points: np.ndarray, *, fps: float, baton_side: str | None) -> np.ndarray:
    """Hand channels for a motion that has none [shape=(T, 2, 4), float64], left then right, from
    its repaired keypoints ``points`` [shape=(T, 13, 2)] (image units, y down) at ``fps``: each
    wrist flexes as it drops into a stroke and back as it rises; the baton hand (``baton_side``
    "L", "R" or None) grips palm down, the other is relaxed."""
    shoulders = points[:, JOINT_INDEX["left_shoulder"]] - points[:, JOINT_INDEX["right_shoulder"]]
    shoulder_width = float(np.median(np.linalg.norm(shoulders, axis=1)))
    channels = np.zeros((len(points), 2, len(HAND_CHANNELS)))
    for index, (side, joint) in enumerate((("L", "left_wrist"), ("R", "right_wrist"))):
        height = points[:, JOINT_INDEX[joint], 1]
        local = height - gaussian_smooth(height, DERIVED_FLEX_SECONDS * fps)
        channels[:, index] = DERIVED_BATON if side == baton_side else DERIVED_FREE
        reference = max(DERIVED_FLEX_REFERENCE_SW * shoulder_width, 1e-6)
        channels[:, index, FLEX] = DERIVED_FLEX_RAD * np.clip(local / reference, -1.0, 1.0)
    return channels


def palm_down(direction: np.ndarray, *, up: np.ndarray, back: np.ndarray) -> np.ndarray:
    """The "palm down" normal of a hand pointing along ``direction`` [shape=(..., 3)], unit, at a
    right angle to it: toward the floor, or, as the hand points up or down, toward ``back`` (the
    body's back), blended so it never jumps. ``up`` and ``back`` [shape=(3,)] are the body's."""
    vertical = np.abs(dot3(direction, up))[..., None]
    down = -up - dot3(-up, direction)[..., None] * direction
    behind = back - dot3(back, direction)[..., None] * direction
    weight = np.clip((vertical - 0.8) / 0.15, 0.0, 1.0)
    return normalize((1.0 - weight) * normalize(down, behind) + weight * normalize(behind, down), -up)


def palm_normal(
    direction: np.ndarray, turn: np.ndarray, *, inward: np.ndarray, up: np.ndarray, back: np.ndarray
) -> np.ndarray:
    """The palm's normal [shape=(T, 3)] of a hand pointing along ``direction`` [shape=(T, 3)],
    turned ``turn`` [shape=(T,)] radians from palm down toward the body's midline (``inward``
    [shape=(3,)], the direction of the midline from this hand's side)."""
    down = palm_down(direction, up=up, back=back)
    across = normalize(cross3(direction, down))
    across = across * np.where(dot3(across, inward) < 0, -1.0, 1.0)[..., None]
    return normalize(np.cos(turn)[:, None] * down + np.sin(turn)[:, None] * across, down)


def free_hand(
    forearm: np.ndarray, channels: np.ndarray, *, inward: np.ndarray, up: np.ndarray, back: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(direction, palm normal) [each shape=(T, 3)] of a hand without the baton: its forearm
    [shape=(T, 3), unit] turned by the channels' ``turn`` and bent toward the palm by ``flex``."""
    palm = palm_normal(forearm, channels[:, TURN], inward=inward, up=up, back=back)
    flex = channels[:, FLEX][:, None]
    direction = normalize(np.cos(flex) * forearm + np.sin(flex) * palm, forearm)
    return direction, normalize(np.cos(flex) * palm - np.sin(flex) * forearm, palm)


def baton_hand(
    forearm: np.ndarray, channels: np.ndarray, *, inward: np.ndarray, up: np.ndarray, back: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(direction, palm normal) [each shape=(T, 3)] of the hand holding the baton: the baton's
    line toward the orchestra, a little in and up (lowered by the ``flex`` into each ictus),
    as near as the wrist reaches from the forearm [shape=(T, 3), unit]."""
    heading = normalize(np.cos(BATON_INWARD_RAD) * -back + np.sin(BATON_INWARD_RAD) * inward)
    elevation = BATON_ELEVATION_RAD - channels[:, FLEX]
    line = np.cos(elevation)[:, None] * heading + np.sin(elevation)[:, None] * up
    direction = rotate_toward(line, forearm, WRIST_REACH_RAD)
    return direction, palm_normal(direction, channels[:, TURN], inward=inward, up=up, back=back)


def finger_angles(channels: np.ndarray, *, holds_baton: bool) -> dict[str, np.ndarray]:
    """Each finger's three joint angles [shape=(T, 3)] in radians, curling toward the palm, from
    one hand's channels [shape=(T, 4)]: a free hand curls all fingers by ``curl``, straightening
    the index as it ``point``s; the baton hand grips by ``curl``."""
    curl = np.clip(channels[:, CURL], 0.0, 1.0)[:, None]
    point = np.clip(channels[:, POINT], 0.0, 1.0)[:, None]
    table = GRIP_RAD if holds_baton else FIST_RAD
    angles = {}
    for finger in FINGERS:
        amount = curl
        if finger == "index":
            amount = curl * (1.0 - point)
        elif finger != "thumb":
            amount = curl + point * np.maximum(POINT_OTHERS - curl, 0.0)
        angles[finger] = amount * np.asarray(table[finger])
    return angles


def turned_apart(
    wrists: dict[str, np.ndarray],
    hands: dict[str, np.ndarray],
    palms: dict[str, np.ndarray],
    *,
    free_side: str,
    fps: float,
) -> None:
    """Turn the hand on ``free_side`` ("L" or "R") outward at the wrist, in place in ``hands`` and
    ``palms`` (by side, [each shape=(T, 3)], unit), wherever it and the other hand (each a
    segment from its wrist in ``wrists`` [shape=(T, 3)], metres, ``HAND_REACH_M`` long) come closer
    than ``HANDS_APART_M``: their fingers then never meet. The turn eases in and out over
    ``AWAY_SECONDS`` (at ``fps``), so it never jumps."""
    other = "R" if free_side == "L" else "L"
    samples = np.linspace(0.0, HAND_REACH_M, 6)
    free_points = wrists[free_side][:, None] + samples[None, :, None] * hands[free_side][:, None]
    other_points = wrists[other][:, None] + samples[None, :, None] * hands[other][:, None]
    gap = np.linalg.norm(free_points[:, :, None] - other_points[:, None, :], axis=-1).min(axis=(1, 2))
    need = np.clip((HANDS_APART_M - gap) / HAND_REACH_M, 0.0, None)
    if not np.any(need > 0):
        return
    width = max(1, int(round(AWAY_SECONDS * fps)))
    padded = np.pad(need, width, mode="edge")
    need = np.max(
        np.lib.stride_tricks.sliding_window_view(padded, 2 * width + 1), axis=1
    )  # before the closest frame too
    angle = np.minimum(gaussian_smooth(need, width / 2) * 2.0, 1.0) * AWAY_MAX_RAD
    outward = np.array([1.0, 0.0, 0.0]) if free_side == "L" else np.array([-1.0, 0.0, 0.0])
    direction = hands[free_side]
    away = normalize(outward - dot3(outward, direction)[:, None] * direction, palms[free_side])
    turned = normalize(np.cos(angle)[:, None] * direction + np.sin(angle)[:, None] * away, direction)
    palm = palms[free_side] - dot3(palms[free_side], turned)[:, None] * turned
    hands[free_side], palms[free_side] = turned, normalize(palm, palms[free_side])
