"""core.retarget without Blender: lifting, solving, presets, controls, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import ConductorError
from core.retarget import (
    PRESETS,
    BoneMapping,
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

from rigs import (  # noqa: E402
    METRES_PER_UNIT,
    _unit,
    angle_deg,
    conductor_skeleton,
    mixamo_skeleton,
    procedural_motion,
    rigify_like_skeleton,
    synthetic_joints_m,
    synthetic_keypoints,
    to_image,
)


def role_errors_deg(skeleton, mapping, settings, keypoints) -> dict[str, float]:
    """Worst angle per role between the rig's FK-posed role frame axes and the lifted ones."""
    lifted = lift_to_3d(keypoints, settings)
    animation = solve(lifted, skeleton, mapping, settings=settings)
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
    for bone in ("hips", "baton"):  # the baton turns with its hand
        q = animation.rotation_quaternion[bone]
        assert np.allclose(np.abs(q[:, 0]), 1.0, atol=1e-5), bone
    # Both hands bend and turn at the wrist (a motion without hand channels gets them from its
    # wrists: the free hand relaxed, the baton hand gripping, palm down), within the wrist's range.
    for bone in ("hand.L", "hand.R"):
        bend_deg = np.degrees(2 * np.arccos(np.clip(np.abs(animation.rotation_quaternion[bone][:, 0]), 0, 1)))
        assert 1.0 < bend_deg.max() <= 100.0, bone
    # The fingers curl toward the palm, the baton hand's grip tighter than the free hand's.
    curl = {
        side: np.degrees(2 * np.arccos(np.abs(animation.rotation_quaternion[f"middle.02.{side}"][:, 0])))
        for side in "LR"
    }
    assert 10.0 < curl["L"].mean() < curl["R"].mean() < 120.0


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
    beats = motion.frames_at(motion.extra["beats_s"])
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
    animation = retarget(_corrupted(clean), skeleton, mapping, settings=settings)
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
        animation = retarget(keypoints, skeleton, PRESETS[name], settings=settings)
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
    still = retarget(keypoints, skeleton, mapping, settings=RetargetSettings(hip_sway=0.0))
    sway = retarget(keypoints, skeleton, mapping, settings=RetargetSettings(hip_sway=1.0))
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
        synthetic_keypoints(), conductor_skeleton(), PRESETS["conductor"], settings=RetargetSettings(baton_hand=hand)
    )
    assert ("baton" in animation.rotation_quaternion) == (hand != "none")


def test_ik_controls_land_on_scaled_wrists():
    skeleton = rigify_like_skeleton()
    settings = RetargetSettings(mode="IK")
    lifted = lift_to_3d(synthetic_keypoints(), settings)
    animation = solve(lifted, skeleton, PRESETS["rigify"], settings=settings)
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
