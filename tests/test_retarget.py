"""core.retarget without Blender: lifting, solving, presets, controls, bad input."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest

from core.figure.rig import CONDUCTOR_BONES
from core.errors import ConductorError
from core.retarget import (
    PRESETS,
    BoneMapping,
    RestSkeleton,
    RetargetSettings,
    forward_kinematics,
    lift_to_3d,
    load_mapping_json,
    missing_bones,
    retarget,
    solve,
)
from core.retarget.solve import _RigBody
from core.motion.skeleton import JOINT_INDEX, MIRROR_INDEX

METRES_PER_UNIT = 1.9  # image height of the synthetic camera, metres
DEMO_PIECE = Path(__file__).resolve().parents[1] / "core" / "assets" / "demo_piece.ogg"


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthetic_joints_m(frames: int = 240, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """A 3D conductor beating 2/4 (T, 13, 3), metres, Blender's frame: the test's ground truth."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    phase = 2 * np.pi * t / 1.2 + rng.uniform(0, 1)
    joints = np.zeros((frames, 13, 3))
    pelvis = np.array([0.0, 0.0, 1.0])
    turn = 0.25 * np.sin(0.3 * t)  # torso yaw, radians
    lean = 0.15 + 0.05 * np.sin(phase)
    up = np.stack([np.zeros(frames), -np.sin(lean), np.cos(lean)], -1)
    lateral = np.stack([np.cos(turn), np.sin(turn), np.zeros(frames)], -1)
    neck = pelvis + 0.42 * up
    j = JOINT_INDEX
    joints[:, j["left_hip"]] = pelvis + 0.11 * lateral
    joints[:, j["right_hip"]] = pelvis - 0.11 * lateral
    joints[:, j["left_shoulder"]] = neck + 0.19 * lateral
    joints[:, j["right_shoulder"]] = neck - 0.19 * lateral
    for side, sign in (("left", 1.0), ("right", -1.0)):
        swing = phase + (0.0 if side == "right" else 0.4)
        upper = _unit(
            np.stack(
                [sign * (0.5 + 0.3 * np.sin(swing)), -0.8 - 0.2 * np.cos(swing), -0.6 + 0.4 * np.sin(2 * swing)], -1
            )
        )
        fore = _unit(np.stack([sign * (0.1 + 0.3 * np.cos(swing)), -1.0 + 0.0 * swing, 0.2 + 0.5 * np.sin(swing)], -1))
        elbow = joints[:, j[f"{side}_shoulder"]] + 0.28 * upper
        joints[:, j[f"{side}_elbow"]] = elbow
        joints[:, j[f"{side}_wrist"]] = elbow + 0.26 * fore
    head = neck + 0.2 * up
    face_turn = turn + 0.4 * np.sin(0.5 * t)
    face_lateral = np.stack([np.cos(face_turn), np.sin(face_turn), np.zeros(frames)], -1)
    face_forward = np.stack([np.sin(face_turn), -np.cos(face_turn), np.zeros(frames)], -1)
    joints[:, j["left_ear"]] = head + 0.075 * face_lateral
    joints[:, j["right_ear"]] = head - 0.075 * face_lateral
    joints[:, j["nose"]] = head + 0.1 * face_forward - 0.02 * up
    joints[:, j["left_eye"]] = head + 0.08 * face_forward + 0.03 * face_lateral + 0.01 * up
    joints[:, j["right_eye"]] = head + 0.08 * face_forward - 0.03 * face_lateral + 0.01 * up
    return joints


def to_image(joints_m: np.ndarray) -> np.ndarray:
    """Orthographic camera facing the conductor: (T, 13, 3) metres -> (T, 13, 2) image units."""
    x = 0.5 + joints_m[..., 0] / METRES_PER_UNIT
    y = 0.5 - (joints_m[..., 2] - 1.2) / METRES_PER_UNIT
    return np.stack([x, y], -1).astype(np.float32)


def synthetic_keypoints(frames: int = 240, seed: int = 0) -> np.ndarray:
    return to_image(synthetic_joints_m(frames, seed=seed))


