"""The add-on's own conductor armature, as plain data (no bpy).

Blender's frame, metres: Z up, the conductor stands at the origin facing -Y (toward the camera
and the audience), their left side on +X. Rest pose: upright, arms straight out to the sides
(T-pose), palms down, fingers straight, every bone roll 0. The add-on builds the armature from
this table and the retargeting maps onto it with the "conductor" preset.
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
WRIST_X_M, KNUCKLES_X_M = 0.73, 0.815  # the palm, along the left arm (mirrored for the right)

# Each finger of the left hand: where its knuckle sits (x along the arm, y, metres; y < 0 toward
# the front, where the thumb is on a palm-down hand) and its three joints' lengths (metres). The
# thumb starts at the base of the palm and points forward and out.
FINGER_LAYOUT: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float]]] = {
    "thumb": ((0.745, -0.022, SHOULDER_HEIGHT_M - 0.010), (0.034, 0.027, 0.022), (0.75, -0.66)),
    "index": ((KNUCKLES_X_M, -0.026, SHOULDER_HEIGHT_M - 0.002), (0.038, 0.024, 0.020), (1.0, -0.05)),
    "middle": ((KNUCKLES_X_M + 0.004, -0.008, SHOULDER_HEIGHT_M - 0.002), (0.043, 0.027, 0.021), (1.0, 0.0)),
    "ring": ((KNUCKLES_X_M, 0.010, SHOULDER_HEIGHT_M - 0.002), (0.040, 0.025, 0.020), (1.0, 0.05)),
    "pinky": ((KNUCKLES_X_M - 0.010, 0.026, SHOULDER_HEIGHT_M - 0.003), (0.031, 0.019, 0.017), (1.0, 0.12)),
}


def _finger_bones(side: int, suffix: str) -> tuple[RigBone, ...]:
    """Three bones a finger, from the knuckle out, for the left hand (``side`` 1, ``suffix`` "L")
    or the right (-1, "R"); each finger points along (x, y) of its layout (x along the arm)."""
    bones = []
    for finger, ((x, y, z), lengths, (along, across)) in FINGER_LAYOUT.items():
        direction = (side * along, across, -0.03 if finger == "thumb" else 0.0)
        norm = sum(component * component for component in direction) ** 0.5
        unit = tuple(component / norm for component in direction)
        head = (side * x, y, z)
        parent = f"hand.{suffix}"
        for joint, length in enumerate(lengths, 1):
            tail = tuple(round(h + length * u, 5) for h, u in zip(head, unit))
            name = f"{finger}.{joint:02d}.{suffix}"
            bones.append(RigBone(name, head, tail, parent, joint > 1))
            head, parent = tail, name
    return tuple(bones)


CONDUCTOR_BONES: tuple[RigBone, ...] = (
    RigBone("hips", (0.0, 0.0, 1.00), (0.0, 0.0, 1.12), None),
    RigBone("spine", (0.0, 0.0, 1.12), (0.0, 0.0, 1.28), "hips", True),
    RigBone("chest", (0.0, 0.0, 1.28), (0.0, 0.0, 1.44), "spine", True),
    RigBone("neck", (0.0, 0.0, 1.44), (0.0, 0.0, 1.54), "chest", True),
    RigBone("head", (0.0, 0.0, 1.54), (0.0, 0.0, 1.76), "neck", True),
    RigBone("shoulder.L", (0.03, 0.0, SHOULDER_HEIGHT_M), (0.19, 0.0, SHOULDER_HEIGHT_M), "chest"),
    RigBone("upper_arm.L", (0.19, 0.0, SHOULDER_HEIGHT_M), (0.47, 0.0, SHOULDER_HEIGHT_M), "shoulder.L", True),
    RigBone("forearm.L", (0.47, 0.0, SHOULDER_HEIGHT_M), (0.73, 0.0, SHOULDER_HEIGHT_M), "upper_arm.L", True),
    RigBone("hand.L", (WRIST_X_M, 0.0, SHOULDER_HEIGHT_M), (KNUCKLES_X_M, 0.0, SHOULDER_HEIGHT_M), "forearm.L", True),
    *_finger_bones(1, "L"),
    RigBone("shoulder.R", (-0.03, 0.0, SHOULDER_HEIGHT_M), (-0.19, 0.0, SHOULDER_HEIGHT_M), "chest"),
    RigBone("upper_arm.R", (-0.19, 0.0, SHOULDER_HEIGHT_M), (-0.47, 0.0, SHOULDER_HEIGHT_M), "shoulder.R", True),
    RigBone("forearm.R", (-0.47, 0.0, SHOULDER_HEIGHT_M), (-0.73, 0.0, SHOULDER_HEIGHT_M), "upper_arm.R", True),
    RigBone("hand.R", (-WRIST_X_M, 0.0, SHOULDER_HEIGHT_M), (-KNUCKLES_X_M, 0.0, SHOULDER_HEIGHT_M), "forearm.R", True),
    # The baton continues the right hand's line from between the thumb and the index finger,
    # which grip it; its tail is the baton tip.
    RigBone("baton", (-0.79, -0.028, SHOULDER_HEIGHT_M - 0.006), (-1.19, -0.028, SHOULDER_HEIGHT_M - 0.006), "hand.R"),
    *_finger_bones(-1, "R"),
)

CONDUCTOR_BONE_NAMES: tuple[str, ...] = tuple(bone.name for bone in CONDUCTOR_BONES)
