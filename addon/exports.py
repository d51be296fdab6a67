"""Exports for other tools: the animated armature as glTF/GLB (Blender's exporter for the rig and
its meshes, the animation sampled here: core.retarget.gltf_animation), FBX (Blender's exporter)
or BVH (core.retarget.bvh, Y-up), and the motion itself as .npz, .json or .csv.

Each starts where the .blend and the music start: the scene's first frame is 0 s in glTF and
FBX (which Blender's FBX importer puts back on frame 1) and the first frame of a BVH. A big rig
exports its deform bones and the bones objects hang from (with their parents) unless every bone
is asked for: of a Rigify rig's 706 bones, 160 move a mesh.

Every file is written to a temporary name in its folder and renamed when complete, so a failed
export leaves nothing where a finished file is expected. A ``.gltf`` comes with its ``.bin``
buffer: both are written in a temporary folder, and the ``.gltf`` is moved in last.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import bpy
import numpy as np

from ..core.errors import ConductorError, one_of
from ..core.motion.keypoints import MOTION_SUFFIXES, Motion
from ..core.outputs import check_output_folder
from . import compat
from .console import held_output

SCENE_SUFFIXES = (".bvh", ".glb", ".gltf", ".fbx")


def export_scene(
    scene: Any, armature: Any, motion: Motion, output: str | os.PathLike[str], *, all_bones: bool = False
) -> Path:
    """Write ``output`` by its suffix: the armature's animation over the scene's frame range
    (.bvh, .glb, .gltf, .fbx, with the skinned body and baton for the last three; the bones of
    :func:`exported_bones` unless ``all_bones``) or ``motion`` (.npz, .json, .csv at its own
    frame rate). Returns the written path."""
    output = Path(output).resolve()
    suffix = output.suffix.lower()
    if suffix in MOTION_SUFFIXES:
        return motion.save(output)
    writers: dict[str, Callable[[Any, Any, Path, set[str] | None], None]] = {
        ".bvh": _write_bvh,
        ".glb": _write_gltf,
        ".gltf": _write_gltf,
        ".fbx": _write_fbx,
    }
    if suffix not in writers:
        raise ConductorError(f"Cannot export '{output.name}': name it {one_of(SCENE_SUFFIXES + MOTION_SUFFIXES)}.")
    check_output_folder(output.parent)  # not writable: said before Blender exports
    partial = output.with_name(f".{output.stem}.partial-{os.getpid()}")
    try:
        partial.mkdir()
        target = partial / output.name  # the final name: a .gltf names its .bin after itself
        selection = _Selection(scene, armature, with_children=suffix != ".bvh")
        bones = None if all_bones else exported_bones(armature)
        with selection as override, compat.context_override(**override), held_output():  # its log lines
            writers[suffix](scene, armature, target, bones)
        if not target.is_file():
            raise ConductorError(f"Blender's exporter wrote no '{output.name}'; see its messages above.")
        for companion in sorted(partial.iterdir()):  # a .gltf's .bin before the .gltf itself
            if companion != target:
                os.replace(companion, output.parent / companion.name)
        os.replace(target, output)
    except (RuntimeError, OSError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConductorError(f"Exporting '{output.name}' failed ({first}).") from error
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return output


def exported_bones(armature: Any) -> set[str]:
    """The bones an export carries by default: the deform bones (those that move a mesh) and
    those objects hang from (our baton), with every parent up to the root; on a rig without
    deform bones, the bones its action keys (this tool's controls) instead."""
    bones = armature.data.bones
    chosen = {bone.name for bone in bones if bone.use_deform}
    if not chosen:
        action, slot = compat.get_action_and_slot(armature)
        for fcurve in compat.action_fcurves(action, slot) if action is not None else []:
            match = BONE_PATH.match(fcurve.data_path)
            if match:
                chosen.add(bpy.utils.unescape_identifier(match.group(1)))
    chosen |= {child.parent_bone for child in armature.children if child.parent_type == "BONE" and child.parent_bone}
    for name in list(chosen):
        bone = bones.get(name)
        while bone is not None and bone.parent is not None:
            bone = bone.parent
            chosen.add(bone.name)
    return {name for name in chosen if name in bones}


BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]')


