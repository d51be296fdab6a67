"""Which rig bone plays which role: the presets and user mapping files.

A role is one of our body parts ("upper_arm.L") or IK controls ("ik_hand.L"); a mapping names
the rig's bone for each role it uses. Roles a mapping leaves out are not animated.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConductorError

# Rotation roles, parents before children. Each gets a full orientation from the lifted body.
FK_ROLES: tuple[str, ...] = (
    "hips",
    "spine",
    "chest",
    "neck",
    "head",
    "shoulder.L",
    "upper_arm.L",
    "forearm.L",
    "hand.L",
    "shoulder.R",
    "upper_arm.R",
    "forearm.R",
    "hand.R",
    "baton",
)
# IK control roles: ik_hand.* is placed on the wrist (and turned like the hand), ik_pole.* sits
# in the elbow's bending direction, ik_head_aim in front of the face (details in solve.solve).
IK_ROLES: tuple[str, ...] = ("ik_hand.L", "ik_hand.R", "ik_pole.L", "ik_pole.R", "ik_head_aim")
# Finger roles, three joints a finger from the knuckle out ("index.01.L" ... "pinky.03.R"): each
# curls toward the palm from its rest pose, relative to the hand (details in solve.solve). A
# mapping may name any of them; a rig without fingers names none.
FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
FINGER_ROLES: tuple[str, ...] = tuple(
    f"{finger}.{joint:02d}.{side}" for side in "LR" for finger in FINGER_NAMES for joint in (1, 2, 3)
)
ROLES: tuple[str, ...] = FK_ROLES + IK_ROLES + FINGER_ROLES


@dataclasses.dataclass
class BoneMapping:
    """A named role -> rig bone table.

    Attributes
    ----------
    name : str
        Shown in the add-on ("conductor", "rigify", "mixamo", or the file's name).
    bones : dict[str, str]
        Role (one of :data:`ROLES`) -> the rig's bone name.
    parent_blend : dict[str, tuple[str, str, float]]
        For rigs whose mapped bones hang below constraint-driven helper bones (Rigify's MCH
        bones): bone -> (bone_a, bone_b, weight) says the bone's parent turns, from its rest,
        by slerp(turn of bone_a, turn of bone_b, weight) instead of following its own chain.
    follow : dict[str, str]
        For helper bones posed by a constraint as another bone's deformation:
        helper -> the bone whose deformation (posed matrix times inverse rest matrix) carries the helper's rest pose.
        Name the target, or the control it copies with the same rest (``shoulder.L`` for
        Rigify's ``ORG-shoulder.L``); this replaces the helper's parent. For helpers with a
        Copy Transforms constraint in world space, or parentless ones with an Armature
        constraint of one full-weight target (Rigify's ``MCH-*.parent`` switch bones).
    copy_local : dict[str, tuple[str, float]]
        Helper bones with a Copy Transforms constraint in local space at an influence:
        helper -> (bone, influence): the helper's local rotation is slerp(identity, the
        bone's local rotation, influence) (Rigify's ``MCH-spine.*`` bending with "chest").
    """

    name: str
    bones: dict[str, str]
    parent_blend: dict[str, tuple[str, str, float]] = dataclasses.field(default_factory=dict)
    follow: dict[str, str] = dataclasses.field(default_factory=dict)
    copy_local: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parent_blend = {bone: (str(a), str(b), float(w)) for bone, (a, b, w) in self.parent_blend.items()}
        self.follow = {str(helper): str(target) for helper, target in self.follow.items()}
        self.copy_local = {
            str(helper): (str(target), float(weight)) for helper, (target, weight) in self.copy_local.items()
        }
        unknown = sorted(set(self.bones) - set(ROLES))
        if unknown:
            raise ConductorError(
                f"Mapping '{self.name}' has unknown roles {', '.join(unknown)}; use only {', '.join(ROLES)}."
            )
        self.bones = {role: self.bones[role] for role in ROLES if role in self.bones}

    @property
    def fk_bones(self) -> dict[str, str]:
        """The rotation roles present: role -> bone."""
        return {role: bone for role, bone in self.bones.items() if role in FK_ROLES}

    @property
    def ik_bones(self) -> dict[str, str]:
        """The IK control roles present: role -> bone."""
        return {role: bone for role, bone in self.bones.items() if role in IK_ROLES}

    @property
    def finger_bones(self) -> dict[str, str]:
        """The finger roles present: role -> bone."""
        return {role: bone for role, bone in self.bones.items() if role in FINGER_ROLES}

    def fitted_to(self, bone_names: Iterable[str]) -> BoneMapping:
        """This mapping for a rig with ``bone_names``: the fingers are optional, so finger roles
        whose bones the rig lacks are left out, with the helper bones (``follow``,
        ``copy_local``) it lacks."""
        present = set(bone_names)
        return BoneMapping(
            self.name,
            {role: bone for role, bone in self.bones.items() if role not in FINGER_ROLES or bone in present},
            self.parent_blend,
            {helper: target for helper, target in self.follow.items() if helper in present},
            {helper: pair for helper, pair in self.copy_local.items() if helper in present},
        )


def _sided(template: dict[str, str], left: str, right: str) -> dict[str, str]:
    """Expand ``{role.X: name-with-{side}}`` into both sides."""
    table = {}
    for role, bone in template.items():
        table[role.replace(".X", ".L")] = bone.format(side=left)
        table[role.replace(".X", ".R")] = bone.format(side=right)
    return table


def _fingers(name: str) -> dict[str, str]:
    """``{"index.01.X": name.format(finger=..., Finger=..., joint=1), ...}`` for every finger and
    joint, ``{side}`` left in for :func:`_sided`."""
    return {
        f"{finger}.{joint:02d}.X": name.format(finger=finger, Finger=finger.capitalize(), joint=joint, side="{side}")
        for finger in FINGER_NAMES
        for joint in (1, 2, 3)
    }


PRESETS: dict[str, BoneMapping] = {
    "conductor": BoneMapping(
        "conductor",
        {
            "hips": "hips",
            "spine": "spine",
            "chest": "chest",
            "neck": "neck",
            "head": "head",
            **_sided(
                {
                    "shoulder.X": "shoulder.{side}",
                    "upper_arm.X": "upper_arm.{side}",
                    "forearm.X": "forearm.{side}",
                    "hand.X": "hand.{side}",
                    **_fingers("{finger}.{joint:02d}.{side}"),
                },
                "L",
                "R",
            ),
            "baton": "baton",
        },
    ),
    # A rig generated by Rigify from the human metarig, its switches at their defaults
    # (torso: neck_follow 0.5, head_follow 0; arms: FK_limb_follow 0, IK_parent 1 = root,
    # pole_parent 6 = ORG-shoulder). "torso" carries the hips' sway and turn (the feet's IK
    # stays planted); "chest" bends the spine through MCH-spine.002 and .003, each copying
    # half its local rotation, up to ORG-spine.003, the shoulders' parent. The neck's parent
    # turns halfway from torso to chest, the head's with the torso (Copy Rotation). ORG-shoulder
    # copies the shoulder control and carries the FK arm and, through an Armature constraint,
    # the IK pole's parent; the IK hand's parent follows root. Both IK controls read their
    # location in their parent's axes (use_local_location off, see RestBone.local_location).
    # The fingers' FK controls (f_index.01.L, thumb.01.L, ...) hang from the palm bones under
    # DEF-hand, which copies hand_tweak, whose chain hangs from ORG-hand, which copies the FK
    # (or IK) hand; the finger masters left at rest keep their driver bones at rest.
    "rigify": BoneMapping(
        "rigify",
        {
            "hips": "torso",
            "chest": "chest",
            "neck": "neck",
            "head": "head",
            **_sided(
                {
                    "shoulder.X": "shoulder.{side}",
                    "upper_arm.X": "upper_arm_fk.{side}",
                    "forearm.X": "forearm_fk.{side}",
                    "hand.X": "hand_fk.{side}",
                    "ik_hand.X": "hand_ik.{side}",
                    "ik_pole.X": "upper_arm_ik_target.{side}",
                    **{
                        role: bone.replace("f_thumb", "thumb")
                        for role, bone in _fingers("f_{finger}.{joint:02d}.{side}").items()
                    },
                },
                "L",
                "R",
            ),
        },
        parent_blend={"neck": ("torso", "chest", 0.5), "head": ("torso", "torso", 1.0)},
        follow={
            "ORG-shoulder.L": "shoulder.L",
            "ORG-shoulder.R": "shoulder.R",
            "MCH-hand_ik.parent.L": "root",
            "MCH-hand_ik.parent.R": "root",
            "MCH-upper_arm_ik_target.parent.L": "shoulder.L",
            "MCH-upper_arm_ik_target.parent.R": "shoulder.R",
            "ORG-hand.L": "hand_fk.L",
            "ORG-hand.R": "hand_fk.R",
            "DEF-hand.L": "hand_tweak.L",
            "DEF-hand.R": "hand_tweak.R",
        },
        copy_local={"MCH-spine.002": ("chest", 0.5), "MCH-spine.003": ("chest", 0.5)},
    ),
    "mixamo": BoneMapping(
        "mixamo",
        {
            "hips": "mixamorig:Hips",
            "spine": "mixamorig:Spine",
            "chest": "mixamorig:Spine2",
            "neck": "mixamorig:Neck",
            "head": "mixamorig:Head",
            **_sided(
                {
                    "shoulder.X": "mixamorig:{side}Shoulder",
                    "upper_arm.X": "mixamorig:{side}Arm",
                    "forearm.X": "mixamorig:{side}ForeArm",
                    "hand.X": "mixamorig:{side}Hand",
                    **_fingers("mixamorig:{side}Hand{Finger}{joint}"),
                },
                "Left",
                "Right",
            ),
        },
    ),
}


def load_mapping_json(path: str | os.PathLike[str]) -> BoneMapping:
    """Read a user mapping: ``{"name": "...", "bones": {"upper_arm.L": "Arm_L", ...}}``.

    A bare ``{role: bone}`` object also loads (named after the file). Raises
    :class:`ConductorError` for a missing, unreadable or malformed file, or unknown roles.
    """
    path = Path(path)
    if not path.is_file():
        raise ConductorError(f"Mapping file '{path}' does not exist; check the path.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConductorError(
            f"'{path.name}' is not a readable JSON file ({type(error).__name__}); "
            'write it as {"name": ..., "bones": {"role": "bone", ...}}.'
        ) from error
    if isinstance(document, dict) and isinstance(document.get("bones"), dict):
        name, bones = str(document.get("name") or path.stem), document["bones"]
    elif isinstance(document, dict) and "bones" not in document:
        name, bones = path.stem, document
    else:
        raise ConductorError(
            f'\'{path.name}\' has no \'bones\' object; write it as {{"name": ..., "bones": {{"role": "bone", ...}}}}.'
        )
    if not bones or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in bones.items()):
        raise ConductorError(
            f'\'{path.name}\' must map role names to non-empty bone names (strings), e.g. {{"upper_arm.L": "Arm_L"}}.'
        )
    blend = document.get("parent_blend", {}) if "bones" in document else {}
    follow = document.get("follow", {}) if "bones" in document else {}
    copy_local = document.get("copy_local", {}) if "bones" in document else {}
    try:
        blend = {k: tuple(v) for k, v in dict(blend).items()}
        copy_local = {k: (str(target), float(weight)) for k, (target, weight) in dict(copy_local).items()}
    except (TypeError, ValueError) as error:
        raise ConductorError(
            f"'{path.name}' has a malformed 'parent_blend' or 'copy_local'; write them as "
            '{"bone": ["bone_a", "bone_b", weight], ...} and {"bone": ["bone_a", weight], ...}.'
        ) from error
    if not isinstance(follow, dict) or not all(isinstance(v, str) for v in follow.values()):
        raise ConductorError(f"'{path.name}' has a malformed 'follow'; write it as {{\"helper\": \"bone\", ...}}.")
    try:
        return BoneMapping(name, dict(bones), blend, dict(follow), copy_local)
    except (TypeError, ValueError) as error:
        raise ConductorError(
            f"'{path.name}' has a malformed 'parent_blend'; write it as "
            '{"bone": ["bone_a", "bone_b", weight], ...}.'
        ) from error


def missing_bones(mapping: BoneMapping, bone_names: Iterable[str]) -> list[str]:
    """The mapping's bone names the rig lacks, in role order (empty when it fits); fingers and
    helper bones are optional (see :meth:`BoneMapping.fitted_to`)."""
    present = set(bone_names)
    mapping = mapping.fitted_to(present)
    missing = []
    blended = [name for bone, (a, b, _) in mapping.parent_blend.items() for name in (bone, a, b)]
    blended += [name for pair in mapping.follow.items() for name in pair]
    blended += [name for helper, (target, _) in mapping.copy_local.items() for name in (helper, target)]
    for bone in list(mapping.bones.values()) + blended:
        if bone not in present and bone not in missing:
            missing.append(bone)
    return missing
