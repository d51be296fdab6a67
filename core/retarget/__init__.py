"""Retargeting: 2D conducting keypoints -> a 3D upper body -> pose channels for any rig.

``lift_to_3d`` builds the 3D body (metres, Blender's frame); ``solve`` turns it into local
pose rotations and IK control locations for a rig's rest skeleton through a role -> bone
mapping; ``retarget`` does both; ``key_reduction`` keeps only the keys a curve needs. Plain
numpy: never imports bpy.

May import: errors, options, outputs, motion.
"""

from .lift import DERIVED_JOINTS, LIFTED_JOINTS, Lifted, lift_to_3d
from .mapping import FK_ROLES, IK_ROLES, PRESETS, ROLES, BoneMapping, load_mapping_json, missing_bones
from .rest import RestBone, RestSkeleton, bone_rotation_from_vector_roll
from .settings import RetargetSettings
from .solve import BoneAnimation, forward_kinematics, retarget, solve

__all__ = [
    "BoneAnimation",
    "BoneMapping",
    "DERIVED_JOINTS",
    "FK_ROLES",
    "IK_ROLES",
    "LIFTED_JOINTS",
    "Lifted",
    "PRESETS",
    "ROLES",
    "RestBone",
    "RestSkeleton",
    "RetargetSettings",
    "bone_rotation_from_vector_roll",
    "forward_kinematics",
    "lift_to_3d",
    "load_mapping_json",
    "missing_bones",
    "retarget",
    "solve",
]