@functools.lru_cache(maxsize=None)
def procedural_motion(gesture_size: float = 1.0):
    """The procedural conductor on the first 12 s of the demo piece (360 frames) at a gesture size."""
    from core.audio.decode import load_audio
    from core.procedural.conductor import ConductingStyle, conduct

    samples = load_audio(DEMO_PIECE)[: 12 * 22_050]
    return conduct(samples, seed=0, style=ConductingStyle(gesture_size=gesture_size))


def conductor_skeleton() -> RestSkeleton:
    return RestSkeleton.from_rig_bones(CONDUCTOR_BONES)


# Mixamo's names and typical rest (A-ish pose, bones rolled as the FBX importer leaves them).
MIXAMO_ROWS = (
    ("mixamorig:Hips", None, (0, 0, 1.00), (0, 0, 1.10), 0.0),
    ("mixamorig:Spine", "mixamorig:Hips", (0, 0, 1.10), (0, 0.01, 1.22), 0.0),
    ("mixamorig:Spine1", "mixamorig:Spine", (0, 0.01, 1.22), (0, 0.01, 1.35), 0.0),
    ("mixamorig:Spine2", "mixamorig:Spine1", (0, 0.01, 1.35), (0, 0.01, 1.50), 0.0),
    ("mixamorig:Neck", "mixamorig:Spine2", (0, 0.01, 1.50), (0, -0.01, 1.60), 0.0),
    ("mixamorig:Head", "mixamorig:Neck", (0, -0.01, 1.60), (0, -0.01, 1.80), 0.0),
    ("mixamorig:LeftShoulder", "mixamorig:Spine2", (0.06, 0.0, 1.45), (0.17, 0.02, 1.46), 1.3),
    ("mixamorig:LeftArm", "mixamorig:LeftShoulder", (0.17, 0.02, 1.46), (0.40, 0.03, 1.30), 1.9),
    ("mixamorig:LeftForeArm", "mixamorig:LeftArm", (0.40, 0.03, 1.30), (0.60, 0.01, 1.16), 2.1),
    ("mixamorig:LeftHand", "mixamorig:LeftForeArm", (0.60, 0.01, 1.16), (0.67, 0.0, 1.11), 2.0),
    ("mixamorig:RightShoulder", "mixamorig:Spine2", (-0.06, 0.0, 1.45), (-0.17, 0.02, 1.46), -1.3),
    ("mixamorig:RightArm", "mixamorig:RightShoulder", (-0.17, 0.02, 1.46), (-0.40, 0.03, 1.30), -1.9),
    ("mixamorig:RightForeArm", "mixamorig:RightArm", (-0.40, 0.03, 1.30), (-0.60, 0.01, 1.16), -2.1),
    ("mixamorig:RightHand", "mixamorig:RightForeArm", (-0.60, 0.01, 1.16), (-0.67, 0.0, 1.11), -2.0),
)


def mixamo_skeleton(y_up: bool = False, scale: float = 1.0) -> RestSkeleton:
    """Mixamo-named rest skeleton; ``y_up`` stores it in a Y-up armature space (as FBX)."""

    def place(p):
        p = np.asarray(p, float) * scale
        return np.array([p[0], p[2], -p[1]]) if y_up else p

    return RestSkeleton.from_head_tail_roll(
        (name, parent, place(head), place(tail), roll) for name, parent, head, tail, roll in MIXAMO_ROWS
    )


