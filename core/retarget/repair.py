"""Repair raw keypoints before lifting: drop impossible values, fix left/right label swaps,
fill the holes from neighbouring frames.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..motion.skeleton import JOINT_COUNT, JOINT_INDEX, MIRROR_INDEX

# A neutral conducting pose in shoulder widths, origin between the shoulders, x toward the
# conductor's left (image right), y down. Stands in for joints never seen in a whole piece.
NEUTRAL_POSE_SW = np.array(
    [
        [0.0, -0.55],
        [0.08, -0.62],
        [-0.08, -0.62],
        [0.2, -0.58],
        [-0.2, -0.58],
        [0.5, 0.0],
        [-0.5, 0.0],
        [0.7, 0.7],
        [-0.7, 0.7],
        [0.45, 1.0],
        [-0.45, 1.0],
        [0.3, 1.15],
        [-0.3, 1.15],
    ]
)
COLLAPSED_SPREAD = 0.01  # frames whose joints span less than this (image units) are lost
_LS, _RS = JOINT_INDEX["left_shoulder"], JOINT_INDEX["right_shoulder"]


def repair_keypoints(keypoints: np.ndarray, *, mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Valid, complete keypoints from raw generator output.

    A joint is missing when it is not finite, lies outside [0, 1], or is exactly (0, 0);
    a frame whose joints collapse to a point (or has fewer than 3 valid ones) is missing
    entirely. Left/right label swaps are undone; then each missing joint is interpolated
    linearly in time between its valid neighbours (held at the ends). A joint never valid
    comes from :data:`NEUTRAL_POSE_SW` placed on the piece's shoulders.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2)]
        Image coordinates in [0, 1], y down, joints in COCO order.
    mirror : bool
        Mirror the image left/right and swap the joint labels (left-handed conductor).

    Returns
    -------
    repaired : np.ndarray [shape=(T, 13, 2), float64] image units in [0, 1]
        Same frames and frame rate as ``keypoints``.
    observed : np.ndarray [shape=(T, 13), bool]
        True where the joint was valid in the input (not filled).
    """
    points = np.array(keypoints, dtype=np.float64).reshape(-1, JOINT_COUNT, 2)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(points).all(-1) | (points < 0).any(-1) | (points > 1).any(-1)
    bad |= (points == 0).all(-1)
    points[bad] = np.nan
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames are handled below
        spread = np.nanmax(np.nanmax(points, 1) - np.nanmin(points, 1), -1)
    lost = ~(spread >= COLLAPSED_SPREAD) | ((~bad).sum(-1) < 3)
    points[lost] = np.nan

    if mirror:
        points[..., 0] = 1.0 - points[..., 0]
        points = points[:, MIRROR_INDEX]

    points = _undo_swaps(points)
    observed = np.isfinite(points).all(-1)
    return _fill_holes(points, observed), observed


def _swap(points: np.ndarray, where: np.ndarray, *, left: str, right: str) -> None:
    """Exchange joints ``left`` and ``right`` of ``points`` [shape=(T, 13, 2)] in place, in the
    frames where ``where`` [shape=(T,), bool]."""
    a, b = JOINT_INDEX[left], JOINT_INDEX[right]
    held = points[where, a].copy()
    points[where, a] = points[where, b]
    points[where, b] = held


def _undo_swaps(points: np.ndarray) -> np.ndarray:
    """Relabel joints whose left/right labels are exchanged (in place, returns ``points``).

    Facing the camera, the conductor's left shoulder, hip, eye and ear appear at larger x than
    the right ones; a whole frame with crossed shoulders is relabelled at once. Elbows and
    wrists may cross legitimately, so they are swapped only when each sits far closer to the
    other side's shoulder (elbow) or elbow (wrist).
    """
    with np.errstate(invalid="ignore"):
        crossed = points[:, _LS, 0] < points[:, _RS, 0]
    points[crossed] = points[crossed][:, MIRROR_INDEX]
    for left, right in (("left_eye", "right_eye"), ("left_ear", "right_ear"), ("left_hip", "right_hip")):
        with np.errstate(invalid="ignore"):
            crossed = points[:, JOINT_INDEX[left], 0] < points[:, JOINT_INDEX[right], 0]
        _swap(points, crossed, left=left, right=right)
    for joint, anchor in (("elbow", "shoulder"), ("wrist", "elbow")):
        own = np.linalg.norm(
            points[:, JOINT_INDEX[f"left_{joint}"]] - points[:, JOINT_INDEX[f"left_{anchor}"]], axis=-1
        ) + np.linalg.norm(
            points[:, JOINT_INDEX[f"right_{joint}"]] - points[:, JOINT_INDEX[f"right_{anchor}"]], axis=-1
        )
        other = np.linalg.norm(
            points[:, JOINT_INDEX[f"left_{joint}"]] - points[:, JOINT_INDEX[f"right_{anchor}"]], axis=-1
        ) + np.linalg.norm(points[:, JOINT_INDEX[f"right_{joint}"]] - points[:, JOINT_INDEX[f"left_{anchor}"]], axis=-1)
        with np.errstate(invalid="ignore"):
            crossed = other < 0.5 * own
        _swap(points, crossed, left=f"left_{joint}", right=f"right_{joint}")
    return points


def _fill_holes(points: np.ndarray, observed: np.ndarray) -> np.ndarray:
    frames = np.arange(len(points))
    template = _neutral_pose(points, observed)
    for joint in range(JOINT_COUNT):
        seen = observed[:, joint]
        if not seen.any():
            points[:, joint] = template[joint]
        elif not seen.all():
            for axis in range(2):
                points[:, joint, axis] = np.interp(frames, frames[seen], points[seen, joint, axis])
    return points


def _neutral_pose(points: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """:data:`NEUTRAL_POSE_SW` scaled and placed on the median seen shoulders [shape=(13, 2)]."""
    both = observed[:, _LS] & observed[:, _RS]
    if both.any():
        left, right = np.median(points[both, _LS], 0), np.median(points[both, _RS], 0)
        centre, width = (left + right) / 2, max(float(np.linalg.norm(left - right)), 0.05)
    else:
        centre, width = np.array([0.5, 0.35]), 0.2
    return np.clip(centre + width * NEUTRAL_POSE_SW, 0.0, 1.0)
