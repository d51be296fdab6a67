"""The add-on's own conductor armature, as plain data (no bpy).

Blender's frame, metres: Z up, the conductor stands at the origin facing -Y (toward the camera
and the audience), their left side on +X. Rest pose: upright, arms straight out to the sides
(T-pose), every bone roll 0. The add-on builds the armature from this table and the retargeting
maps onto it with the "conductor" preset.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RigBone:
    """One bone of the conductor rig: name, rest head and tail (metres), parent name or None."""

    name: str
    head: tuple[float, float, float]
    tail: tuple[float, float, float]
    parent: str | None
    connected: bool = False


SHOULDER_HEIGHT_M = 1.42

CONDUCTOR_BONES: tuple[RigBone, ...] = (
    RigBone("hips", (0.0, 0.0, 1.00), (0.0, 0.0, 1.12), None),
    RigBone("spine", (0.0, 0.0, 1.12), (0.0, 0.0, 1.28), "hips", True),
    RigBone("chest", (0.0, 0.0, 1.28), (0.0, 0.0, 1.44), "spine", True),
    RigBone("neck", (0.0, 0.0, 1.44), (0.0, 0.0, 1.54), "chest", True),
    RigBone("head", (0.0, 0.0, 1.54), (0.0, 0.0, 1.76), "neck", True),
    RigBone("shoulder.L", (0.03, 0.0, SHOULDER_HEIGHT_M), (0.19, 0.0, SHOULDER_HEIGHT_M), "chest"),
    RigBone("upper_arm.L", (0.19, 0.0, SHOULDER_HEIGHT_M), (0.47, 0.0, SHOULDER_HEIGHT_M), "shoulder.L", True),
    RigBone("forearm.L", (0.47, 0.0, SHOULDER_HEIGHT_M), (0.73, 0.0, SHOULDER_HEIGHT_M), "upper_arm.L", True),
    RigBone("hand.L", (0.73, 0.0, SHOULDER_HEIGHT_M), (0.82, 0.0, SHOULDER_HEIGHT_M), "forearm.L", True),
    RigBone("shoulder.R", (-0.03, 0.0, SHOULDER_HEIGHT_M), (-0.19, 0.0, SHOULDER_HEIGHT_M), "chest"),
    RigBone("upper_arm.R", (-0.19, 0.0, SHOULDER_HEIGHT_M), (-0.47, 0.0, SHOULDER_HEIGHT_M), "shoulder.R", True),
    RigBone("forearm.R", (-0.47, 0.0, SHOULDER_HEIGHT_M), (-0.73, 0.0, SHOULDER_HEIGHT_M), "upper_arm.R", True),
    RigBone("hand.R", (-0.73, 0.0, SHOULDER_HEIGHT_M), (-0.82, 0.0, SHOULDER_HEIGHT_M), "forearm.R", True),
    # The baton continues the right hand's line; its tail is the baton tip.
    RigBone("baton", (-0.80, 0.0, SHOULDER_HEIGHT_M), (-1.20, 0.0, SHOULDER_HEIGHT_M), "hand.R"),
)

CONDUCTOR_BONE_NAMES: tuple[str, ...] = tuple(bone.name for bone in CONDUCTOR_BONES)