# The bones the preset uses and everything between them, with their rest pose, as Rigify
# generates them from the human metarig (Blender 5.0); the IK controls' MCH parents are
# parentless, moved by Armature constraints (the preset's "follow").
RIGIFY_ROWS = (
    ("MCH-torso.parent", None, (0, 0.0362, 1.0836), (0, 0.1671, 1.0836), 0.0000),
    ("torso", "MCH-torso.parent", (0, 0.0362, 1.0836), (0, 0.4288, 1.0836), 0.0000),
    ("chest", "torso", (0, 0.0004, 1.2929), (0, 0.2185, 1.2929), 0.0000),
    ("MCH-spine.002", "torso", (0, 0.0004, 1.2929), (0, 0.0658, 1.2929), 0.0000),
    ("spine_fk.002", "MCH-spine.002", (0, 0.0004, 1.2929), (0, 0.0059, 1.4657), 0.0000),
    ("MCH-spine.003", "spine_fk.002", (0, 0.0059, 1.4657), (0, 0.0713, 1.4657), 0.0000),
    ("spine_fk.003", "MCH-spine.003", (0, 0.0059, 1.4657), (0, 0.0114, 1.6582), 0.0000),
    ("tweak_spine.003", "spine_fk.003", (0, 0.0059, 1.4657), (0, 0.0087, 1.5619), 0.0000),
    ("ORG-spine.003", "tweak_spine.003", (0, 0.0059, 1.4657), (0, 0.0114, 1.6582), 0.0000),
    ("shoulder.L", "ORG-spine.003", (0.0183, -0.0684, 1.6051), (0.1694, 0.0205, 1.605), 0.0004),
    ("ORG-shoulder.L", "ORG-spine.003", (0.0183, -0.0684, 1.6051), (0.1694, 0.0205, 1.605), 0.0004),
    ("MCH-upper_arm_parent.L", "ORG-shoulder.L", (0.1953, 0.0267, 1.5846), (0.1953, 0.0988, 1.5846), 0.0000),
    ("upper_arm_fk.L", "MCH-upper_arm_parent.L", (0.1953, 0.0267, 1.5846), (0.4424, 0.0885, 1.4491), 2.2930),
    ("forearm_fk.L", "upper_arm_fk.L", (0.4424, 0.0885, 1.4491), (0.6594, 0.0492, 1.3061), 2.3713),
    ("shoulder.R", "ORG-spine.003", (-0.0183, -0.0684, 1.6051), (-0.1694, 0.0205, 1.605), -0.0004),
    ("ORG-shoulder.R", "ORG-spine.003", (-0.0183, -0.0684, 1.6051), (-0.1694, 0.0205, 1.605), -0.0004),
    ("MCH-upper_arm_parent.R", "ORG-shoulder.R", (-0.1953, 0.0267, 1.5846), (-0.1953, 0.0988, 1.5846), -0.0000),
    ("upper_arm_fk.R", "MCH-upper_arm_parent.R", (-0.1953, 0.0267, 1.5846), (-0.4424, 0.0885, 1.4491), -2.2930),
    ("forearm_fk.R", "upper_arm_fk.R", (-0.4424, 0.0885, 1.4491), (-0.6594, 0.0492, 1.3061), -2.3713),
    ("MCH-hand_fk.L", "forearm_fk.L", (0.6594, 0.0492, 1.3061), (0.6754, 0.0472, 1.2942), 2.4340),
    ("hand_fk.L", "MCH-hand_fk.L", (0.6594, 0.0492, 1.3061), (0.7234, 0.0412, 1.2585), 2.4340),
    ("MCH-hand_fk.R", "forearm_fk.R", (-0.6594, 0.0492, 1.3061), (-0.6754, 0.0472, 1.2942), -2.4340),
    ("hand_fk.R", "MCH-hand_fk.R", (-0.6594, 0.0492, 1.3061), (-0.7234, 0.0412, 1.2585), -2.4340),
    ("root", None, (0, 0, 0), (0, 1, 0), 0.0000),
    ("MCH-hand_ik.parent.L", None, (0.6594, 0.0492, 1.3061), (0.6594, 0.0759, 1.3061), 0.0000),
    ("hand_ik.L", "MCH-hand_ik.parent.L", (0.6594, 0.0492, 1.3061), (0.7234, 0.0412, 1.2585), 2.4340),
    ("MCH-hand_ik.parent.R", None, (-0.6594, 0.0492, 1.3061), (-0.6594, 0.0759, 1.3061), 0.0000),
    ("hand_ik.R", "MCH-hand_ik.parent.R", (-0.6594, 0.0492, 1.3061), (-0.7234, 0.0412, 1.2585), -2.4340),
    ("MCH-ROT-neck", "spine_fk.003", (0, 0.0114, 1.6582), (0, 0.0776, 1.6582), 0.0000),
    ("neck", "MCH-ROT-neck", (0, 0.0114, 1.6582), (0, -0.0247, 1.7813), 0.0000),
    ("MCH-ROT-head", "neck", (0, -0.0247, 1.7813), (0, 0.1736, 1.7813), 0.0000),
    ("head", "MCH-ROT-head", (0, -0.0247, 1.7813), (0, -0.0247, 1.9796), 0.0000),
    ("MCH-upper_arm_ik_target.parent.L", None, (0.4832, 0.6172, 1.5598), (0.4832, 0.6398, 1.5598), 0.0000),
    (
        "upper_arm_ik_target.L",
        "MCH-upper_arm_ik_target.parent.L",
        (0.4832, 0.6172, 1.5598),
        (0.4781, 0.5511, 1.5459),
        0.0000,
    ),
    ("MCH-upper_arm_ik_target.parent.R", None, (-0.4832, 0.6172, 1.5598), (-0.4832, 0.6398, 1.5598), 0.0000),
    (
        "upper_arm_ik_target.R",
        "MCH-upper_arm_ik_target.parent.R",
        (-0.4832, 0.6172, 1.5598),
        (-0.4781, 0.5511, 1.5459),
        -0.0000,
    ),
)