@contextlib.contextmanager
def _deform_flags(armature: Any, bones: set[str] | None) -> Iterator[None]:
    """While the block runs, ``bones`` (None: all) are the armature's deform bones, so Blender's
    exporters' deform-only option exports exactly them; the flags are put back after."""
    if bones is None:
        yield
        return
    saved = {bone.name: bone.use_deform for bone in armature.data.bones}
    try:
        for bone in armature.data.bones:
            bone.use_deform = bone.name in bones
        yield
    finally:
        for bone in armature.data.bones:
            bone.use_deform = saved[bone.name]


@contextlib.contextmanager
def _starting_at_frame_zero(scene: Any, armature: Any) -> Iterator[None]:
    """While the block runs, the armature's action and the scene's range start at frame 0, so
    an exporter that writes frames as times from 0 s (FBX) puts the music's start at 0 s, which
    Blender's FBX importer, like the .blend, shows on frame 1. Put back exactly after."""
    offset = float(scene.frame_start)
    action, slot = compat.get_action_and_slot(armature)
    curves = compat.action_fcurves(action, slot) if action is not None else []
    saved_range = scene.frame_start, scene.frame_end

    def shift(by: float) -> None:
        for fcurve in curves:
            points = fcurve.keyframe_points
            for name in ("co", "handle_left", "handle_right"):
                values = np.empty(2 * len(points), dtype=np.float32)
                points.foreach_get(name, values)
                values[0::2] += by
                points.foreach_set(name, values)
            fcurve.update()

    try:
        shift(-offset)
        scene.frame_end = saved_range[1] - saved_range[0]
        scene.frame_start = 0
        yield
    finally:
        shift(offset)
        scene.frame_start, scene.frame_end = saved_range


def _write_bvh(scene: Any, armature: Any, path: Path, bones: set[str] | None) -> None:
    """Sample the rig at every frame of the scene and write its bones Y-up (core.retarget.bvh)."""
    from ..core.retarget.bvh import BvhSkeleton, write_bvh

    wanted_names = {bone.name for bone in armature.data.bones} if bones is None else bones
    chosen = []  # depth first from the top bones, as the joints are written
    stack = [
        bone for bone in reversed(armature.data.bones) if bone.parent is None or bone.parent.name not in wanted_names
    ]
    while stack:
        bone = stack.pop()
        if bone.name in wanted_names:
            chosen.append(bone)
            stack.extend(reversed([child for child in bone.children if child.name in wanted_names]))
    index = {bone.name: k for k, bone in enumerate(chosen)}
    world = np.array(armature.matrix_world, dtype=np.float64)
    scale = np.cbrt(abs(np.linalg.det(world[:3, :3])))
    turn = world[:3, :3] / scale  # the object's rotation: a Y-up rig (Mixamo's) stands up too
    rest = np.array([np.array(bone.matrix_local, dtype=np.float64) for bone in chosen])  # (J, 4, 4)
    heads = np.array([bone.head_local for bone in chosen], dtype=np.float64) @ world[:3, :3].T + world[:3, 3]
    tails = np.array([bone.tail_local for bone in chosen], dtype=np.float64) @ world[:3, :3].T + world[:3, 3]
    roots = [k for k, bone in enumerate(chosen) if bone.parent is None or bone.parent.name not in index]
    names, parents = (
        [bone.name for bone in chosen],
        [index.get(getattr(bone.parent, "name", ""), -1) for bone in chosen],
    )
    if len(roots) > 1:  # BVH has one root: a still joint at the origin holds the others
        names, parents = ["root"] + names, [-1] + [parent + 1 for parent in parents]
        heads, tails = np.vstack([np.zeros((1, 3)), heads]), np.vstack([np.zeros((1, 3)), tails])
        rest = np.concatenate([np.eye(4)[None], rest])
    skeleton = BvhSkeleton(tuple(names), tuple(parents), heads, turn @ rest[:, :3, :3], tails)
    offset = len(names) - len(chosen)
    rotations, root_heads = [], []
    for matrices in _posed_matrices(scene, armature, [bone.name for bone in chosen]):  # (F, J, 4, 4)
        posed = np.empty((matrices.shape[0], len(names), 3, 3))
        posed[:, offset:] = turn @ matrices[:, :, :3, :3]
        posed[:, :offset] = np.eye(3)
        rotations.append(posed)
        root_heads.append((matrices[:, roots[0], :, 3] @ world.T)[:, :3] if offset == 0 else np.zeros((len(posed), 3)))
    write_bvh(
        path,
        skeleton,
        root_heads=np.concatenate(root_heads),
        posed_rotations=np.concatenate(rotations),
        fps=scene.render.fps / scene.render.fps_base,
    )


