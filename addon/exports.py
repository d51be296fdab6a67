"""Exports for other tools: the animated armature as BVH, glTF/GLB or FBX (Blender's own
exporters), and the motion itself as .npz, .json or .csv.

Every file is written to a temporary name in its folder and renamed when complete, so a failed
export leaves nothing where a finished file is expected. A ``.gltf`` comes with its ``.bin``
buffer: both are written in a temporary folder, and the ``.gltf`` is moved in last.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import bpy

from ..core.errors import ConductorError, one_of
from ..core.motion.keypoints import MOTION_SUFFIXES, Motion
from ..core.outputs import check_output_folder
from . import compat
from .console import held_output

SCENE_SUFFIXES = (".bvh", ".glb", ".gltf", ".fbx")


def export_scene(scene: Any, armature: Any, motion: Motion, output: str | os.PathLike[str]) -> Path:
    """Write ``output`` by its suffix: the armature's animation over the scene's frame range
    (.bvh, .glb, .gltf, .fbx, with the skinned body and baton for the last three) or ``motion``
    (.npz, .json, .csv at its own frame rate). Returns the written path."""
    output = Path(output).resolve()
    suffix = output.suffix.lower()
    if suffix in MOTION_SUFFIXES:
        return motion.save(output)
    writers: dict[str, Callable[[Any, Any, Path], None]] = {
        ".bvh": _write_bvh,
        ".glb": _write_gltf,
        ".gltf": _write_gltf,
        ".fbx": _write_fbx,
    }
    if suffix not in writers:
        raise ConductorError(f"Cannot export '{output.name}': name it {one_of(SCENE_SUFFIXES + MOTION_SUFFIXES)}.")
    check_output_folder(output.parent)  # missing or not writable: said before Blender exports
    partial = output.with_name(f".{output.stem}.partial-{os.getpid()}")
    try:
        partial.mkdir()
        target = partial / output.name  # the final name: a .gltf names its .bin after itself
        selection = _Selection(scene, armature, with_children=suffix != ".bvh")
        with selection as override, compat.context_override(**override), held_output():  # its log lines
            writers[suffix](scene, armature, target)
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


def _write_bvh(scene: Any, armature: Any, path: Path) -> None:
    bpy.ops.export_anim.bvh(
        filepath=str(path),
        check_existing=False,
        frame_start=scene.frame_start,
        frame_end=scene.frame_end,
        rotate_mode="NATIVE",
        root_transform_only=False,
    )


def _write_gltf(scene: Any, armature: Any, path: Path) -> None:
    bpy.ops.export_scene.gltf(
        filepath=str(path),
        check_existing=False,
        export_format="GLB" if path.suffix.lower() == ".glb" else "GLTF_SEPARATE",
        use_selection=True,
        export_animations=True,
        export_animation_mode="ACTIVE_ACTIONS",
        export_frame_range=True,
        export_anim_slide_to_zero=True,  # the scene's first frame (the music's start) at 0 s, not at 1 / fps
        export_force_sampling=True,
        export_def_bones=False,
        export_cameras=False,
        export_lights=False,
    )


def _write_fbx(scene: Any, armature: Any, path: Path) -> None:
    bpy.ops.export_scene.fbx(
        filepath=str(path),
        check_existing=False,
        use_selection=True,
        object_types={"ARMATURE", "MESH"},
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