def rigify_like_skeleton() -> RestSkeleton:
    """Rigify's IK controls read their location in their parent's axes (local location off)."""
    skeleton = RestSkeleton.from_head_tail_roll(RIGIFY_ROWS)
    for name in ("hand_ik.L", "hand_ik.R", "upper_arm_ik_target.L", "upper_arm_ik_target.R"):
        skeleton.bones[name] = dataclasses.replace(skeleton.bones[name], local_location=False)
    return skeleton


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cosine = np.sum(_unit(a) * _unit(b), -1)
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))


def role_errors_deg(skeleton, mapping, settings, keypoints) -> dict[str, float]:
    """Worst angle per role between the rig's FK-posed role frame axes and the lifted ones."""
    lifted = lift_to_3d(keypoints, settings)
    animation = solve(lifted, skeleton, mapping, settings)
    posed = forward_kinematics(skeleton, animation, mapping=mapping)
    rig = _RigBody(skeleton, mapping)
    errors = {}
    for role, bone in mapping.fk_bones.items():
        if role == "baton" and settings.baton_hand == "none":
            continue
        rest = skeleton.bones[bone].matrix_local[:3, :3]
        # The rig's rest role frame carried along by the bone's posed rotation.
        carried = posed[bone][:, :3, :3] @ rest.T @ rig.rest_frame(role, bone)
        wanted = rig.axes @ lifted.role_frames[role].astype(np.float64)
        errors[role] = float(
            max(angle_deg(carried[..., 1], wanted[..., 1]).max(), angle_deg(carried[..., 0], wanted[..., 0]).max())
        )
    return errors


# ------------------------------------------------------------------------------ solving


@pytest.mark.parametrize(
    "name, skeleton",
    [
        ("conductor", conductor_skeleton()),
        ("mixamo", mixamo_skeleton()),
        ("mixamo", mixamo_skeleton(y_up=True, scale=100.0)),
        ("rigify", rigify_like_skeleton()),
    ],
)
def test_fk_of_solved_rotations_reproduces_lifted_directions(name, skeleton):
    settings = RetargetSettings(hip_sway=0.7, smoothing=0.3)
    errors = role_errors_deg(skeleton, PRESETS[name], settings, synthetic_keypoints())
    assert max(errors.values()) < 2.0, errors


def test_rest_like_input_gives_rest_rotations_on_the_conductor_rig():
    skeleton = conductor_skeleton()
    animation = retarget(synthetic_keypoints(30), skeleton, PRESETS["conductor"])
    for bone in ("hips", "hand.L", "baton"):
        q = animation.rotation_quaternion[bone]
        assert np.allclose(np.abs(q[:, 0]), 1.0, atol=1e-5), bone  # free hand: forearm; baton: its hand
    # The baton hand bends at the wrist, within the wrist's range.
    bend_deg = np.degrees(2 * np.arccos(np.clip(np.abs(animation.rotation_quaternion["hand.R"][:, 0]), 0, 1)))
    assert 1.0 < bend_deg.max() <= 60.0 + 1e-3


