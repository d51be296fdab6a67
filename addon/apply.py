"""Put a generated motion on an armature: the one entry point of the operators and the headless CLI.

:func:`apply_motion` checks everything first and changes nothing when a check fails; once it
starts changing the scene, a failure undoes every change before the error goes on, so the
scene is always either fully updated or exactly as before. It pushes no undo steps of its own:
an operator with ``{'REGISTER', 'UNDO'}`` makes the whole run one undo step.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

from ..core.errors import ConductorError
from ..core.motion.keypoints import Motion
from ..core.procedural.conductor import beaten_summary
from ..core.options import check, nested, option
from ..core.retarget import (
    PRESETS,
    BoneMapping,
    RestSkeleton,
    RetargetSettings,
    load_mapping_json,
    missing_bones,
    retarget,
)
from . import compat, keyframes
from .rollback import Rollback
from .stored_motion import ARMATURE_KEY, is_take, keep_motion

MAX_ID_NAME = 63  # the longest data-block name Blender 4.2 keeps
MUSIC_STRIP_KEY = "_virtual_conductor_music"  # marks the sound strips this add-on added
MUSIC_FRAME_KEY = "_virtual_conductor_music_frame"  # ... and the frame it last put each at (a drag moves it)


@dataclasses.dataclass
class ApplyOptions:
    """How to put the motion on the armature (plain data, filled from the panel or the CLI; each
    field but ``audio_path`` is a setting, see core.options).

    ``mapping`` is a preset name ("conductor", "rigify", "mixamo") or the path of a JSON
    mapping file. ``audio_path`` "" means the motion's own ``source_audio``. Frames are scene
    frames; the motion is resampled to the scene's frame rate first. ``fixed_music_start``: the
    music's first frame cannot move (a strip the user placed, beat markers read from it), so a
    lead-in that does not fit before it is cut at frame 0 (see :func:`take_frames`).
    """

    mapping: str = option("conductor", "bone mapping: conductor, rigify, mixamo or a .json file")
    retarget: RetargetSettings = nested(RetargetSettings)
    start_frame: int = option(
        1,
        "scene frame of the music's start (in the panel, a sound strip's own start when the music is a strip); "
        "a music file starts later where the conductor's preparation before it would begin before frame 1",
        minimum=-1_000_000,
        maximum=1_000_000,
    )
    keyframe_step: int = option(1, "key every Nth frame", minimum=1, maximum=30)
    interpolation: str = option("LINEAR", "keyframe interpolation", choices=keyframes.INTERPOLATIONS)
    key_tolerance: float = option(
        1e-4,
        "with linear interpolation, drop the keys their neighbours reproduce within this (quaternion "
        "components, about 0.01 degrees; metres); 0 keeps a key on every frame",
        minimum=0.0,
        maximum=0.01,
    )
    add_sound: bool = option(True, "add the music to the sequencer as a sound strip", label="Add Music to Sequencer")
    set_scene_range: bool = option(True, "fit the scene's frame range to the music")
    use_nla: bool = option(False, "push the new action onto an NLA track", label="Use NLA")
    keep_takes: bool = option(
        False,
        "keep this tool's earlier take on the armature as a muted NLA strip instead of replacing it",
        label="Keep Takes",
    )
    audio_path: str = ""
    fixed_music_start: bool = False

    def __post_init__(self) -> None:
        check(self)


FIRST_TAKE_FRAME = 1  # a take's lead-in begins no earlier than this (or Start Frame, if lower): Blender's first frame


def take_frames(start_frame: int, lead_in_frames: int, *, fixed_music_start: bool) -> tuple[int, int]:
    """(the take's first frame, the music's first frame) for music given to start at
    ``start_frame`` and a motion that begins ``lead_in_frames`` scene frames before its music.

    The lead-in goes before the music. Where it would begin before frame 1 (or before Start Frame,
    when that is lower) the music starts later so the lead-in fits, unless ``fixed_music_start``;
    then the take begins before the scene can (its first frame may be negative).
    """
    if fixed_music_start:
        return start_frame - lead_in_frames, start_frame
    music_frame = max(start_frame, min(start_frame, FIRST_TAKE_FRAME) + lead_in_frames)
    return music_frame - lead_in_frames, music_frame


@dataclasses.dataclass
class ApplyResult:
    """What :func:`apply_motion` wrote: the new action, its scene frames (from the lead-in's first),
    the music's first frame, the sound strip."""

    action_name: str
    frame_start: int
    frame_end: int
    music_frame: int
    fcurve_count: int
    sound_strip_name: str | None
    notes: tuple[str, ...] = ()  # the motion's notes worth telling the user (a MIDI file's offset)
    beaten: str = ""  # how the beats were conducted (core.procedural.conductor.beaten_summary)


@dataclasses.dataclass
class _Plan:
    """Everything :func:`apply_motion` worked out before touching the scene."""

    mapping: BoneMapping
    animation: Any  # core.retarget.BoneAnimation
    frame_count: int
    lead_in_frames: int  # scene frames of the animation before the music's first
    action_name: str
    audio_path: str | None
    notes: tuple[str, ...] = ()  # what the user should know about how it is keyed


def apply_motion(scene: bpy.types.Scene, armature_obj: Any, motion: Motion, options: ApplyOptions) -> ApplyResult:
    """Retarget ``motion`` onto ``armature_obj`` and write it as one new action in ``scene``.

    The armature's mapped pose bones get rotation mode 'QUATERNION'. One take per armature: this
    tool's previous take on it is replaced (with ``keep_takes``, pushed onto a muted NLA track),
    and an action of the animator's own is pushed onto a muted NLA track of its name, kept and
    said in the result's notes; no fake users are added. With ``add_sound`` the music becomes a sound strip at
    ``start_frame`` on a free channel (where this Blender can load sound; a strip of the same
    file already there is reused). With ``set_scene_range`` the scene's frame range becomes
    the motion's. Raises :class:`ConductorError` with the scene unchanged on any problem.
    """
    plan = _plan(scene, armature_obj, motion, options)
    with Rollback() as rollback:
        pose_bones = armature_obj.pose.bones
        for bone_name in {**plan.animation.rotation_quaternion, **plan.animation.location}:
            rollback.set(pose_bones[bone_name], "rotation_mode", "QUATERNION")
        if plan.mapping.name == "rigify":
            ik = options.retarget.mode == "IK"
            set_rigify_switch(rollback, armature_obj, "IK_FK", 0.0 if ik else 1.0)
            if ik:  # without the pole the IK elbow swings freely (measured 3-28 cm off the solve)
                set_rigify_switch(rollback, armature_obj, "pole_vector", True)

        # Takes kept beside this one were keyed for the music where it is: it stays there.
        fixed = options.fixed_music_start or (options.keep_takes and has_takes(armature_obj))
        first_frame, music_frame = take_frames(options.start_frame, plan.lead_in_frames, fixed_music_start=fixed)
        written, earlier = write_undoably(rollback, armature_obj, plan, options, first_frame=first_frame)
        keep_motion(written.action, motion)  # removed with the action on a rollback
        take_notes = set_earlier_action_aside(rollback, armature_obj, earlier, options)

        frame_end = first_frame + plan.frame_count - 1
        strip_name, sound_notes = None, cast(tuple[str, ...], ())
        if plan.audio_path is not None and compat.can_load_sound():
            strip_name = add_sound(rollback, scene, plan.audio_path, music_frame, frame_end)
        elif plan.audio_path is not None:
            sound_notes = (  # the file holds no strip, so another Blender has none to play either
                "This Blender was built without sound, so no music strip was added; to hear the music with the "
                f"conductor, add '{Path(plan.audio_path).name}' at frame {music_frame} in the Video Sequencer of "
                "a Blender with sound.",
            )
        if options.set_scene_range:
            frame_range = (scene.frame_start, scene.frame_end)
            scene.frame_start, scene.frame_end = max(first_frame, 0), max(frame_end, 0)  # Blender's range starts at 0
            rollback.on_undo(lambda: _set_frame_range(scene, frame_range))
        rollback.set_key(scene, ARMATURE_KEY, armature_obj.name)
    if strip_name is not None:  # last, once nothing can fail: the earlier piece stops playing
        strip_name = remove_earlier_music(scene, strip_name)
    if earlier.replaced_take is not None:  # the earlier take, replaced, goes once nothing can fail
        compat.remove_action(earlier.replaced_take)
        written.action.name = plan.action_name  # the name it could not have beside the earlier take
    return ApplyResult(
        action_name=written.action.name,
        frame_start=first_frame,
        frame_end=frame_end,
        music_frame=music_frame,
        fcurve_count=written.fcurve_count,
        sound_strip_name=strip_name,
        notes=plan.notes
        + lead_in_notes(options.start_frame, first_frame, music_frame, plan.lead_in_frames, keyframes.scene_fps(scene))
        + tuple(take_notes)
        + sound_notes
        + tuple(str(note) for note in motion.extra.get("notes", [])),
        beaten=beaten_summary(motion.extra),
    )


def lead_in_notes(
    start_frame: int, first_frame: int, music_frame: int, lead_in_frames: int, fps: float
) -> tuple[str, ...]:
    """What to tell about a lead-in that moved the music or does not fit in the scene; () otherwise."""
    seconds = f"{lead_in_frames / fps:.1f} s"
    if first_frame < 0:
        return (
            f"The conductor's preparation begins {seconds} before the music, at frame {first_frame}, before any "
            f"frame the scene can show; start the music at frame {FIRST_TAKE_FRAME + lead_in_frames} or later to "
            "see it.",
        )
    if music_frame != start_frame:
        return (
            f"The music starts at frame {music_frame} instead of {start_frame}, so that the conductor's "
            f"preparation ({seconds}) fits before it; a start frame of {music_frame} or more is used as given.",
        )
    return ()


# What creating a conductor adds to the file; removed again when the run fails.
CREATED_BLOCKS = ("objects", "armatures", "cameras", "lights", "meshes", "materials", "collections", "curves", "worlds")


def put_motion_in_scene(
    scene: bpy.types.Scene, motion: Motion, options: ApplyOptions, *, armature_obj: Any = None, camera: bool = True
) -> tuple[Any, ApplyResult]:
    """The one way every front end (the panel, headless ``generate`` and ``batch``) writes a
    motion into a scene: create our conductor when ``armature_obj`` is None (with a camera that
    becomes the scene's, if ``camera``), then :func:`apply_motion`. All or nothing: a failure
    removes the created conductor and undoes every change before the error goes on.

    Returns (the armature written to, :class:`ApplyResult`).
    """
    from .conductor_body import create_conductor

    with Rollback() as rollback:
        if armature_obj is None:
            rollback.new_blocks_in(*CREATED_BLOCKS)
            rollback.set(scene, "camera", scene.camera)  # the conductor's camera becomes the scene's
            armature_obj = create_conductor(scene, camera=camera, baton_hand=options.retarget.baton_hand)
        result = apply_motion(scene, armature_obj, motion, options)
    return armature_obj, result


# ---------------------------------------------------------------------------------- checks
def check_target(scene: Any, armature_obj: Any, options: ApplyOptions) -> BoneMapping:
    """Check what the motion will be put on (the scene, the armature, its bones against the
    mapping, the baton's parent) before any motion is made; the mapping, loaded. Raises
    ConductorError, changes nothing."""
    if scene is None:
        raise ConductorError("There is no scene to write the conducting into.")
    if armature_obj is None:
        raise ConductorError("No target armature was given; pick one or create the conductor.")
    if getattr(armature_obj, "type", None) != "ARMATURE":
        kind = getattr(armature_obj, "type", type(armature_obj).__name__)
        raise ConductorError(
            f"'{getattr(armature_obj, 'name', armature_obj)}' is a {kind}, not an armature; "
            "pick an armature as the target."
        )
    if armature_obj.name not in scene.objects:
        raise ConductorError(f"Armature '{armature_obj.name}' is not in scene '{scene.name}'; pick another.")
    if armature_obj.library is not None and armature_obj.override_library is None:
        raise ConductorError(
            f"Armature '{armature_obj.name}' is linked from another file and cannot be animated; "
            "make it local or a library override first."
        )
    check(options)  # again: the fields may have changed since it was made
    settings = options.retarget
    mapping = _load_mapping(options.mapping)
    bones = armature_obj.data.bones
    missing = missing_bones(mapping, bones.keys())
    if missing:
        raise ConductorError(
            f"Armature '{armature_obj.name}' lacks the bones {', '.join(missing)} that mapping "
            f"'{mapping.name}' needs; pick the matching mapping or rename the bones."
        )
    _check_baton_parent(armature_obj, mapping, settings.baton_hand)
    return mapping


def _plan(scene: Any, armature_obj: Any, motion: Motion, options: ApplyOptions) -> _Plan:
    """Check the inputs and compute the animation; raises ConductorError, changes nothing."""
    mapping = check_target(scene, armature_obj, options)
    settings = options.retarget
    bones = armature_obj.data.bones
    audio_path = _audio_path(motion, options)

    skeleton = RestSkeleton.from_blender_bones(bones)
    scene_motion = motion.resampled(keyframes.scene_fps(scene))
    animation = retarget(
        scene_motion.keypoints,
        skeleton,
        mapping,
        settings=settings,
        fps=scene_motion.fps,
        skeleton_units=motion.extra.get("skeleton_units"),
        hands=scene_motion.hands,
        noise_free=bool(motion.extra.get("noise_free", False)),
    )
    for bone_name, values in (*animation.rotation_quaternion.items(), *animation.location.items()):
        if not np.all(np.isfinite(values)):
            raise ConductorError(
                f"Retargeting gave invalid values for bone '{bone_name}'; the motion may be "
                "corrupt, try generating it again."
            )
    notes: tuple[str, ...] = ()
    if settings.mode == "IK" and not mapping.ik_bones:
        notes = (f"The mapping '{mapping.name}' names no IK controls on this rig, so the arms are keyed in FK.",)
    return _Plan(
        mapping,
        animation,
        scene_motion.frame_count,
        scene_motion.lead_in_frames,
        _action_name(motion, audio_path),
        audio_path,
        notes,
    )


def has_takes(armature_obj: Any) -> bool:
    """Whether ``armature_obj`` plays one of this tool's takes or keeps one on its NLA tracks."""
    animation_data = armature_obj.animation_data
    if animation_data is None:
        return False
    actions = [animation_data.action] + [strip.action for track in animation_data.nla_tracks for strip in track.strips]
    return any(is_take(action) for action in actions)


def _check_baton_parent(armature_obj: bpy.types.Object, mapping: BoneMapping, baton_hand: str) -> None:
    """The baton bone must hang from the hand that holds the baton, or its keys would swing a
    baton attached to the other hand."""
    baton = mapping.bones.get("baton")
    bones = cast(bpy.types.Armature, armature_obj.data).bones
    if baton_hand == "none" or baton is None or baton not in bones:
        return
    hand = mapping.bones.get("hand.L" if baton_hand == "left" else "hand.R")
    parent = bones[baton].parent
    if hand is not None and (parent is None or parent.name != hand):
        raise ConductorError(
            f"The baton bone '{baton}' of '{armature_obj.name}' hangs from "
            f"'{parent.name if parent else 'nothing'}', not the {baton_hand} hand '{hand}'; choose the "
            f"baton hand that matches the rig, or create a conductor with the baton in the {baton_hand} hand."
        )


def _load_mapping(mapping: str) -> BoneMapping:
    if mapping in PRESETS:
        return PRESETS[mapping]
    path = bpy.path.abspath(mapping) if mapping.startswith("//") else mapping
    if mapping and (Path(path).suffix.lower() == ".json" or os.sep in path or Path(path).exists()):
        return load_mapping_json(path)
    raise ConductorError(f"Unknown bone mapping '{mapping}'; use {', '.join(sorted(PRESETS))} or a .json mapping file.")


def _audio_path(motion: Motion, options: ApplyOptions) -> str | None:
    """The music file's absolute path when a sound strip is wanted, else None."""
    if not options.add_sound:
        return None
    given = options.audio_path or motion.source_audio
    if not given:
        raise ConductorError(
            "Adding the music needs an audio file, but neither the options nor the motion name "
            "one; choose the music file or turn off adding the sound strip."
        )
    path = bpy.path.abspath(given)
    if not os.path.isfile(path):
        raise ConductorError(f"Music file '{path}' does not exist; check the path or turn off adding sound.")
    return path


def _relative_to_blend(path: str) -> str:
    """``path`` as a "//" path when the .blend is saved and the user prefers relative paths
    (Preferences > File Paths > Default to Relative Paths); "" otherwise."""
    preferences = bpy.context.preferences
    if not bpy.data.is_saved or preferences is None or not preferences.filepaths.use_relative_paths:
        return ""
    try:
        return bpy.path.relpath(path)
    except ValueError:  # another drive than the .blend (Windows): keep it absolute
        return ""


def _action_name(motion: Motion, audio_path: str | None) -> str:
    """ "Conductor: <piece> (seed <n>)", shortened to fit Blender's name length."""
    source = audio_path or motion.source_audio
    stem = Path(bpy.path.abspath(source)).stem if source else "motion"
    suffix = "" if motion.seed is None else f" (seed {motion.seed})"
    room = MAX_ID_NAME - len("Conductor: ") - len(suffix)
    stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")  # the limit is in bytes
    return f"Conductor: {stem}{suffix}"


def remove_earlier_music(scene: Any, keep: str) -> str:
    """Remove the music strips earlier runs added to ``scene`` (all but the strip ``keep``), so
    a new piece never plays over the last one; strips the user added stay. Their sounds go too
    once nothing uses them, and ``keep`` moves down to the lowest channel free of other strips
    (it was added on the lowest free one, so a lower one is one they freed; else each new piece's
    strip went one channel up, then back) and takes back the name an earlier one held ("piece",
    not "piece.001"). Returns its name."""
    kept = next((strip for strip in compat.iter_strips(scene) if strip.name == keep), None)
    earlier = [strip for strip in compat.iter_strips(scene) if strip.name != keep and strip.get(MUSIC_STRIP_KEY)]
    sounds = {strip.sound for strip in earlier if getattr(strip, "sound", None) is not None}
    for strip in earlier:
        compat.remove_strip(scene, strip)
    for sound in sounds:
        if sound.users == 0:
            bpy.data.sounds.remove(sound)
    if kept is not None and kept.get(MUSIC_STRIP_KEY):
        channel = compat.free_channel(scene, *compat.strip_range(kept), ignoring=kept)
        if channel < kept.channel:
            kept.channel = channel
        unsuffixed = re.sub(r"\.\d{3}$", "", kept.name)
        if unsuffixed != kept.name and all(strip.name != unsuffixed for strip in compat.iter_strips(scene)):
            kept.name = unsuffixed
    return keep if kept is None else kept.name


# ---------------------------------------------------------------------------------- changes
def set_rigify_switch(rollback: Rollback, armature_obj: bpy.types.Object, key: str, value: Any) -> None:
    """Set a Rigify arm switch (``IK_FK``: FK 1 / IK 0; ``pole_vector``) on both arms."""
    assert armature_obj.pose is not None, "an armature object always has a pose"
    for side in ("L", "R"):
        pose_bone = armature_obj.pose.bones.get(f"upper_arm_parent.{side}")
        if pose_bone is not None and key in pose_bone.keys():
            rollback.set_key(pose_bone, key, value)


@dataclasses.dataclass
class EarlierAction:
    """The action the armature played before a run: its own (``action``, ``slot``), whether this
    tool made it (a take: it keeps a motion), and, once set aside, the take to delete when the
    run has succeeded (``replaced_take``)."""

    action: Any
    slot: Any
    is_take: bool
    replaced_take: Any = None


def write_undoably(
    rollback: Rollback, armature_obj: Any, plan: _Plan, options: ApplyOptions, *, first_frame: int
) -> tuple[Any, EarlierAction]:
    """Write the new action from scene frame ``first_frame`` on; undo removes it and the NLA
    tracks added since, and gives the armature its earlier action back. Returns (the written
    action, the earlier one)."""
    previous_action, previous_slot = compat.get_action_and_slot(armature_obj)
    had_animation_data = armature_obj.animation_data is not None
    tracks_before = (
        {track.as_pointer() for track in armature_obj.animation_data.nla_tracks} if had_animation_data else set()
    )

    def restore_animation() -> None:
        animation_data = armature_obj.animation_data
        if animation_data is not None:
            for track in [t for t in animation_data.nla_tracks if t.as_pointer() not in tracks_before]:
                animation_data.nla_tracks.remove(track)
        if had_animation_data:
            compat.assign_action(armature_obj, previous_action, previous_slot)
        elif animation_data is not None:
            armature_obj.animation_data_clear()

    rollback.on_undo(restore_animation)
    rollback.new_blocks_in("actions")  # undone first: the new action goes before the old returns
    curves = keyframes.bone_curves(plan.animation, start_frame=first_frame, keyframe_step=options.keyframe_step)
    written = keyframes.write_action(
        armature_obj,
        plan.action_name,
        curves,
        interpolation=options.interpolation,
        use_nla=options.use_nla,
        key_tolerance=options.key_tolerance,
    )
    earlier = EarlierAction(previous_action, previous_slot, is_take=is_take(previous_action))
    return written, earlier


def set_earlier_action_aside(
    rollback: Rollback, armature_obj: Any, earlier: EarlierAction, options: ApplyOptions
) -> list[str]:
    """Put the action the armature played before where it belongs: the animator's own onto a
    muted NLA track of its name; this tool's earlier take onto a muted track too with
    ``keep_takes``, else marked for deletion once the run succeeds. Returns what to tell the user."""
    action = earlier.action
    if action is None:
        return []
    if earlier.is_take and not options.keep_takes:
        if action.users - int(action.use_fake_user) == 0:  # nothing else plays it (older versions set fake users)
            earlier.replaced_take = action
            return [f"It replaces the earlier take '{action.name}'."]
        return []  # another object plays it too: left to that one
    track = compat.new_nla_strip(armature_obj, action, earlier.slot, action.name, int(action.frame_range[0]))
    rollback.set(track, "mute", True)
    if earlier.is_take:
        return [f"The earlier take '{action.name}' is kept as the muted NLA track '{track.name}'."]
    return [f"Your action '{action.name}' is now on the muted NLA track '{track.name}', kept as it was."]


def add_sound(rollback: Rollback, scene: Any, path: str, frame_start: int, frame_end: int) -> str:
    """The sound strip of ``path`` at ``frame_start``: an existing one, else a new one on a free
    channel (marked as this add-on's, with a "//" path where the user prefers relative paths)."""
    for strip in compat.iter_strips(scene):
        if plays_file(strip, path) and compat.strip_start(strip) == frame_start:
            if strip.get(MUSIC_STRIP_KEY):  # where it is now is where this run put it
                rollback.set_key(strip, MUSIC_FRAME_KEY, frame_start)
            return strip.name
    if scene.sequence_editor is None:
        rollback.on_undo(lambda: scene.sequence_editor_clear() if scene.sequence_editor is not None else None)
    rollback.new_blocks_in("sounds")
    channel = compat.free_channel(scene, frame_start, frame_end + 1)
    strip = compat.new_sound_strip(scene, Path(path).stem, path, channel, frame_start)
    rollback.on_undo(lambda: compat.remove_strip(scene, strip))
    strip[MUSIC_STRIP_KEY] = True
    strip[MUSIC_FRAME_KEY] = frame_start
    relative = _relative_to_blend(path)
    if relative and strip.sound is not None:
        strip.sound.filepath = relative
    return strip.name


def moved_music_frame(scene: Any, path: str) -> int | None:
    """Where the user dragged the music strip this add-on added for ``path``: its first frame
    when it no longer starts where a run put it, else None (no such strip, or not moved)."""
    for strip in compat.iter_strips(scene):
        placed = strip.get(MUSIC_FRAME_KEY)
        if strip.get(MUSIC_STRIP_KEY) and placed is not None and plays_file(strip, path):
            start = int(round(compat.strip_start(strip)))
            return start if start != int(placed) else None
    return None


def plays_file(strip: Any, path: str) -> bool:
    """Whether ``strip`` is a sound strip of the music file ``path``."""
    sound = getattr(strip, "sound", None)
    return (
        strip.type == "SOUND"
        and sound is not None
        and os.path.normpath(bpy.path.abspath(sound.filepath)) == os.path.normpath(path)
    )


def _set_frame_range(scene: Any, frame_range: tuple[int, int]) -> None:
    scene.frame_start, scene.frame_end = frame_range
