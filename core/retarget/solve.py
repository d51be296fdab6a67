"""Solving: lifted body parts -> local pose rotations (and IK control locations) for a rig.

For every mapped role the lifted body gives a world orientation frame (bone direction plus a
lateral or hinge axis); the rig's rest pose gives the same frame at rest. The rotation taking
one onto the other, applied to the bone's rest matrix, is the bone's posed orientation, so any
rest pose (T-pose, A-pose) and any roll work. Local values then follow Blender's pose formula,
parents first:

    pose_matrix = parent_pose_matrix @ inv(parent_rest) @ rest @ Translation(location) @ Rotation(q)

with ``rest`` = ``Bone.matrix_local``. Unmapped bones keep their rest pose relative to their
parent. ``Bone.use_local_location`` off (:attr:`RestBone.local_location`) puts the location
in the parent's posed axes instead: ``pose_matrix = Translation(parent_rotation @ location) @
(the above without it)``. Constraints on the rig are modelled only as the mapping describes them
(:attr:`BoneMapping.parent_blend`, :attr:`BoneMapping.follow`); disabled rotation inheritance
is not modelled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from ..errors import ConductorError
from ..motion.keypoints import MOTION_FPS
from .hands import palm_down
from .lift import SHOULDER_WIDTH_M, Lifted, lift_to_3d
from .mapping import BoneMapping
from .rest import RestSkeleton
from .rotations import (
    continuous_quaternions,
    cross3,
    matmul3,
    matrix_to_quaternion,
    normalize,
    orthonormal_frame,
    quaternion_to_matrix,
    rotate3,
    transpose3,
)
from .settings import RetargetSettings

# The next joint along each chain: a role's rest direction runs from its bone's head to the
# next mapped role's bone head (bone axes of control bones need not follow the limb).
_CHAIN_NEXT: dict[str, tuple[str, ...]] = {
    "spine": ("chest", "neck", "head"),
    "chest": ("neck", "head"),
    "neck": ("head",),
    **{f"shoulder.{s}": (f"upper_arm.{s}",) for s in "LR"},
    **{f"upper_arm.{s}": (f"forearm.{s}",) for s in "LR"},
    **{f"forearm.{s}": (f"hand.{s}",) for s in "LR"},
}
POLE_DISTANCE = 0.5  # pole target distance from the elbow, in arm lengths


@dataclasses.dataclass
class BoneAnimation:
    """Per-frame pose channels for a rig's pose bones.

    Attributes
    ----------
    rotation_quaternion : dict[str, np.ndarray [shape=(T, 4), float32]]
        Rig bone name -> ``pose_bone.rotation_quaternion`` (w, x, y, z) per frame: the local
        rotation relative to rest, Blender's convention; signs continuous over time.
    location : dict[str, np.ndarray [shape=(T, 3), float32]]
        Rig bone name -> ``pose_bone.location`` per frame, in the bone's own rest axes and
        armature units: the value that puts the bone's head on its target given its parent's
        pose (hips sway; IK hand targets at the wrist, elbow poles, head aim).
    fps : float
        Frame rate of the arrays.
    """

    rotation_quaternion: dict[str, np.ndarray]
    location: dict[str, np.ndarray]
    fps: float = MOTION_FPS

    @property
    def frame_count(self) -> int:
        arrays = list(self.rotation_quaternion.values()) + list(self.location.values())
        return int(arrays[0].shape[0]) if arrays else 0


def retarget(
    keypoints: np.ndarray,
    skeleton: RestSkeleton,
    mapping: BoneMapping,
    *,
    settings: RetargetSettings | None = None,
    fps: float = MOTION_FPS,
    skeleton_units: dict[str, float] | None = None,
    hands: np.ndarray | None = None,
    noise_free: bool = False,
) -> BoneAnimation:
    """Keypoints -> pose channels for the rig: :func:`lift_to_3d` (with ``skeleton_units``
    where the motion's maker knows its body, and its ``hands``) then :func:`solve`.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float] image units
        Image coordinates in [0, 1], y down, COCO order, at ``fps`` (bad frames are repaired).
    skeleton : RestSkeleton
        The rig's rest pose.
    mapping : BoneMapping
        Role -> bone; every named bone must exist (see :func:`missing_bones`).
    settings : RetargetSettings or None
    fps : float > 0
        Frame rate of ``keypoints``.

    skeleton_units : dict of str to float, or None
        The body the keypoints were drawn from, image units (see :func:`lift_to_3d`).
    hands : np.ndarray [shape=(T, 2, 4)] or None
        The motion's hand channels (``Motion.hands``), or None to derive them from the wrists.
    noise_free : bool
        The keypoints were drawn without jitter (``Motion.extra["noise_free"]``): not smoothed.

    Returns
    -------
    BoneAnimation
        T frames at ``fps``.
    """
    settings = settings or RetargetSettings()
    lifted = lift_to_3d(keypoints, settings, fps=fps, skeleton_units=skeleton_units, hands=hands, noise_free=noise_free)
    return solve(lifted, skeleton, mapping, settings=settings)


def solve(
    lifted: Lifted, skeleton: RestSkeleton, mapping: BoneMapping, *, settings: RetargetSettings | None = None
) -> BoneAnimation:
    """Local rotations (and IK/hips locations) that pose ``skeleton`` like ``lifted``.

    Mapped rotation roles get ``rotation_quaternion``; the hips role also gets ``location``
    (its sway). In IK mode, ``ik_hand.*`` bones get a location putting their head on the wrist
    (the rig's posed shoulder plus its own upper-arm and forearm lengths along the lifted
    directions, i.e. where the FK solution puts the wrist) and the hand's rotation; ``ik_pole.*`` a location half an arm length
    from the elbow in its bending direction; ``ik_head_aim`` a location one metre (in rig
    units) in front of the head bone's head. Finger bones (where the rig has them) curl toward
    the palm from their rest pose, turning with the hand.
    """
    settings = settings or RetargetSettings()
    from .mapping import missing_bones  # local: keeps the import list short

    mapping = mapping.fitted_to(skeleton.bones)
    absent = missing_bones(mapping, skeleton.bones)
    if absent:
        raise ConductorError(
            f"The rig lacks the bones {', '.join(absent)} that mapping '{mapping.name}' uses; "
            "pick another mapping or edit it to the rig's bone names."
        )
    rig = _RigBody(skeleton, mapping)
    frames = lifted.joints_m.shape[0]
    roles = dict(mapping.fk_bones)
    if settings.baton_hand == "none":
        roles.pop("baton", None)

    # float32 throughout: ample for 2-hour pieces, half the memory traffic of float64.
    world_rotations = {}
    for role, bone in roles.items():
        world_rotations[bone] = _posed_rotation(lifted, rig, role=role, bone=bone)
    world_rotations.update(_finger_rotations(lifted, rig, world_rotations))
    head_targets = {}
    if "hips" in roles:
        bone = roles["hips"]
        sway = lifted.hips_offset_m @ (rig.axes.T * rig.units_per_metre).astype(np.float32)
        head_targets[bone] = skeleton.bones[bone].head.astype(np.float32) + sway

    ik = mapping.ik_bones if settings.mode == "IK" else {}
    if ik:
        posed_rotation, posed_head = _pose(skeleton, world_rotations, head_targets, frames=frames, mapping=mapping)[2:]
        for role, bone in ik.items():
            target = _ik_target(role, lifted, rig, mapping=mapping, posed_head=posed_head)
            head_targets[bone] = target
            if role.startswith("ik_hand."):
                world_rotations[bone] = _posed_rotation(lifted, rig, role="hand." + role[-1], bone=bone)

    local_rotations, locations, _, _ = _pose(skeleton, world_rotations, head_targets, frames=frames, mapping=mapping)
    return BoneAnimation(
        rotation_quaternion={
            bone: continuous_quaternions(matrix_to_quaternion(matrix)).astype(np.float32)
            for bone, matrix in local_rotations.items()
        },
        location={bone: location.astype(np.float32) for bone, location in locations.items()},
        fps=lifted.fps,
    )


def _posed_rotation(lifted: Lifted, rig: _RigBody, *, role: str, bone: str) -> np.ndarray:
    """Armature-space rotation [shape=(T, 3, 3), float32] of ``bone`` playing ``role``.

    The rotation carrying the role's rest frame onto its lifted frame, applied to the bone's
    rest rotation: (axes @ lifted) @ rest_frame^T @ rest.
    """
    constant = (rig.rest_frame(role, bone).T @ rig.rest_rotation(bone)).astype(np.float32)
    return matmul3(matmul3(rig.axes.astype(np.float32), lifted.role_frames[role]), constant)


def _finger_rotations(lifted: Lifted, rig: _RigBody, hand_rotations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Armature-space rotations [shape=(T, 3, 3), float32] of the mapped finger bones: each
    turns with its hand from rest and curls about its finger's rest axis (across the finger,
    toward the palm) by the sum of its own and its inner joints' angles."""
    rotations = {}
    for role, bone in rig.mapping.finger_bones.items():
        finger, joint, side = role.split(".")
        hand_bone = rig.mapping.bones.get(f"hand.{side}")
        if hand_bone is None or hand_bone not in hand_rotations:
            continue
        turn = matmul3(hand_rotations[hand_bone], rig.rest_rotation(hand_bone).T.astype(np.float32))
        angle = lifted.finger_angles[f"{finger}.{side}"][:, : int(joint)].sum(axis=1)
        curl = _axis_angle(rig.curl_axis(finger, side, bone), angle)
        rotations[bone] = matmul3(matmul3(turn, curl), rig.rest_rotation(bone).astype(np.float32))
    return rotations


def _axis_angle(axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Rotations [shape=(T, 3, 3), float32] by ``angle_rad`` [shape=(T,)] about the unit ``axis``
    [shape=(3,)] (right hand, Rodrigues' formula)."""
    x, y, z = axis
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    cos, sin = np.cos(angle_rad)[:, None, None], np.sin(angle_rad)[:, None, None]
    turned = cos * np.eye(3) + sin * cross + (1.0 - cos) * np.outer(axis, axis)
    return turned.astype(np.float32)


def forward_kinematics(
    skeleton: RestSkeleton,
    animation: BoneAnimation,
    bone_names: list[str] | None = None,
    *,
    mapping: BoneMapping | None = None,
) -> dict[str, np.ndarray]:
    """Armature-space pose matrices (``pose_bone.matrix``) from the animation's channels.

    Parameters
    ----------
    skeleton : RestSkeleton
    animation : BoneAnimation
    bone_names : list[str] or None
        Bones wanted (their ancestors are evaluated too); all animated bones if None.
    mapping : BoneMapping or None
        Its constraint model (:attr:`BoneMapping.parent_blend`, ``follow``, ``copy_local``)
        is applied; None for a rig without constraints.

    Returns
    -------
    dict[str, np.ndarray [shape=(T, 4, 4), float64]]
        Every evaluated bone; bones without channels keep their rest pose relative to the parent.
    """
    frames = animation.frame_count
    mapping = mapping or BoneMapping("plain", {})
    parent_blend, follow, copy_local = mapping.parent_blend, mapping.follow, mapping.copy_local
    names = bone_names or list(animation.rotation_quaternion) + list(animation.location)
    posed: dict[str, np.ndarray] = {}
    for name in _evaluation_order(skeleton, names, mapping):
        bone = skeleton.bones[name]
        link = (
            bone.matrix_local
            if bone.parent is None or name in follow
            else (np.linalg.inv(skeleton.bones[bone.parent].matrix_local) @ bone.matrix_local)
        )
        local = np.tile(np.eye(4), (frames, 1, 1))
        if name in animation.rotation_quaternion:
            local[:, :3, :3] = quaternion_to_matrix(animation.rotation_quaternion[name])
        elif name in copy_local and copy_local[name][0] in animation.rotation_quaternion:
            target, weight = copy_local[name]
            local[:, :3, :3] = _partial_turn(quaternion_to_matrix(animation.rotation_quaternion[target]), weight)
        parent: np.ndarray = np.broadcast_to(np.eye(4), (frames, 4, 4)).copy()
        if name in follow:
            parent = posed[follow[name]] @ np.linalg.inv(skeleton.bones[follow[name]].matrix_local)
        elif bone.parent is not None:
            parent = posed[bone.parent].copy()
        if name in parent_blend and bone.parent is not None:
            rotations = {n: posed[n][:, :3, :3].astype(np.float32) for n in parent_blend[name][:2]}
            parent[:, :3, :3] = (
                _blended_turn(skeleton, rotations, parent_blend[name])
                @ skeleton.bones[bone.parent].matrix_local[:3, :3]
            )
        posed[name] = parent @ link @ local
        if name in animation.location:
            space = (parent @ link if bone.local_location else parent)[:, :3, :3]
            location = np.asarray(animation.location[name], np.float64)
            posed[name][:, :3, 3] += (space @ location[..., None])[..., 0]
    return posed


def _evaluation_order(skeleton: RestSkeleton, names: Iterable[str], mapping: BoneMapping) -> list[str]:
    """``names`` and every bone they depend on (parents, blend sources, follow and copy
    targets), each after its dependencies."""
    order: list[str] = []
    state: dict[str, bool] = {}  # False while being visited, True once placed

    def visit(name: str) -> None:
        if state.get(name) is True:
            return
        if state.get(name) is False:
            raise ConductorError(
                f"Bone '{name}' depends on itself through the mapping's "
                "parent_blend / follow / copy_local; remove the loop."
            )
        state[name] = False
        bone = skeleton.bones[name]
        needs = [bone.parent] if bone.parent is not None else []
        needs += list(mapping.parent_blend[name][:2]) if name in mapping.parent_blend else []
        needs += [mapping.follow[name]] if name in mapping.follow else []
        needs += [mapping.copy_local[name][0]] if name in mapping.copy_local else []
        for need in needs:
            visit(need)
        state[name] = True
        order.append(name)

    for name in sorted(set(names)):
        visit(name)
    return order


def _partial_turn(local_rotations: np.ndarray, weight: float) -> np.ndarray:
    """slerp(identity, rotation, weight) [shape=(T, 3, 3)]: a Copy Transforms constraint's
    share of a bone's local rotation at influence ``weight``."""
    if weight == 1.0:
        return local_rotations
    dtype = local_rotations.dtype
    q = matrix_to_quaternion(local_rotations).astype(np.float64)  # w >= 0: the short way
    half_angle = np.arccos(np.clip(q[..., :1], -1.0, 1.0))
    sin = np.sin(half_angle)
    scale = np.where(sin > 1e-9, np.sin(weight * half_angle) / np.maximum(sin, 1e-12), weight)
    partial = np.concatenate([np.cos(weight * half_angle), q[..., 1:] * scale], -1)
    return quaternion_to_matrix(partial).astype(dtype)


class _RigBody:
    """What the solver needs to know about a rig's rest pose: its body axes, scale and each
    role's rest frame."""

    def __init__(self, skeleton: RestSkeleton, mapping: BoneMapping) -> None:
        self.skeleton = skeleton
        self.mapping = mapping = mapping.fitted_to(skeleton.bones)
        self.heads = {role: skeleton.bones[bone].head for role, bone in mapping.bones.items()}
        self.axes = self._body_axes()
        left, right = self.heads.get("upper_arm.L"), self.heads.get("upper_arm.R")
        width = np.linalg.norm(left - right) if left is not None and right is not None else 0.0
        self.units_per_metre = width / SHOULDER_WIDTH_M if width > 0 else 1.0

    def _body_axes(self) -> np.ndarray:
        """Armature-space directions [shape=(3, 3)] of our X (left), Y (back), Z (up), snapped
        to the armature's axes; identity when the mapping lacks the bones to tell."""

        def first(*roles: str) -> np.ndarray | None:
            return next((self.heads[r] for r in roles if r in self.heads), None)

        low, high = first("hips", "spine", "chest"), first("head", "neck", "chest")
        left = first("upper_arm.L", "shoulder.L", "forearm.L", "hand.L")
        right = first("upper_arm.R", "shoulder.R", "forearm.R", "hand.R")
        if low is None or high is None or left is None or right is None:
            return np.eye(3)
        snapped = []
        for vector in (left - right, high - low):
            axis = int(np.argmax(np.abs(vector)))
            if abs(vector[axis]) < 1e-9:
                return np.eye(3)
            snapped.append(np.sign(vector[axis]) * np.eye(3)[axis])
        left_axis, up_axis = snapped
        if abs(left_axis @ up_axis) > 0.5:
            return np.eye(3)
        return np.stack([left_axis, np.cross(up_axis, left_axis), up_axis], -1)

    def rest_rotation(self, bone: str) -> np.ndarray:
        return np.asarray(self.skeleton.bones[bone].matrix_local, dtype=np.float64)[:3, :3]

    def rest_direction(self, role: str, bone: str) -> np.ndarray:
        """The role's rest direction: toward the next mapped role's head, else the bone's Y."""
        head = self.skeleton.bones[bone].head
        for following in _CHAIN_NEXT.get(role, ()):
            if following in self.heads:
                step = self.heads[following] - head
                if np.linalg.norm(step) > 1e-3 * self.units_per_metre:
                    return normalize(step)
                break
        return self.rest_rotation(bone)[:, 1]

    def hinge(self, side: str, bone_fallback: str) -> np.ndarray:
        """Rest elbow hinge of one arm: upper arm x forward (the forearm bends forward)."""
        upper_bone = self.mapping.bones.get(f"upper_arm.{side}", bone_fallback)
        upper = self.rest_direction(f"upper_arm.{side}", upper_bone)
        axis = np.cross(upper, -self.axes[:, 1])
        return axis if np.linalg.norm(axis) > 1e-6 else np.cross(upper, self.axes[:, 2])

    def rest_frame(self, role: str, bone: str) -> np.ndarray:
        """The role's frame at rest [shape=(3, 3)], built like the lifted one."""
        left, up = self.axes[:, 0], self.axes[:, 2]
        if role == "hips":
            return orthonormal_frame(up, left)
        direction = self.rest_direction(role, bone)
        if role.startswith("shoulder."):
            secondary = up
        elif role.startswith("hand."):
            secondary = self.rest_palm(role[-1])
        elif role[-2:] in (".L", ".R"):
            secondary = self.hinge(role[-1], bone)
        elif role == "baton":
            secondary = self.rest_palm(self._baton_side())
        else:
            secondary = left
        return orthonormal_frame(direction, secondary)

    def rest_palm(self, side: str) -> np.ndarray:
        """The normal of the palm of one hand at rest [shape=(3,)], armature space: across the
        knuckles where the mapping names the index and little fingers (the thumb's side by the
        hand's side), else palm down (:func:`core.retarget.hands.palm_down`) as rigs rest."""
        hand = self.mapping.bones.get(f"hand.{side}") or self.mapping.bones.get(f"ik_hand.{side}")
        if hand is None:
            return -self.axes[:, 2]
        direction = self.rest_rotation(hand)[:, 1]
        index, little = self.mapping.bones.get(f"index.01.{side}"), self.mapping.bones.get(f"pinky.01.{side}")
        if index is not None and little is not None:
            across = self.skeleton.bones[little].head - self.skeleton.bones[index].head
            # A hand's chirality: from the index to the little finger across the knuckles, a
            # left palm faces -(direction x across), a right palm +(direction x across).
            normal = np.cross(direction, across) * (-1.0 if side == "L" else 1.0)
            normal = normal - np.dot(normal, direction) * direction
            if np.linalg.norm(normal) > 1e-6 * self.units_per_metre:
                return normal / np.linalg.norm(normal)
        return palm_down(direction, up=self.axes[:, 2], back=self.axes[:, 1])

    def curl_axis(self, finger: str, side: str, bone: str) -> np.ndarray:
        """The axis a finger curls about [shape=(3,)], armature space at rest: across its first
        joint's direction (``bone``'s if that joint is not mapped), turning it toward the palm."""
        first = self.mapping.bones.get(f"{finger}.01.{side}", bone)
        along = self.skeleton.bones[first].tail - self.skeleton.bones[first].head
        axis = np.cross(along, self.rest_palm(side))
        length = np.linalg.norm(axis)
        return axis / length if length > 1e-9 else self.axes[:, 0]

    def _baton_side(self) -> str:
        baton = self.mapping.bones.get("baton")
        parent = self.skeleton.bones[baton].parent if baton else None
        return "L" if parent is not None and parent == self.mapping.bones.get("hand.L") else "R"

    def arm_lengths(self, side: str) -> tuple[float, float]:
        """Rest upper-arm and forearm lengths of the rig (armature units)."""
        upper, fore = self.mapping.bones.get(f"upper_arm.{side}"), self.mapping.bones.get(f"forearm.{side}")
        if upper is None or fore is None:
            raise ConductorError(
                f"IK targets for side {side} need the 'upper_arm.{side}' and 'forearm.{side}' "
                "roles in the mapping to measure the arm; add them."
            )
        elbow = self.skeleton.bones[fore].head
        hand = self.mapping.bones.get(f"hand.{side}")
        wrist = self.skeleton.bones[hand].head if hand else self.skeleton.bones[fore].tail
        return (float(np.linalg.norm(elbow - self.skeleton.bones[upper].head)), float(np.linalg.norm(wrist - elbow)))


def _ik_target(
    role: str, lifted: Lifted, rig: _RigBody, *, mapping: BoneMapping, posed_head: dict[str, np.ndarray]
) -> np.ndarray:
    """Armature-space target [shape=(T, 3), float32] for one IK control role."""
    axes_t = rig.axes.T.astype(np.float32)
    if role == "ik_head_aim":
        head_bone = mapping.bones.get("head")
        if head_bone is None:
            raise ConductorError("The head aim target needs the 'head' role in the mapping; add it.")
        forward = lifted.role_frames["head"][:, :, 2]  # Z = X x Y: the face's forward
        return posed_head[head_bone] + forward @ (axes_t * np.float32(rig.units_per_metre))
    side = role[-1]
    upper_len, fore_len = rig.arm_lengths(side)
    # The rig's own segment lengths along the lifted directions: the IK target is exactly
    # where the FK solution puts the wrist, so switching FK/IK does not jump.
    upper = lifted.role_frames[f"upper_arm.{side}"][:, :, 1] @ (axes_t * np.float32(upper_len))
    fore = lifted.role_frames[f"forearm.{side}"][:, :, 1] @ (axes_t * np.float32(fore_len))
    elbow = posed_head[mapping.bones[f"upper_arm.{side}"]] + upper
    if role.startswith("ik_hand."):
        return elbow + fore
    hinge = lifted.role_frames[f"upper_arm.{side}"][:, :, 0] @ axes_t
    bend = normalize(cross3(upper + fore, hinge))  # where the elbow points
    return elbow + np.float32(POLE_DISTANCE * (upper_len + fore_len)) * bend


def _pose(
    skeleton: RestSkeleton,
    world_rotations: dict[str, np.ndarray],
    head_targets: dict[str, np.ndarray],
    *,
    frames: int,
    mapping: BoneMapping,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Invert Blender's pose formula, parents first, with the mapping's constraint model.

    ``parent_blend`` (see :class:`BoneMapping`) replaces some bones' parent rotation by a
    blend of two other bones' turns; ``follow`` poses helper bones by another bone's
    deformation; ``copy_local`` gives helper bones a share of another's local rotation.
    Those other bones are evaluated first.

    Returns (local rotation matrices of the rotated bones, locations of the targeted bones,
    posed armature-space rotations, posed heads) — the latter two for every evaluated bone,
    shape (1, ...) where a bone's pose never changes.
    """
    posed_rotation: dict[str, np.ndarray] = {}
    posed_head: dict[str, np.ndarray] = {}
    local_rotations: dict[str, np.ndarray] = {}
    locations: dict[str, np.ndarray] = {}
    parent_blend, follow, copy_local = mapping.parent_blend, mapping.follow, mapping.copy_local
    wanted = list(world_rotations) + list(head_targets)
    for name in _evaluation_order(skeleton, wanted, mapping):
        bone = skeleton.bones[name]
        parent_rotation: np.ndarray  # float32, (T or 1, 3, 3)
        if bone.parent is None or name in follow:
            link = np.asarray(bone.matrix_local, dtype=np.float64)
            parent_rotation, parent_head = np.eye(3, dtype=np.float32)[None], np.zeros((1, 3), np.float32)
            if name in follow:  # the target's deformation, posed @ inv(rest), replaces the parent
                rest = skeleton.bones[follow[name]].matrix_local
                parent_rotation = matmul3(posed_rotation[follow[name]], rest[:3, :3].T.astype(np.float32))
                parent_head = posed_head[follow[name]] - rotate3(parent_rotation, rest[:3, 3].astype(np.float32))
        else:
            link = np.linalg.inv(skeleton.bones[bone.parent].matrix_local) @ bone.matrix_local
            parent_rotation, parent_head = posed_rotation[bone.parent], posed_head[bone.parent]
        if name in parent_blend and bone.parent is not None:
            parent_rotation = _blended_turn(skeleton, posed_rotation, parent_blend[name]) @ skeleton.bones[
                bone.parent
            ].matrix_local[:3, :3].astype(np.float32)
        link_rotation, link_offset = link[:3, :3].astype(np.float32), link[:3, 3].astype(np.float32)
        basis = matmul3(parent_rotation, link_rotation)  # the bone's axes with no local channels
        if name in copy_local and copy_local[name][0] in local_rotations:
            basis = matmul3(basis, _partial_turn(local_rotations[copy_local[name][0]], copy_local[name][1]))
        offset = link_offset[None]
        if name in head_targets:
            # The location's axes: the bone's rest axes, or its parent's with local location off.
            space = link_rotation if bone.local_location else np.eye(3, dtype=np.float32)
            in_parent = rotate3(transpose3(parent_rotation), head_targets[name] - parent_head)
            location = (in_parent - link_offset) @ space
            locations[name] = np.broadcast_to(location, (frames, 3))
            offset = link_offset + location @ space.T
        posed_head[name] = parent_head + rotate3(parent_rotation, offset)
        if name in world_rotations:
            target = world_rotations[name]
            local_rotations[name] = matmul3(transpose3(basis), target)
            posed_rotation[name] = target
        else:
            posed_rotation[name] = basis
    return local_rotations, locations, posed_rotation, posed_head


def _blended_turn(
    skeleton: RestSkeleton, posed_rotation: dict[str, np.ndarray], blend: tuple[str, str, float]
) -> np.ndarray:
    """slerp(turn of ``first``, turn of ``second``, ``weight``) [shape=(T, 3, 3)] for ``blend`` =
    (first, second, weight), a :attr:`BoneMapping.parent_blend` entry, where a bone's turn is its
    posed rotation times its rest rotation's inverse (armature space)."""
    first, second, weight = blend
    turns = [
        matmul3(posed_rotation[n], skeleton.bones[n].matrix_local[:3, :3].T.astype(np.float32)) for n in (first, second)
    ]
    if first == second or weight in (0.0, 1.0):
        return turns[1] if weight == 1.0 else turns[0]
    a, b = (matrix_to_quaternion(t).astype(np.float64) for t in turns)
    b *= np.where(np.sum(a * b, -1, keepdims=True) < 0, -1.0, 1.0)
    angle = np.arccos(np.clip(np.sum(a * b, -1, keepdims=True), -1.0, 1.0))
    small = angle < 1e-6
    sin = np.where(small, 1.0, np.sin(angle))
    mixed = np.where(
        small, (1 - weight) * a + weight * b, (np.sin((1 - weight) * angle) * a + np.sin(weight * angle) * b) / sin
    )
    return quaternion_to_matrix(mixed).astype(np.float32)