def test_quaternions_are_unit_finite_and_continuous():
    animation = retarget(synthetic_keypoints(), conductor_skeleton(), PRESETS["conductor"])
    for q in animation.rotation_quaternion.values():
        assert q.dtype == np.float32 and q.shape[1] == 4
        assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
        assert np.all(np.sum(q[1:] * q[:-1], 1) > 0)


# ------------------------------------------------------------------------------ lifting


def test_orthographic_projection_gives_back_the_normalised_input():
    keypoints = synthetic_keypoints()
    lifted = lift_to_3d(keypoints, RetargetSettings(smoothing=0.0))
    relative = lifted.joints_m[:, :13] - lifted.joint("pelvis")[:, None]
    projected = relative[..., [0, 2]]
    pelvis = (keypoints[:, JOINT_INDEX["left_hip"]] + keypoints[:, JOINT_INDEX["right_hip"]]) / 2
    normalised = (keypoints - pelvis[:, None]) * np.array([1.0, -1.0]) * lifted.metres_per_unit
    error_m = np.linalg.norm(projected - normalised, axis=-1)
    # Exact but where a bone looks longer than its per-piece length (top 5% of frames).
    assert np.percentile(error_m, 90) < 1e-5
    assert error_m.max() < 0.02
    assert np.allclose(lifted.keypoints_m, normalised, atol=1e-5)


def test_scale_and_depth_match_the_ground_truth():
    truth = synthetic_joints_m()
    lifted = lift_to_3d(to_image(truth), RetargetSettings(smoothing=0.0))
    assert lifted.metres_per_unit == pytest.approx(METRES_PER_UNIT, rel=0.05)
    j = JOINT_INDEX
    for side in ("left", "right"):
        arm_truth = truth[:, j[f"{side}_wrist"]] - truth[:, j[f"{side}_shoulder"]]
        arm_lifted = lifted.joint(f"{side}_wrist") - lifted.joint(f"{side}_shoulder")
        # Arms never seen side-on look shorter than they are, so depth is underestimated a bit.
        assert np.median(angle_deg(arm_truth, arm_lifted)) < 12.0


def test_bone_lengths_are_constant():
    keypoints = synthetic_keypoints()
    keypoints[50:60] = np.nan  # filled frames too
    lifted = lift_to_3d(keypoints, RetargetSettings(amplitude=1.6, hip_sway=1.0))
    pairs = [
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("pelvis", "neck"),
        ("left_shoulder", "right_shoulder"),
        ("left_hip", "right_hip"),
        ("neck", "head"),
        ("head", "nose"),
        ("left_ear", "right_ear"),
        ("head", "left_eye"),
        ("left_wrist", "hand_tip.L"),
        ("hand_tip.R", "baton_tip"),
    ]
    for a, b in pairs:
        length = np.linalg.norm(lifted.joint(a).astype(np.float64) - lifted.joint(b), axis=-1)
        assert np.ptp(length) < 1e-6, (a, b, np.ptp(length))


def chest_clearance_m(lifted, name: str) -> np.ndarray:
    """How far a joint is in front of the spine line in the frames where it lies within the
    chest's width and height [shape=(K,)], metres (see core.retarget.lift.ARM_CLEARANCE_M)."""
    from core.retarget.lift import CHEST_HALF_WIDTH_SHARE

    pelvis, neck = lifted.joint("pelvis").astype(np.float64), lifted.joint("neck").astype(np.float64)
    up = _unit(neck - pelvis)
    across = lifted.joint("left_shoulder") - lifted.joint("right_shoulder")
    across = _unit(across - np.sum(across * up, axis=1, keepdims=True) * up)
    forward = np.cross(across, up)
    reach = lifted.joint(name) - pelvis
    height = np.sum(reach * up, axis=1)
    inside = (
        (np.abs(np.sum(reach * across, axis=1)) < CHEST_HALF_WIDTH_SHARE * lifted.bone_lengths_m["shoulder_half"])
        & (height > 0)
        & (height < np.linalg.norm(neck - pelvis, axis=1))
    )
    return np.sum(reach * forward, axis=1)[inside]


