"""BVH motion files from posed bones: the skeleton's hierarchy at rest and each bone's rotation
per frame, Y-up as BVH readers expect (Blender's own BVH importer with its defaults included).

Plain numpy. The caller (the add-on's export) samples the rig: each bone's rest matrix and its
posed matrix per frame, both in the armature's space (Blender's Z-up, -Y forward). BVH joints
rotate in frames aligned with the file's axes, so a joint's channel rotation is how far its bone
turned from rest, relative to how far its parent turned (:func:`joint_rotations`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..outputs import write_atomically

# Blender's armature space (Z up, -Y forward) to BVH's (Y up, +Z forward): (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
ROTATION_ORDER = "ZXY"  # the channel order written for every joint, the commonest in BVH files


@dataclasses.dataclass(frozen=True)
class BvhSkeleton:
    """The joints of a BVH file, parents first.

    Attributes
    ----------
    names : tuple of str
        Joint names (the bones').
    parents : tuple of int
        Index of each joint's parent in ``names``, -1 for the root (only the first joint).
    rest_heads : np.ndarray [shape=(J, 3), float64]
        Each bone's head at rest, in the armature's space (metres, Z up).
    rest_rotations : np.ndarray [shape=(J, 3, 3), float64]
        Each bone's rest orientation in the armature's space.
    tails : np.ndarray [shape=(J, 3), float64]
        Each bone's tail at rest (the End Site of a joint without children).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_heads: np.ndarray
    rest_rotations: np.ndarray
    tails: np.ndarray


def joint_rotations(skeleton: BvhSkeleton, posed_rotations: np.ndarray) -> np.ndarray:
    """Each joint's BVH rotation per frame, in the file's (Y-up) axes.

    Parameters
    ----------
    posed_rotations : np.ndarray [shape=(T, J, 3, 3), float64]
        Each bone's posed orientation per frame, in the armature's space.

    Returns
    -------
    np.ndarray [shape=(T, J, 3, 3), float64]
        R_j = W_parent^T W_j with W_j = C P_j M_j^T C^T, the turn of bone j from its rest in the
        file's axes (C: :data:`Z_UP_TO_Y_UP`).
    """
    turned = posed_rotations @ np.swapaxes(skeleton.rest_rotations, -1, -2)[None]  # (T, J, 3, 3) W_j, armature axes
    turned = Z_UP_TO_Y_UP @ turned @ Z_UP_TO_Y_UP.T
    local = turned.copy()
    for joint, parent in enumerate(skeleton.parents):
        if parent >= 0:
            local[:, joint] = np.swapaxes(turned[:, parent], -1, -2) @ turned[:, joint]
    return local


def euler_zxy_degrees(rotations: np.ndarray) -> np.ndarray:
    """Angles (z, x, y) in degrees of rotation matrices R = Rz(z) Rx(x) Ry(y).

    Parameters
    ----------
    rotations : np.ndarray [shape=(..., 3, 3)]

    Returns
    -------
    np.ndarray [shape=(..., 3), float64]
    """
    x = np.arcsin(np.clip(rotations[..., 2, 1], -1.0, 1.0))
    z = np.arctan2(-rotations[..., 0, 1], rotations[..., 1, 1])
    y = np.arctan2(-rotations[..., 2, 0], rotations[..., 2, 2])
    return np.degrees(np.stack([z, x, y], axis=-1))


def write_bvh(
    path: str | os.PathLike[str],
    skeleton: BvhSkeleton,
    *,
    root_heads: np.ndarray,
    posed_rotations: np.ndarray,
    fps: float,
) -> Path:
    """Write a BVH file (atomically).

    Parameters
    ----------
    root_heads : np.ndarray [shape=(T, 3), float64]
        The root bone's head per frame, armature space, metres.
    posed_rotations : np.ndarray [shape=(T, J, 3, 3), float64]
        Every bone's posed orientation per frame, armature space.
    fps : float > 0
        Frames per second.
    """
    heads_y_up = skeleton.rest_heads @ Z_UP_TO_Y_UP.T
    tails_y_up = skeleton.tails @ Z_UP_TO_Y_UP.T
    children: dict[int, list[int]] = {joint: [] for joint in range(len(skeleton.names))}
    for joint, parent in enumerate(skeleton.parents):
        if parent >= 0:
            children[parent].append(joint)
    channels = " ".join(f"{axis}rotation" for axis in ROTATION_ORDER)
    lines = ["HIERARCHY"]

    def joint_lines(joint: int, depth: int) -> None:
        indent = "\t" * depth
        parent = skeleton.parents[joint]
        offset = heads_y_up[joint] - (heads_y_up[parent] if parent >= 0 else 0.0)
        lines.append(f"{indent}{'ROOT' if parent < 0 else 'JOINT'} {skeleton.names[joint]}")
        lines.append(f"{indent}{{")
        lines.append(f"{indent}\tOFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        position = "Xposition Yposition Zposition " if parent < 0 else ""
        lines.append(f"{indent}\tCHANNELS {6 if parent < 0 else 3} {position}{channels}")
        for child in children[joint]:
            joint_lines(child, depth + 1)
        if not children[joint]:
            end = tails_y_up[joint] - heads_y_up[joint]
            lines.extend(
                [f"{indent}\tEnd Site", f"{indent}\t{{", f"{indent}\t\tOFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}"]
            )
            lines.append(f"{indent}\t}}")
        lines.append(f"{indent}}}")

    joint_lines(0, 0)
    order = [joint for joint in _depth_first(children)]
    angles = euler_zxy_degrees(joint_rotations(skeleton, posed_rotations))[:, order]  # (T, J, 3)
    root = np.asarray(root_heads, dtype=np.float64) @ Z_UP_TO_Y_UP.T  # (T, 3)
    frames = np.concatenate([root, angles.reshape(angles.shape[0], -1)], axis=1)
    lines += ["MOTION", f"Frames: {frames.shape[0]}", f"Frame Time: {1.0 / fps:.6f}"]
    body = "\n".join(lines) + "\n"
    rows = "\n".join(" ".join(f"{value:.6f}" for value in row) for row in frames) + "\n"
    return write_atomically(Path(path), lambda handle: handle.write(body + rows), binary=False)


def _depth_first(children: dict[int, list[int]]) -> list[int]:
    """Joints in the order their channels appear: the hierarchy's, depth first from the root."""
    order, stack = [], [0]
    while stack:
        joint = stack.pop()
        order.append(joint)
        stack.extend(reversed(children[joint]))
    return order
