"""The add-on's scene side in real Blender (the bpy module): Create Conductor, apply_motion on the
conductor, a Rigify rig and a Mixamo-named armature, frame rates, save and reload, rollback.

The motion is the golden 40 s Beethoven motion from ../shared/parity (read in place). Runs on
every bpy from 4.2 to 5.0; sound-strip checks need a Blender built with audaspace.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import GOLDEN_AUDIO, GOLDEN_NPZ, import_extension

bpy = pytest.importorskip("bpy")

SEED = 7
HAS_SOUND = bool(getattr(bpy.app.build_options, "audaspace", False))

apply_mod = import_extension("addon.apply")
compat = import_extension("addon.compat")
conductor_body = import_extension("addon.conductor_body")
keyframes = import_extension("addon.keyframes")
ConductorError = import_extension("core.errors").ConductorError
Motion = import_extension("core.motion.keypoints").Motion
PRESETS = import_extension("core.retarget").PRESETS
from_values = import_extension("core.options").from_values


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def motion():
    if not GOLDEN_NPZ.is_file():
        pytest.skip(f"golden motion not found at {GOLDEN_NPZ}")
    with np.load(GOLDEN_NPZ, allow_pickle=False) as archive:
        keypoints = archive["motion"][0]  # (1200, 13, 2) at 30 fps
    return Motion(keypoints=keypoints, fps=30.0, source_audio=str(GOLDEN_AUDIO), seed=SEED)


def fresh_conductor(fps: int = 30, fps_base: float = 1.0, **extras):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, fps_base
    return scene, conductor_body.create_conductor(scene, **extras)


def options(audio_path: str = str(GOLDEN_AUDIO), **changes):
    """ApplyOptions with these settings (nested RetargetSettings ones included, by name)."""
    return from_values(apply_mod.ApplyOptions, changes, audio_path=audio_path)


def altered(**changes):
    """Options changed after they were made (and checked): apply_motion must check them again."""
    changed = options()
    for name, value in changes.items():
        setattr(changed.retarget if hasattr(changed.retarget, name) else changed, name, value)
    return changed


def fcurve_arrays(action) -> dict[tuple[str, int], np.ndarray]:
    """(data path, index) -> keys (K, 2) frame, value."""
    arrays = {}
    for fcurve in compat.action_fcurves(action):
        co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
        fcurve.keyframe_points.foreach_get("co", co)
        arrays[(fcurve.data_path, fcurve.array_index)] = co.reshape(-1, 2)
    return arrays


def snapshot(scene, armature=None) -> dict:
    """What a failed apply_motion must leave exactly as it was."""
    state = {
        name: sorted(block.name for block in getattr(bpy.data, name))
        for name in ("actions", "objects", "sounds", "armatures", "meshes", "collections")
    }
    state["strips"] = sorted((s.name, s.channel, compat.strip_start(s)) for s in compat.iter_strips(scene))
    state["range"] = (scene.frame_start, scene.frame_end)
    state["has_sequence_editor"] = scene.sequence_editor is not None
    state["fake_users"] = sorted(a.name for a in bpy.data.actions if a.use_fake_user)
    if armature is not None:
        action, slot = compat.get_action_and_slot(armature)
        state["action"] = (action.name if action else None, slot.identifier if slot else None)
        state["rotation_modes"] = {b.name: b.rotation_mode for b in armature.pose.bones}
        state["nla"] = [t.name for t in armature.animation_data.nla_tracks] if armature.animation_data else []
    return state


def check_applied(scene, armature, result, mapping: str, frame_count: int, start_frame: int = 1):
    """One new action on the armature with moving, finite keys over every scene frame (the
    first and the last keyed on every F-Curve; those between where the lines between keys do not
    reproduce the motion: see test_keys_the_motion_reproduces_are_dropped)."""
    action, _slot = compat.get_action_and_slot(armature)
    assert action is not None and action.name == result.action_name
    assert not action.use_fake_user  # the armature plays it: no fake user nobody asked for
    arrays = fcurve_arrays(action)
    assert len(arrays) == result.fcurve_count > 0
    mapped = set(PRESETS[mapping].bones.values())
    animated = {keyframes.group_of(path) for path, _index in arrays}
    assert animated <= mapped
    arms = {PRESETS[mapping].bones[role] for role in ("upper_arm.R", "forearm.R", "upper_arm.L")}
    assert arms <= animated
    for (path, _index), keys in arrays.items():
        assert keys[0, 0] == start_frame and keys[-1, 0] == start_frame + frame_count - 1, path
        assert np.all(np.diff(keys[:, 0]) >= 1) and np.all(keys[:, 0] == np.round(keys[:, 0])), path
        assert np.all(np.isfinite(keys[:, 1]))
    assert max(keys.shape[0] for keys in arrays.values()) > frame_count // 2  # the baton arm moves
    for bone in arms:
        path = f'pose.bones["{bone}"].rotation_quaternion'
        moving = sum(np.ptp(arrays[(path, index)][:, 1]) for index in range(4))
        assert moving > 0.05, f"{bone} hardly moves"
        assert armature.pose.bones[bone].rotation_mode == "QUATERNION"
    assert set(compat.fcurve_group_names(action)) == animated
    assert (result.frame_start, result.frame_end) == (start_frame, start_frame + frame_count - 1)
    assert (scene.frame_start, scene.frame_end) == (result.frame_start, result.frame_end)
    return arrays


def check_sound(scene, result, start_frame: int = 1):
    if not HAS_SOUND:
        assert result.sound_strip_name is None
        return
    strips = [s for s in compat.iter_strips(scene) if s.type == "SOUND"]
    assert [s.name for s in strips] == [result.sound_strip_name]
    assert compat.strip_start(strips[0]) == start_frame
    assert Path(bpy.path.abspath(strips[0].sound.filepath)).name == GOLDEN_AUDIO.name


def reload(tmp_path: Path, name: str = "scene.blend"):
    path = tmp_path / name
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    return bpy.context.scene


# ---------------------------------------------------------------------------------- conductor
def test_create_conductor_builds_rig_body_baton_and_stage():
    scene, armature = fresh_conductor()
    assert armature.type == "ARMATURE" and armature.name in scene.objects
    assert "Conductor" in [c.name for c in scene.collection.children]
    core_bones = import_extension("core.figure.rig").CONDUCTOR_BONE_NAMES
    assert tuple(armature.data.bones.keys()) == core_bones
    for rig_bone in import_extension("core.figure.rig").CONDUCTOR_BONES:
        bone = armature.data.bones[rig_bone.name]
        np.testing.assert_allclose(bone.head_local, rig_bone.head, atol=1e-6)
        np.testing.assert_allclose(bone.tail_local, rig_bone.tail, atol=1e-6)
        assert (bone.parent.name if bone.parent else None) == rig_bone.parent

    body = bpy.data.objects["Conductor Body"]
    assert body.parent == armature and body.modifiers[0].object == armature
    deforming = {b.name for b in armature.data.bones if b.use_deform}
    assert deforming <= {g.name for g in body.vertex_groups}
    assert {"Conductor Tailcoat", "Conductor Skin"} <= {m.name for m in body.data.materials}
    assert len(body.data.vertices) > 1000

    baton = bpy.data.objects["Conductor Baton"]
    assert (baton.parent, baton.parent_type, baton.parent_bone) == (armature, "BONE", "baton")
    bpy.context.view_layer.update()
    tip = max((baton.matrix_world @ v.co for v in baton.data.vertices), key=lambda co: -co.x)
    assert math.dist(tip, armature.data.bones["baton"].tail_local) < 0.02  # rests on the bone

    # The baton follows the hand: swing the right arm and the baton tip rises with it.
    armature.pose.bones["upper_arm.R"].rotation_quaternion = (math.cos(0.4), math.sin(0.4), 0, 0)
    bpy.context.view_layer.update()
    tip_up = max((baton.matrix_world @ v.co for v in baton.data.vertices), key=lambda co: abs(co.z - tip.z))
    assert abs(tip_up.z - tip.z) > 0.3
    assert scene.camera == bpy.data.objects["Conductor Camera"]
    extras = {"Conductor Key", "Conductor Fill", "Conductor Rim", "Conductor Stage"}
    assert extras <= set(scene.objects.keys())


def test_apply_on_conductor_then_save_reload_and_apply_again(motion, tmp_path):
    scene, armature = fresh_conductor(fps=30)
    result = apply_mod.apply_motion(scene, armature, motion, options())
    assert result.action_name == f"Conductor: beethoven_op18no1_40s (seed {SEED})"
    assert [a.name for a in bpy.data.actions] == [result.action_name]
    first = check_applied(scene, armature, result, "conductor", 1200)
    check_sound(scene, result)

    name = armature.name
    scene = reload(tmp_path)
    armature = scene.objects[name]
    check_applied(scene, armature, result, "conductor", 1200)
    check_sound(scene, result)
    for (path, index), keys in fcurve_arrays(bpy.data.actions[result.action_name]).items():
        np.testing.assert_array_equal(keys, first[(path, index)])

    # Keep Takes: the earlier take goes onto a muted NLA track, untouched.
    again = apply_mod.apply_motion(scene, armature, motion, options(amplitude=0.5, keep_takes=True))
    assert again.action_name != result.action_name
    assert sorted(a.name for a in bpy.data.actions) == sorted({result.action_name, again.action_name})
    check_applied(scene, armature, again, "conductor", 1200)
    check_sound(scene, again)  # the music strip is reused, not doubled
    (track,) = armature.animation_data.nla_tracks
    assert track.mute and track.strips[0].action.name == result.action_name
    assert any("kept as the muted NLA track" in note for note in again.notes)
    kept = bpy.data.actions[result.action_name]
    unchanged = fcurve_arrays(kept)
    assert unchanged.keys() == first.keys()
    for key, keys in first.items():
        np.testing.assert_array_equal(unchanged[key], keys)

    # Without it, a new take replaces this tool's take on the armature: one action, named by the piece.
    third = apply_mod.apply_motion(scene, armature, motion, options(amplitude=0.8))
    assert any("replaces" in note for note in third.notes)
    assert len(bpy.data.actions) == 2  # the third take, and the first kept on the NLA; the second is gone
    assert compat.get_action_and_slot(armature)[0].name == third.action_name
    assert armature.animation_data.nla_tracks[0].strips[0].action.name == result.action_name
    assert not any(action.use_fake_user for action in bpy.data.actions)


def test_the_animators_own_action_is_pushed_onto_the_nla_and_said(motion):
    scene, armature = fresh_conductor(fps=30)
    own = bpy.data.actions.new("MyWave")
    compat.set_object_id_root(own)
    writer = compat.ActionWriter(own, armature.name)
    curve = writer.new_fcurve('pose.bones["hand.L"].location', 2, "hand.L")
    curve.keyframe_points.insert(1, 0.0)
    curve.keyframe_points.insert(20, 0.1)
    compat.assign_action(armature, own, writer.slot)
    result = apply_mod.apply_motion(scene, armature, motion, options())
    (track,) = armature.animation_data.nla_tracks
    assert track.mute and track.name == "MyWave" and track.strips[0].action == own
    assert "Your action 'MyWave' is now on the muted NLA track 'MyWave'" in " ".join(result.notes)
    assert compat.get_action_and_slot(armature)[0].name == result.action_name
    assert not own.use_fake_user and own.users == 1  # kept by its strip, not by a fake user


def test_keys_the_motion_reproduces_are_dropped(motion):
    """By default each F-Curve keeps only the keys that the lines between the others do not
    reproduce within Key Tolerance (about half of them for the official motion), every frame
    still within the tolerance of the motion keyed on every frame (Key Tolerance 0)."""
    scene, armature = fresh_conductor(body=False, camera=False, lights=False, stage=False)
    every = apply_mod.apply_motion(scene, armature, motion, options(add_sound=False, key_tolerance=0.0))
    every_frame = fcurve_arrays(bpy.data.actions[every.action_name])
    reduced = apply_mod.apply_motion(scene, armature, motion, options(add_sound=False))
    action = bpy.data.actions[reduced.action_name]
    kept = fcurve_arrays(action)
    assert kept.keys() == every_frame.keys()
    assert sum(k.shape[0] for k in kept.values()) < 0.6 * sum(k.shape[0] for k in every_frame.values())
    tolerance = apply_mod.ApplyOptions().key_tolerance
    for fcurve in compat.action_fcurves(action):
        full = every_frame[(fcurve.data_path, fcurve.array_index)]
        assert full.shape == (1200, 2)
        played = np.array([fcurve.evaluate(frame) for frame in full[:, 0]])
        assert np.abs(played - full[:, 1]).max() <= tolerance + 1e-6, fcurve.data_path
    bezier = apply_mod.apply_motion(scene, armature, motion, options(add_sound=False, interpolation="BEZIER"))
    assert all(keys.shape[0] == 1200 for keys in fcurve_arrays(bpy.data.actions[bezier.action_name]).values())


@pytest.mark.parametrize("fps, fps_base, frames", [(24, 1.0, 960), (60, 1.0, 2400), (30, 1.001, 1199)])
def test_scene_frame_rate_sets_the_key_count(motion, fps, fps_base, frames):
    scene, armature = fresh_conductor(fps, fps_base, body=False, camera=False, lights=False, stage=False)
    result = apply_mod.apply_motion(scene, armature, motion, options(add_sound=False, start_frame=10))
    check_applied(scene, armature, result, "conductor", frames, start_frame=10)
    assert result.sound_strip_name is None


def test_keyframe_step_bezier_and_nla(motion):
    scene, armature = fresh_conductor(body=False, camera=False, lights=False, stage=False)
    result = apply_mod.apply_motion(
        scene,
        armature,
        motion,
        options(add_sound=False, keyframe_step=3, interpolation="BEZIER", use_nla=True),
    )
    assert armature.animation_data.action is None
    (track,) = armature.animation_data.nla_tracks
    (strip,) = track.strips
    assert strip.action.name == result.action_name and strip.frame_start == 1
    for fcurve in compat.action_fcurves(strip.action):
        frames = [point.co.x for point in fcurve.keyframe_points]
        assert frames == [*range(1, 1200, 3), 1200]
        assert {point.interpolation for point in fcurve.keyframe_points} == {"BEZIER"}
    assert (scene.frame_start, scene.frame_end) == (1, 1200)
    scene.frame_set(600)  # the NLA plays the action
    assert armature.pose.bones["upper_arm.R"].rotation_quaternion[:] != (1.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------------------------- other rigs
def generated_rigify():
    """A new 30-fps scene with a Rigify rig generated from the human metarig: (scene, rig)."""
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = scene.objects["rig"]
    return scene, rig


@pytest.mark.slow  # generating a Rigify rig / ten minutes of network passes
def test_rigify_rig_with_fk_controls(motion, tmp_path):
    scene, rig = generated_rigify()
    result = apply_mod.apply_motion(scene, rig, motion, options(mapping="rigify"))
    check_applied(scene, rig, result, "rigify", 1200)
    check_sound(scene, result)
    assert rig.pose.bones["upper_arm_parent.R"]["IK_FK"] == 1.0  # the arms follow the FK controls
    fk_hands = hand_heads(scene, rig, SAMPLE_FRAMES)
    scene = reload(tmp_path, "rigify.blend")
    rig = scene.objects["rig"]
    check_applied(scene, rig, result, "rigify", 1200)

    ik = apply_mod.apply_motion(scene, rig, motion, options(mapping="rigify", mode="IK", add_sound=False))
    assert rig.pose.bones["upper_arm_parent.R"]["IK_FK"] == 0.0  # the arms follow the IK controls
    arrays = check_applied(scene, rig, ik, "rigify", 1200)
    hand = arrays[('pose.bones["hand_ik.R"].location', 2)][:, 1]
    assert np.ptp(hand) > 0.01  # the IK hand moves up and down
    assert rig.pose.bones["upper_arm_parent.R"]["pole_vector"]
    # driven by the IK controls, Blender puts the hands where the FK run put them
    assert np.abs(hand_heads(scene, rig, SAMPLE_FRAMES) - fk_hands).max() < 0.005  # metres


SAMPLE_FRAMES = (50, 400, 900)


def hand_heads(scene, rig, frames) -> np.ndarray:
    """(frames, 2, 3) armature-space heads of Rigify's ORG-hand.L/R as Blender evaluates them."""
    heads = []
    for frame in frames:
        scene.frame_set(frame)
        bpy.context.view_layer.update()
        heads.append([list(rig.pose.bones[f"ORG-hand.{side}"].head) for side in "LR"])
    return np.array(heads)