@pytest.mark.parametrize("gesture_size", [1.0, 1.6])
def test_the_procedural_conductor_lifts_to_a_valid_body(gesture_size):
    """At the new gesture sizes: constant bone lengths, elbows and wrists in front of the chest
    (hands and baton tip at least in front of its surface), and every rig posed as lifted."""
    from core.retarget.lift import ARM_CLEARANCE_M

    keypoints = procedural_motion(gesture_size).keypoints
    lifted = lift_to_3d(keypoints, RetargetSettings())
    pairs = [
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("pelvis", "neck"),
        ("left_shoulder", "right_shoulder"),
        ("left_wrist", "hand_tip.L"),
        ("right_wrist", "hand_tip.R"),
        ("hand_tip.R", "baton_tip"),
    ]
    for a, b in pairs:
        length = np.linalg.norm(lifted.joint(a).astype(np.float64) - lifted.joint(b), axis=-1)
        assert np.ptp(length) < 1e-6, (a, b)
    crossing = 0
    for name in ("left_elbow", "right_elbow", "left_wrist", "right_wrist"):
        clearance = chest_clearance_m(lifted, name)
        assert clearance.size == 0 or clearance.min() >= ARM_CLEARANCE_M - 1e-5, name
        crossing += clearance.size
    assert crossing > 100  # the hands do pass in front of the chest
    for name in ("hand_tip.L", "hand_tip.R", "baton_tip"):
        clearance = chest_clearance_m(lifted, name)
        assert clearance.size == 0 or clearance.min() > 0.115, name  # the built-in body's chest surface
    for name, skeleton in (
        ("conductor", conductor_skeleton()),
        ("rigify", rigify_like_skeleton()),
        ("mixamo", mixamo_skeleton(y_up=True, scale=100.0)),
    ):
        errors = role_errors_deg(skeleton, PRESETS[name], RetargetSettings(), keypoints)
        assert max(errors.values()) < 2.0, (name, errors)


def test_the_baton_is_held_above_the_hand_and_flexes_into_each_ictus():
    motion = procedural_motion()
    lifted = lift_to_3d(motion.keypoints, RetargetSettings())
    baton = lifted.joint("baton_tip") - lifted.joint("hand_tip.R")
    elevation_deg = np.degrees(np.arcsin(baton[:, 2] / np.linalg.norm(baton, axis=1)))
    assert 0.0 < np.median(elevation_deg) < 20.0  # was -20: a straight forearm pointing at the floor
    beats = np.round(np.asarray(motion.extra["beats_s"]) * motion.fps).astype(int)
    beats = beats[(beats > 0) & (beats < len(elevation_deg) - 1)]
    wrist_z = lifted.joint("right_wrist")[:, 2]
    tops = [a + int(np.argmax(wrist_z[a:b])) for a, b in zip(beats[:-1], beats[1:])]
    assert np.median(elevation_deg[tops]) - np.median(elevation_deg[beats]) > 8.0
    # From the frontal camera the baton points up and out, not at the floor.
    assert np.median(np.degrees(np.arctan2(baton[:, 2], np.abs(baton[:, 0])))) > 0.0


def test_hands_and_elbows_stay_in_front_of_the_body():
    lifted = lift_to_3d(synthetic_keypoints(), RetargetSettings())
    for side in ("left", "right"):
        assert np.all(lifted.joint(f"{side}_elbow")[:, 1] <= lifted.joint(f"{side}_shoulder")[:, 1] + 1e-6)
        assert np.all(lifted.joint(f"{side}_wrist")[:, 1] < lifted.joint("neck")[:, 1])


# ------------------------------------------------------------------------------ robustness


def _corrupted(keypoints: np.ndarray) -> np.ndarray:
    bad = keypoints.copy()
    bad[10] = 0.0  # all zeros
    bad[20, 3:9] = np.nan  # missing joints
    bad[30] = 0.5  # collapsed to one point
    bad[40, 9] = (1.7, -0.3)  # out of [0, 1]
    bad[50] = bad[50][list(MIRROR_INDEX)]  # left and right swapped
    bad[60, [7, 8]] = bad[60, [8, 7]]  # just the elbows swapped
    bad[70:75] = np.inf
    return bad