def _write_gltf(scene: Any, armature: Any, path: Path, bones: set[str] | None) -> None:
    """Blender's exporter writes the rig, its skin and the meshes at rest; the animation is
    sampled here, one array a frame, and added (core.retarget.gltf_animation): Blender's own
    sampling turns every sample of every bone into Python objects, five times slower. Where the
    armature object itself is animated, Blender's exporter samples everything as before."""
    from ..core.retarget import gltf_animation

    own_sampling = _object_animated(armature)
    with _deform_flags(armature, bones):
        bpy.ops.export_scene.gltf(
            filepath=str(path),
            check_existing=False,
            export_format="GLB" if path.suffix.lower() == ".glb" else "GLTF_SEPARATE",
            use_selection=True,
            export_animations=own_sampling,
            export_animation_mode="ACTIVE_ACTIONS",
            export_frame_range=True,
            export_anim_slide_to_zero=True,  # the scene's first frame (the music's start) at 0 s, not at 1 / fps
            export_force_sampling=True,
            export_def_bones=bones is not None,
            export_rest_position_armature=True,
            export_cameras=False,
            export_lights=False,
        )
    if own_sampling or not path.is_file():
        return
    file = gltf_animation.read_gltf(path)
    nodes = file.document.get("nodes", [])
    parents = gltf_animation.node_parents(file.document)
    rig_nodes = [index for index, node in enumerate(nodes) if node.get("name") == armature.name]
    names = {bone.name for bone in armature.data.bones} if bones is None else bones
    joints: dict[str, int] = {}
    for index, node in enumerate(nodes):  # the bone nodes below the armature's node
        ancestor = int(parents[index])
        while ancestor >= 0 and ancestor not in rig_nodes:
            ancestor = int(parents[ancestor])
        if ancestor >= 0 and node.get("name") in names:
            joints[node["name"]] = index
    if not joints:
        return
    chosen = list(joints)
    nodes_of_bones = [joints[name] for name in chosen]
    rest = np.array([np.array(armature.data.bones[name].matrix_local, dtype=np.float64) for name in chosen])
    world = gltf_animation.Z_UP_TO_Y_UP_4X4 @ np.array(armature.matrix_world, dtype=np.float64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for posed in _posed_matrices(scene, armature, chosen):  # a chunk of frames at a time: bounded memory
        locals_ = gltf_animation.joint_locals(
            file.document, nodes_of_bones, world_from_armature=world, rest=rest, posed=posed
        )
        parts.append(gltf_animation.decompose(locals_))
    translation, rotation, scale = (np.concatenate(part) for part in zip(*parts))
    fps = scene.render.fps / scene.render.fps_base
    action, _slot = compat.get_action_and_slot(armature)
    gltf_animation.add_animation(
        file,
        name=action.name if action is not None else armature.name,
        times_s=np.arange(translation.shape[0]) / fps,  # the scene's first frame at 0 s
        joints=nodes_of_bones,
        translation=translation,
        rotation=rotation,
        scale=scale,
    )
    gltf_animation.write_gltf(file, path)


def _object_animated(armature: Any) -> bool:
    """Whether the armature object's own transform is animated (keys or drivers off its bones)."""
    animation = armature.animation_data
    if animation is None:
        return False
    action, slot = compat.get_action_and_slot(armature)
    curves = list(compat.action_fcurves(action, slot)) if action is not None else []
    return any(not curve.data_path.startswith("pose.") for curve in curves) or any(
        not driver.data_path.startswith("pose.") for driver in animation.drivers
    )


def _posed_matrices(scene: Any, armature: Any, names: list[str], *, chunk_frames: int = 256) -> Iterator[np.ndarray]:
    """The pose bones ``names``' matrices in the armature's space over the scene's frames, as
    Blender evaluates them (constraints, drivers and the NLA included), ``chunk_frames`` frames
    at a time [each shape=(frames, len(names), 4, 4), float64]; the scene's frame is put back
    after."""
    wanted = np.array([armature.pose.bones.find(name) for name in names])
    buffer = np.empty(16 * len(armature.pose.bones), dtype=np.float32)
    frames = range(scene.frame_start, scene.frame_end + 1)
    saved_frame = scene.frame_current
    try:
        for first in range(0, len(frames), chunk_frames):
            chunk = frames[first : first + chunk_frames]
            posed = np.empty((len(chunk), len(names), 4, 4), dtype=np.float64)
            for row, frame in enumerate(chunk):
                scene.frame_set(frame)
                armature.pose.bones.foreach_get("matrix", buffer)
                posed[row] = buffer.reshape(-1, 4, 4).transpose(0, 2, 1)[wanted]
            yield posed
    finally:
        scene.frame_set(saved_frame)


def _write_fbx(scene: Any, armature: Any, path: Path, bones: set[str] | None) -> None:
    with _deform_flags(armature, bones), _starting_at_frame_zero(scene, armature):
        bpy.ops.export_scene.fbx(
            filepath=str(path),
            check_existing=False,
            use_selection=True,
            object_types={"ARMATURE", "MESH"},
            use_armature_deform_only=bones is not None,
            add_leaf_bones=False,
            bake_anim=True,
            bake_anim_use_all_actions=False,
            bake_anim_use_nla_strips=False,
            bake_anim_force_startend_keying=True,
        )


class _Selection:
    """Select exactly the armature (and the objects hanging from it) and make it active; put the
    selection back afterwards. Yields the context override for the exporters."""

    def __init__(self, scene: Any, armature: Any, *, with_children: bool) -> None:
        self.view_layer = scene.view_layers[0]
        self.scene = scene
        self.objects = [armature] + ([o for o in armature.children_recursive] if with_children else [])
        self.before: list[Any] = []
        self.active = None

    def __enter__(self) -> dict[str, Any]:
        layer_objects = self.view_layer.objects
        self.before = [o for o in layer_objects if o.select_get(view_layer=self.view_layer)]
        self.active = layer_objects.active
        for obj in self.before:
            obj.select_set(False, view_layer=self.view_layer)
        for obj in self.objects:
            if obj.name in layer_objects:
                obj.select_set(True, view_layer=self.view_layer)
        layer_objects.active = self.objects[0]
        return {
            "scene": self.scene,
            "view_layer": self.view_layer,
            "active_object": self.objects[0],
            "object": self.objects[0],
            "selected_objects": self.objects,
        }

    def __exit__(self, *_exc: object) -> None:
        for obj in self.objects:
            if obj.name in self.view_layer.objects:
                obj.select_set(False, view_layer=self.view_layer)
        for obj in self.before:
            obj.select_set(True, view_layer=self.view_layer)
        self.view_layer.objects.active = self.active
