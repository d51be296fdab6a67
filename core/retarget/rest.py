"""A target rig's rest pose as plain data: bone rest matrices, lengths and parents.

Matrices follow Blender: ``matrix_local`` is the bone's armature-space rest matrix, its Y axis
running from head to tail, its X and Z axes set by the roll, its translation the head.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import ConductorError


@dataclasses.dataclass(frozen=True)
class RestBone:
    """One bone of a rig at rest.

    Attributes
    ----------
    name : str
    parent : str or None
        The parent bone's name, None for a root bone.
    matrix_local : np.ndarray [shape=(4, 4), float64]
        Blender's ``Bone.matrix_local``: armature-space rest rotation (roll included) and, as
        translation, the head position (armature units, metres for our rigs).
    length : float > 0
        ``Bone.length``: head to tail distance in armature units.
    local_location : bool
        ``Bone.use_local_location``: True (Blender's default) reads ``pose_bone.location`` in
        the bone's own rest axes; False in its parent's posed axes (armature axes for a root
        bone). Rigify's IK controls are False.
    """

    name: str
    parent: str | None
    matrix_local: np.ndarray
    length: float
    local_location: bool = True

    @property
    def head(self) -> np.ndarray:
        """Rest head position [shape=(3,)], armature units."""
        return np.asarray(self.matrix_local, dtype=np.float64)[:3, 3]

    @property
    def tail(self) -> np.ndarray:
        """Rest tail position [shape=(3,)]: head plus length along the bone's Y axis."""
        matrix = np.asarray(self.matrix_local, dtype=np.float64)
        return matrix[:3, 3] + self.length * matrix[:3, 1]


@dataclasses.dataclass
class RestSkeleton:
    """A rig's bones at rest, keyed by name, in any order."""

    bones: dict[str, RestBone]

    def __post_init__(self) -> None:
        for bone in self.bones.values():
            if bone.parent is not None and bone.parent not in self.bones:
                raise ConductorError(
                    f"Bone '{bone.name}' names the parent '{bone.parent}', which the skeleton "
                    "lacks; include every parent bone."
                )

    @classmethod
    def from_head_tail_roll(cls, bones: Iterable[tuple[str, str | None, Any, Any, float]]) -> RestSkeleton:
        """Build from ``(name, parent, head, tail, roll_rad)`` rows, as in Blender's edit mode.

        ``matrix_local`` is computed as Blender does (``vec_roll_to_mat3``).
        """
        table = {}
        for name, parent, head, tail, roll_rad in bones:
            head = np.asarray(head, dtype=np.float64)
            tail = np.asarray(tail, dtype=np.float64)
            matrix = np.eye(4)
            matrix[:3, :3] = bone_rotation_from_vector_roll(tail - head, roll_rad)
            matrix[:3, 3] = head
            table[name] = RestBone(name, parent, matrix, float(np.linalg.norm(tail - head)))
        return cls(table)

    @classmethod
    def from_blender_bones(cls, bones: Iterable[Any]) -> RestSkeleton:
        """Build from an armature's ``Bone`` objects (``armature.data.bones``): their names,
        parents, ``matrix_local``, ``length`` and ``use_local_location`` (Rigify's IK controls
        move in their parent's axes). Reads attributes only: no bpy import here."""
        return cls(
            {
                bone.name: RestBone(
                    bone.name,
                    bone.parent.name if bone.parent else None,
                    np.array(bone.matrix_local, dtype=np.float64),
                    float(bone.length),
                    bool(bone.use_local_location),
                )
                for bone in bones
            }
        )

    @classmethod
    def from_rig_bones(cls, rig_bones: Iterable[Any]) -> RestSkeleton:
        """Build from :data:`core.figure.rig.CONDUCTOR_BONES`-like records.

        Each record has ``name``, ``head``, ``tail``, ``parent`` and optionally ``roll``
        (radians, 0 when absent).
        """
        return cls.from_head_tail_roll(
            (bone.name, bone.parent, bone.head, bone.tail, float(getattr(bone, "roll", 0.0))) for bone in rig_bones
        )

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """Bone names parents-first: ``names`` and all their ancestors (every bone if None)."""
        wanted = set(self.bones if names is None else ())
        for start in names or ():
            name: str | None = start
            while name is not None and name not in wanted:
                wanted.add(name)
                name = self.bones[name].parent

        def depth(name: str) -> int:
            count = 0
            parent = self.bones[name].parent
            while parent is not None:
                parent = self.bones[parent].parent
                count += 1
            return count

        return sorted(wanted, key=lambda name: (depth(name), name))


def bone_rotation_from_vector_roll(vector: np.ndarray, roll_rad: float) -> np.ndarray:
    """Blender's ``vec_roll_to_mat3``: the rest rotation of a bone from head->tail and roll.

    The shortest-arc rotation taking +Y onto the bone direction, followed by the roll about
    that direction. A bone pointing straight down -Y uses a half turn about Z, as Blender does.

    Parameters
    ----------
    vector : np.ndarray [shape=(3,)]
        Tail minus head, any non-zero length.
    roll_rad : float
        Roll in radians.

    Returns
    -------
    np.ndarray [shape=(3, 3), float64], columns the bone's X, Y, Z axes in armature space.
    """
    direction = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(direction)
    if not norm > 0:
        raise ConductorError("A bone has zero length; give every bone a tail distinct from its head.")
    x, y, z = direction / norm
    theta = 1.0 + y
    if theta > 1e-12:
        # Shortest arc from +Y to (x, y, z), written out (Rodrigues about Y x dir).
        swing = np.array(
            [
                [1.0 - x * x / theta, x, -x * z / theta],
                [-x, y, -z],
                [-x * z / theta, z, 1.0 - z * z / theta],
            ]
        )
    else:
        swing = np.diag([-1.0, -1.0, 1.0])
    return axis_angle_matrix(direction / norm, roll_rad) @ swing


def axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix [shape=(3, 3)] of ``angle_rad`` about the unit ``axis`` (right hand)."""
    x, y, z = axis
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    t = 1.0 - c
    return np.array(
        [
            [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
            [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
            [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
        ]
    )