def test_bad_frames_are_held_from_neighbours_without_flips():
    clean = synthetic_keypoints()
    skeleton, mapping = conductor_skeleton(), PRESETS["conductor"]
    settings = RetargetSettings(smoothing=0.0)
    good = lift_to_3d(clean, settings)
    repaired = lift_to_3d(_corrupted(clean), settings)
    assert np.isfinite(repaired.joints_m).all()
    for role in ("upper_arm.L", "upper_arm.R", "forearm.L", "forearm.R"):
        drift = angle_deg(good.role_frames[role][..., 1], repaired.role_frames[role][..., 1])
        assert drift.max() < 25.0, role  # interpolated, never flipped
    animation = retarget(_corrupted(clean), skeleton, mapping, settings)
    for q in animation.rotation_quaternion.values():
        assert np.isfinite(q).all()


@pytest.mark.parametrize(
    "keypoints",
    [
        np.zeros((50, 13, 2)),
        np.full((20, 13, 2), np.nan),
        np.full((5, 13, 2), 0.5),
        np.random.default_rng(1).uniform(-2, 3, (40, 13, 2)),
        synthetic_keypoints(1),
        synthetic_keypoints(2),
        np.zeros((0, 13, 2)),
    ],
)
@pytest.mark.parametrize("mode", ["FK", "IK"])
def test_degenerate_inputs_give_finite_output(keypoints, mode):
    settings = RetargetSettings(mode=mode, hip_sway=0.5, amplitude=1.5)
    for name, skeleton in (("conductor", conductor_skeleton()), ("rigify", rigify_like_skeleton())):
        animation = retarget(keypoints, skeleton, PRESETS[name], settings)
        for array in list(animation.rotation_quaternion.values()) + list(animation.location.values()):
            assert array.shape[0] == len(keypoints) and np.isfinite(array).all()


# ------------------------------------------------------------------------------ controls


def test_mirror_equals_lifting_the_mirrored_image():
    keypoints = synthetic_keypoints()
    mirrored = keypoints[:, list(MIRROR_INDEX)] * np.array([-1.0, 1.0]) + np.array([1.0, 0.0])
    a = lift_to_3d(keypoints, RetargetSettings(mirror=True))
    b = lift_to_3d(mirrored, RetargetSettings(mirror=False))
    assert np.allclose(a.joints_m, b.joints_m, atol=1e-5)


def test_amplitude_scales_the_gestures():
    keypoints = synthetic_keypoints()
    spread = {}
    for amplitude in (0.0, 0.5, 1.0, 1.5):
        lifted = lift_to_3d(keypoints, RetargetSettings(amplitude=amplitude))
        spread[amplitude] = lifted.joint("right_wrist").std(0).sum()
    assert spread[0.0] < 1e-4
    assert spread[0.5] < spread[1.0] < spread[1.5]


def test_smoothing_reduces_jitter():
    keypoints = synthetic_keypoints() + np.random.default_rng(3).normal(0, 0.004, (240, 13, 2))
    jitter = {}
    for smoothing in (0.0, 1.0):
        wrist = lift_to_3d(keypoints, RetargetSettings(smoothing=smoothing)).joint("right_wrist")
        jitter[smoothing] = np.abs(np.diff(wrist, 2, axis=0)).mean()
    assert jitter[1.0] < 0.3 * jitter[0.0]


def test_hips_still_or_swaying():
    keypoints = synthetic_keypoints()
    keypoints[..., 0] += 0.02 * np.sin(np.arange(240) / 15)[:, None]
    skeleton, mapping = conductor_skeleton(), PRESETS["conductor"]
    still = retarget(keypoints, skeleton, mapping, RetargetSettings(hip_sway=0.0))
    sway = retarget(keypoints, skeleton, mapping, RetargetSettings(hip_sway=1.0))
    assert np.abs(still.location["hips"]).max() == 0
    assert np.allclose(still.rotation_quaternion["hips"], [1, 0, 0, 0])
    assert 0.005 < np.abs(sway.location["hips"]).max() <= 0.05 + 1e-6