def build_mixamo_armature(scene):
    """A Mixamo-named armature: Z up, facing -Y, arms out along X, bones rolled like Mixamo's."""
    data = bpy.data.armatures.new("Mixamo")
    armature = bpy.data.objects.new("Armature", data)
    scene.collection.objects.link(armature)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    m = "mixamorig:"
    rows = [  # name, head, tail, parent, roll
        ("Hips", (0, 0, 0.95), (0, 0, 1.05), None, 0.0),
        ("Spine", (0, 0, 1.05), (0, 0, 1.16), "Hips", 0.0),
        ("Spine1", (0, 0, 1.16), (0, 0, 1.28), "Spine", 0.0),
        ("Spine2", (0, 0, 1.28), (0, 0, 1.42), "Spine1", 0.0),
        ("Neck", (0, 0, 1.42), (0, 0, 1.52), "Spine2", 0.0),
        ("Head", (0, 0, 1.52), (0, 0, 1.72), "Neck", 0.0),
    ]
    for side, sign in (("Left", 1), ("Right", -1)):
        rows += [
            (f"{side}Shoulder", (sign * 0.05, 0, 1.38), (sign * 0.17, 0, 1.40), "Spine2", sign * 1.5708),
            (f"{side}Arm", (sign * 0.17, 0, 1.40), (sign * 0.44, 0, 1.40), f"{side}Shoulder", sign * 1.5708),
            (f"{side}ForeArm", (sign * 0.44, 0, 1.40), (sign * 0.70, 0, 1.40), f"{side}Arm", sign * 1.5708),
            (f"{side}Hand", (sign * 0.70, 0, 1.40), (sign * 0.80, 0, 1.40), f"{side}ForeArm", sign * 1.5708),
        ]
    for name, head, tail, parent, roll in rows:
        bone = data.edit_bones.new(m + name)
        bone.head, bone.tail, bone.roll = head, tail, roll
        if parent:
            bone.parent = data.edit_bones[m + parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in armature.pose.bones:
        pose_bone.rotation_mode = "XYZ"  # as FBX import leaves them
    return armature


def test_mixamo_named_armature(motion, tmp_path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    armature = build_mixamo_armature(scene)
    result = apply_mod.apply_motion(scene, armature, motion, options(mapping="mixamo", add_sound=False))
    check_applied(scene, armature, result, "mixamo", 1200)
    scene = reload(tmp_path, "mixamo.blend")
    check_applied(scene, scene.objects["Armature"], result, "mixamo", 1200)


def test_left_handed_conductor_holds_the_baton_in_the_left_hand(motion):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    armature = conductor_body.create_conductor(scene, baton_hand="left")
    assert armature.data.bones["baton"].parent.name == "hand.L"
    apply_mod.apply_motion(scene, armature, motion, options(mirror=True, baton_hand="left", add_sound=False))
    for frame in (50, 400, 900):
        scene.frame_set(frame)
        bpy.context.view_layer.update()
        bones = armature.pose.bones
        baton = np.array(bones["baton"].tail - bones["baton"].head)
        forearm = np.array(bones["forearm.L"].tail - bones["forearm.L"].head)
        cosine = baton @ forearm / np.linalg.norm(baton) / np.linalg.norm(forearm)
        assert cosine > np.cos(np.radians(45)), frame  # the baton carries on the left forearm's line
        assert np.linalg.norm(np.array(bones["baton"].head - bones["hand.L"].tail)) < 0.05


# ---------------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_and_leave_the_scene_unchanged(motion, tmp_path, monkeypatch):
    scene, armature = fresh_conductor()
    apply_mod.apply_motion(scene, armature, motion, options(add_sound=False, set_scene_range=False))
    armature.pose.bones["hand.R"].rotation_mode = "XYZ"
    scene.frame_start, scene.frame_end = 5, 50
    before = snapshot(scene, armature)

    broken_json = tmp_path / "broken.json"
    broken_json.write_text("{not json")
    unknown_role = tmp_path / "unknown.json"
    unknown_role.write_text(json.dumps({"bones": {"tentacle.L": "hand.L"}}))
    cases = [
        (bpy.data.objects["Conductor Body"], options(), "not an armature"),
        (None, options(), "No target armature"),
        (armature, options(mapping="mixamo"), "mixamorig:Hips"),
        (armature, options(audio_path=str(tmp_path / "missing.flac")), "does not exist"),
        (armature, options(mapping=str(broken_json)), "broken.json"),
        (armature, options(mapping=str(unknown_role)), "tentacle.L"),
        (armature, options(mapping=str(tmp_path / "absent.json")), "does not exist"),
        (armature, options(mapping="no-such-preset"), "no-such-preset"),
        (armature, altered(interpolation="SPLINE"), "Interpolation must be one of"),
        (armature, altered(keyframe_step=0), "Keyframe Step must be between 1 and 30"),
        (armature, altered(smoothing=3.0), "Smoothing must be between 0 and 1"),
        (armature, options(baton_hand="left"), "hangs from 'hand.R', not the left hand"),
    ]
    for target, opts, words in cases:
        with pytest.raises(ConductorError, match=words):
            apply_mod.apply_motion(scene, target, motion, opts)
        assert snapshot(scene, armature) == before, words
    for changes, words in (({"keyframe_step": 0}, "Keyframe Step"), ({"smoothing": 3.0}, "Smoothing")):
        with pytest.raises(ConductorError, match=words):
            options(**changes)  # refused as soon as it is made

    # A failure after writing started (here: while adding the sound strip) rolls it all back.
    def fail(*_args, **_kwargs):
        raise RuntimeError("sequencer full")

    monkeypatch.setattr(compat, "can_load_sound", lambda: True)
    monkeypatch.setattr(compat, "free_channel", fail)
    with pytest.raises(RuntimeError, match="sequencer full"):
        apply_mod.apply_motion(scene, armature, motion, options(use_nla=True))
    assert snapshot(scene, armature) == before


def test_a_created_conductor_is_removed_when_writing_the_motion_fails(motion, monkeypatch):
    """put_motion_in_scene, what the panel and headless generate and batch all write through:
    a failure after the conductor was made leaves the file as it was."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    counts = {name: len(getattr(bpy.data, name)) for name in apply_mod.CREATED_BLOCKS}
    camera = scene.camera

    def fail(*_args, **_kwargs):
        raise RuntimeError("sequencer full")

    monkeypatch.setattr(compat, "can_load_sound", lambda: True)
    monkeypatch.setattr(compat, "free_channel", fail)
    with pytest.raises(RuntimeError, match="sequencer full"):
        apply_mod.put_motion_in_scene(scene, motion, options())
    assert {name: len(getattr(bpy.data, name)) for name in apply_mod.CREATED_BLOCKS} == counts
    assert scene.camera == camera
    monkeypatch.undo()
    armature, result = apply_mod.put_motion_in_scene(scene, motion, options(add_sound=False))
    assert armature.type == "ARMATURE" and scene.camera is not None and result.fcurve_count > 0


@pytest.mark.skipif(not HAS_SOUND, reason="this Blender is built without audaspace")
@pytest.mark.parametrize("use_relative", [True, False])
def test_sound_strip_path_follows_the_relative_paths_preference(motion, tmp_path, use_relative):
    scene, armature = fresh_conductor(fps=30)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "saved.blend"))
    filepaths = bpy.context.preferences.filepaths
    before = filepaths.use_relative_paths
    filepaths.use_relative_paths = use_relative
    try:
        result = apply_mod.apply_motion(scene, armature, motion, options())
    finally:
        filepaths.use_relative_paths = before
    (strip,) = [s for s in compat.iter_strips(scene) if s.name == result.sound_strip_name]
    assert strip.sound.filepath.startswith("//") == use_relative
    assert Path(bpy.path.abspath(strip.sound.filepath)).resolve() == GOLDEN_AUDIO.resolve()


def glb_joint_names(path: Path) -> set[str]:
    import struct

    data = path.read_bytes()
    (json_length,) = struct.unpack("<I", data[12:16])
    document = json.loads(data[20 : 20 + json_length])
    joints = {document["nodes"][joint]["name"] for skin in document.get("skins", []) for joint in skin["joints"]}
    return joints - {"neutral_bone"}  # the glTF exporter's own joint for meshes not weighted to a bone


def test_exports_carry_the_deform_bones_and_every_bone_on_request(motion, tmp_path):
    """A big rig's controls stay out of an export by default (Rigify: 706 bones, 160 deform);
    the bone the baton hangs from stays in, and --all-bones brings every bone."""
    exports = import_extension("addon.exports")
    scene, armature = fresh_conductor(fps=30)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    for k in range(12):  # controls that move no mesh, as a production rig has hundreds
        control = armature.data.edit_bones.new(f"CTRL-{k}")
        control.head, control.tail, control.use_deform = (0.1 * k, 0.3, 1.0), (0.1 * k, 0.3, 1.1), False
    bpy.ops.object.mode_set(mode="OBJECT")
    apply_mod.apply_motion(scene, armature, motion, options(add_sound=False))
    deform = {bone.name for bone in armature.data.bones if bone.use_deform}
    assert exports.exported_bones(armature) == deform | {"baton"}
    flags = [bone.use_deform for bone in armature.data.bones]
    default = exports.export_scene(scene, armature, motion, tmp_path / "default.glb")
    everything = exports.export_scene(scene, armature, motion, tmp_path / "all.glb", all_bones=True)
    assert [bone.use_deform for bone in armature.data.bones] == flags  # put back after the export
    assert glb_joint_names(default) == deform | {"baton"}
    assert glb_joint_names(everything) == {bone.name for bone in armature.data.bones}
    bvh = exports.export_scene(scene, armature, motion, tmp_path / "default.bvh").read_text()
    assert "CTRL-0" not in bvh and "JOINT baton" in bvh


def test_wrists_and_fingers_are_keyed_on_our_conductor():
    """Put into a scene as every front end does: the wrists have keys that move (no longer two
    equal keys for the whole piece) and every finger bone of our figure is keyed."""
    from rigs import procedural_motion

    demo = procedural_motion(1.0)
    motion = Motion(demo.keypoints, fps=30.0, extra=demo.extra, hands=demo.hands)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    armature, _ = apply_mod.put_motion_in_scene(scene, motion, options(add_sound=False), camera=False)
    action, slot = compat.get_action_and_slot(armature)
    values: dict[str, list[np.ndarray]] = {}
    for fcurve in compat.action_fcurves(action, slot):
        keys = np.array([point.co[1] for point in fcurve.keyframe_points])
        values.setdefault(keyframes.group_of(fcurve.data_path), []).append(keys)
    for bone in ("hand.L", "hand.R"):
        assert max(np.ptp(keys) for keys in values[bone]) > 0.05, bone  # a quaternion component moves
    rig = import_extension("core.figure.rig")
    fingers = [bone.name for bone in rig.CONDUCTOR_BONES if bone.name.split(".")[0] in rig.FINGER_LAYOUT]
    assert len(fingers) == 30 and set(fingers) <= set(values)
    assert max(np.ptp(keys) for keys in values["index.02.L"]) > 0.05  # the free hand's fingers move


def gltf_samples(path: Path, times_s: np.ndarray) -> dict[str, np.ndarray]:
    """Each node's local matrix at ``times_s`` as a glTF player computes it: its animation's
    channels sampled linearly (a node without a channel keeps its own transform).
    Returns name -> [shape=(T, 4, 4)]."""
    gltf = import_extension("core.retarget.gltf_animation")
    file = gltf.read_gltf(path)
    document = file.document

    def values(index: int) -> np.ndarray:
        accessor = document["accessors"][index]
        view = document["bufferViews"][accessor["bufferView"]]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[accessor["type"]]
        start = view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
        data = np.frombuffer(bytes(file.binary[start : start + 4 * width * accessor["count"]]), dtype="<f4")
        return data.reshape(accessor["count"], width).astype(np.float64)

    channels: dict[int, dict[str, np.ndarray]] = {}
    for animation in document.get("animations", []):
        for channel in animation["channels"]:
            sampler = animation["samplers"][channel["sampler"]]
            keys_s, keyed = values(sampler["input"])[:, 0], values(sampler["output"])
            sampled = np.stack([np.interp(times_s, keys_s, keyed[:, c]) for c in range(keyed.shape[1])], axis=1)
            channels.setdefault(channel["target"]["node"], {})[channel["target"]["path"]] = sampled
    out = {}
    for index, node in enumerate(document["nodes"]):
        own = channels.get(index, {})
        count = times_s.size
        rotation = own.get("rotation", np.tile(node.get("rotation", [0.0, 0.0, 0.0, 1.0]), (count, 1)))
        rotation = rotation / np.linalg.norm(rotation, axis=1, keepdims=True)
        scale = own.get("scale", np.tile(node.get("scale", [1.0, 1.0, 1.0]), (count, 1)))
        matrices = np.tile(np.eye(4), (count, 1, 1))
        matrices[:, :3, :3] = gltf.quaternion_matrices(rotation) * scale[:, None, :]
        matrices[:, :3, 3] = own.get("translation", np.tile(node.get("translation", [0.0, 0.0, 0.0]), (count, 1)))
        out[node["name"]] = matrices
    return out


def blenders_own_sampling(scene, armature, path: Path) -> Path:
    """The rig exported by Blender's glTF exporter sampling it itself, every frame kept, with
    the bones our export carries."""
    exports = import_extension("addon.exports")
    with exports._Selection(scene, armature, with_children=True) as override, compat.context_override(**override):
        with exports._deform_flags(armature, exports.exported_bones(armature)):
            bpy.ops.export_scene.gltf(
                filepath=str(path),
                export_format="GLB" if path.suffix == ".glb" else "GLTF_SEPARATE",
                use_selection=True,
                export_animation_mode="ACTIVE_ACTIONS",
                export_frame_range=True,
                export_anim_slide_to_zero=True,
                export_force_sampling=True,
                export_optimize_animation_size=False,
                export_def_bones=True,
                export_cameras=False,
                export_lights=False,
            )
    return path


def conductor_with_motion(frames: int):
    """A new 30-fps scene with our conductor keyed to ``frames`` frames of procedural motion."""
    from rigs import procedural_motion

    demo = procedural_motion(1.0)
    motion = Motion(demo.keypoints[:frames], fps=30.0, extra=demo.extra, hands=demo.hands[:frames])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 30
    armature, _ = apply_mod.put_motion_in_scene(scene, motion, options(add_sound=False), camera=False)
    return scene, armature, motion


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_gltf_animation_is_what_blenders_own_sampling_gives(tmp_path, suffix):
    """Our sampled animation against Blender's exporter sampling the same rig itself: the same
    nodes, and every joint's local transform within 1e-4 at every frame (baton and body
    included in the file)."""
    exports = import_extension("addon.exports")
    scene, armature, motion = conductor_with_motion(frames=90)
    assert (scene.frame_start, scene.frame_end) == (1, 90)
    ours = exports.export_scene(scene, armature, motion, tmp_path / f"ours{suffix}")

    times_s = np.arange(scene.frame_end - scene.frame_start + 1) / 30.0
    got = gltf_samples(ours, times_s)
    expected = gltf_samples(blenders_own_sampling(scene, armature, tmp_path / f"blenders{suffix}"), times_s)
    assert set(got) == set(expected) and {"baton", "hand.R", "index.02.L"} <= set(got)
    moving = [name for name in got if np.ptp(got[name], axis=0).max() > 1e-3]
    assert {"upper_arm.R", "hand.R", "index.02.L"} <= set(moving)
    for name in expected:
        assert np.abs(got[name] - expected[name]).max() < 1e-4, name


def test_an_armature_whose_object_moves_is_exported_by_blenders_own_sampling(tmp_path):
    """Our sampling moves bones only: where the armature object itself is keyed, Blender's
    exporter samples everything, and the object's motion is in the file."""
    exports = import_extension("addon.exports")
    scene, armature, motion = conductor_with_motion(frames=30)
    armature.location = (0.0, 0.0, 0.0)
    armature.keyframe_insert("location", frame=1)
    armature.location = (1.0, 0.0, 0.0)
    armature.keyframe_insert("location", frame=30)
    path = exports.export_scene(scene, armature, motion, tmp_path / "moving.glb")
    samples = gltf_samples(path, np.array([0.0, 29 / 30]))
    travel = samples[armature.name][:, :3, 3]
    assert np.linalg.norm(travel[1] - travel[0]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.slow  # generating a Rigify rig
def test_a_rigify_gltf_carries_its_deform_bones_as_blenders_own_sampling_does(tmp_path):
    """On Rigify the deform bones hang from bones that are not exported: their nodes' parents in
    the file are other deform bones or the armature, and the animation follows the file."""
    from rigs import procedural_motion

    exports = import_extension("addon.exports")
    scene, rig = generated_rigify()
    demo = procedural_motion(1.0)
    motion = Motion(demo.keypoints[:60], fps=30.0, extra=demo.extra, hands=demo.hands[:60])
    apply_mod.apply_motion(scene, rig, motion, options(mapping="rigify", add_sound=False))
    ours = exports.export_scene(scene, rig, motion, tmp_path / "ours.glb")
    times_s = np.arange(scene.frame_end - scene.frame_start + 1) / 30.0
    got = gltf_samples(ours, times_s)
    expected = gltf_samples(blenders_own_sampling(scene, rig, tmp_path / "blenders.glb"), times_s)
    assert set(got) == set(expected) and "DEF-forearm.R" in got
    assert np.ptp(got["DEF-forearm.R"], axis=0).max() > 1e-2
    for name in expected:
        assert np.abs(got[name] - expected[name]).max() < 1e-4, name


@pytest.mark.parametrize("fps", [30, 24])
def test_a_lead_in_is_keyed_before_the_music_and_moves_a_file_s_music_to_fit(motion, fps):
    """The conductor's preparation comes before the music: keyed before its first frame. Where
    Start Frame leaves no room for it, a music file starts later (and says so); a strip the user
    placed stays, and the preparation before frame 0 is said to be out of the scene."""
    lead = Motion(motion.keypoints, fps=30.0, source_audio=motion.source_audio, seed=SEED, lead_in_s=1.0)
    lead_frames, frames = fps, round(1200 * fps / 30)  # 1 s before the music, 39 s of music
    scene, armature = fresh_conductor(fps, body=False, camera=False, lights=False, stage=False)
    result = apply_mod.apply_motion(scene, armature, lead, options(start_frame=100))  # room enough
    check_applied(scene, armature, result, "conductor", frames, start_frame=100 - lead_frames)
    check_sound(scene, result, start_frame=100)
    assert result.music_frame == 100 and not any("preparation" in note for note in result.notes)

    result = apply_mod.apply_motion(scene, armature, lead, options(start_frame=1))  # none: the music moves
    check_applied(scene, armature, result, "conductor", frames, start_frame=1)
    check_sound(scene, result, start_frame=1 + lead_frames)
    assert result.music_frame == 1 + lead_frames
    assert any(f"The music starts at frame {1 + lead_frames} instead of 1" in note for note in result.notes)

    # A fixed music start (a strip, beat markers): the take begins before the scene can.
    fixed = dataclasses.replace(options(add_sound=False, start_frame=1), fixed_music_start=True)
    result = apply_mod.apply_motion(scene, armature, lead, fixed)
    action = bpy.data.actions[result.action_name]
    assert min(keys[0, 0] for keys in fcurve_arrays(action).values()) == 1 - lead_frames
    assert (result.frame_start, result.music_frame) == (1 - lead_frames, 1) and scene.frame_start == 0
    assert any(f"at frame {1 - lead_frames}, before any frame the scene can show" in note for note in result.notes)
    # ... and where the music goes for the take to start at frame 1, as a music file's would
    assert any(f"start the music at frame {1 + lead_frames} or later" in note for note in result.notes)
    said = import_extension("addon.operators").finished_message(armature, result)
    assert f"frames {1 - lead_frames} to {result.frame_end}," in said  # not "-23-1176"


def test_kept_takes_keep_the_music_where_they_were_keyed_for_it(motion):
    """With Keep Takes and a take kept on the rig, a lead-in does not move the music (the kept take
    was keyed for it there): it is keyed before, and said. A new piece's strip keeps its name."""
    lead = Motion(motion.keypoints, fps=30.0, source_audio=motion.source_audio, seed=SEED, lead_in_s=1.0)
    scene, armature = fresh_conductor(body=False, camera=False, lights=False, stage=False)
    first = apply_mod.apply_motion(scene, armature, motion, options(start_frame=1, keep_takes=True))
    assert (first.frame_start, first.music_frame) == (1, 1)  # no lead-in: the music at Start Frame
    kept = apply_mod.apply_motion(scene, armature, lead, options(start_frame=1, keep_takes=True))
    assert (kept.frame_start, kept.music_frame) == (-29, 1)
    assert any("at frame -29, before any frame the scene can show" in note for note in kept.notes)
    assert any("kept as the muted NLA track" in note for note in kept.notes)
    check_sound(scene, kept, start_frame=1)
    moved = apply_mod.apply_motion(scene, armature, lead, options(start_frame=1))  # no takes kept now
    assert moved.music_frame == 31
    check_sound(scene, moved, start_frame=31)
    if HAS_SOUND:
        assert moved.sound_strip_name == GOLDEN_AUDIO.stem  # the replaced strip's name, not "...001"