@pytest.mark.parametrize("hand", ["right", "left", "none"])
def test_baton_hand(hand):
    lifted = lift_to_3d(synthetic_keypoints(), RetargetSettings(baton_hand=hand))
    side = "L" if hand == "left" else "R"
    reach = np.linalg.norm(lifted.joint("baton_tip") - lifted.joint(f"hand_tip.{side}"), axis=-1)
    assert np.allclose(reach, 0.40, atol=1e-5)
    animation = retarget(
        synthetic_keypoints(), conductor_skeleton(), PRESETS["conductor"], RetargetSettings(baton_hand=hand)
    )
    assert ("baton" in animation.rotation_quaternion) == (hand != "none")


def test_ik_controls_land_on_scaled_wrists():
    skeleton = rigify_like_skeleton()
    settings = RetargetSettings(mode="IK")
    lifted = lift_to_3d(synthetic_keypoints(), settings)
    animation = solve(lifted, skeleton, PRESETS["rigify"], settings)
    posed = forward_kinematics(skeleton, animation, mapping=PRESETS["rigify"])
    rig = _RigBody(skeleton, PRESETS["rigify"])
    for side in "LR":
        shoulder = posed[f"upper_arm_fk.{side}"][:, :3, 3]
        target = posed[f"hand_ik.{side}"][:, :3, 3]
        upper, fore = rig.arm_lengths(side)
        expected = (
            upper * lifted.role_frames[f"upper_arm.{side}"][..., 1]
            + fore * lifted.role_frames[f"forearm.{side}"][..., 1]
        )
        assert np.allclose(target - shoulder, expected, atol=1e-5)
        # FK arm and IK target agree: the FK wrist sits on the IK target.
        wrist_fk = posed[f"hand_fk.{side}"][:, :3, 3]
        assert np.allclose(wrist_fk, target, atol=1e-5)
        pole = posed[f"upper_arm_ik_target.{side}"][:, :3, 3]
        elbow = posed[f"forearm_fk.{side}"][:, :3, 3]
        assert np.allclose(np.linalg.norm(pole - elbow, axis=-1), 0.5 * (upper + fore), atol=1e-5)
    assert set(animation.location) == {
        "torso",
        "hand_ik.L",
        "hand_ik.R",
        "upper_arm_ik_target.L",
        "upper_arm_ik_target.R",
    }


# ------------------------------------------------------------------------------ mappings


@pytest.mark.parametrize(
    "name, skeleton",
    [
        ("conductor", conductor_skeleton()),
        ("mixamo", mixamo_skeleton()),
        ("rigify", rigify_like_skeleton()),
    ],
)
def test_each_preset_maps_onto_its_rig(name, skeleton):
    assert missing_bones(PRESETS[name], skeleton.bones) == []


def test_missing_bones_are_listed_by_name():
    skeleton = mixamo_skeleton()
    names = [n for n in skeleton.bones if n != "mixamorig:LeftHand"]
    assert missing_bones(PRESETS["mixamo"], names) == ["mixamorig:LeftHand"]
    assert "mixamorig:Hips" in missing_bones(PRESETS["mixamo"], ["hips"])
    with pytest.raises(ConductorError, match="mixamorig:Hips"):
        retarget(synthetic_keypoints(10), conductor_skeleton(), PRESETS["mixamo"])


def test_mapping_json(tmp_path):
    good = tmp_path / "my_rig.json"
    good.write_text(json.dumps({"name": "mine", "bones": {"upper_arm.L": "Arm_L", "head": "Head"}}))
    mapping = load_mapping_json(good)
    assert mapping.name == "mine" and mapping.bones == {"head": "Head", "upper_arm.L": "Arm_L"}
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"neck": "Neck"}))
    assert load_mapping_json(bare).name == "bare"
    for text in ("{not json", "[1, 2]", '{"bones": {"elbow.L": "x"}}', '{"bones": {"head": 3}}', '{"bones": {}}'):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ConductorError):
            load_mapping_json(bad)
    with pytest.raises(ConductorError, match="does not exist"):
        load_mapping_json(tmp_path / "absent.json")


def test_settings_are_checked():
    with pytest.raises(ConductorError):
        RetargetSettings(baton_hand="both")
    with pytest.raises(ConductorError):
        RetargetSettings(smoothing=2.0)
    with pytest.raises(ConductorError):
        BoneMapping("x", {"tail": "Tail"})

