""" "Create conductor": the add-on's own armature with a skinned, dressed body, a baton and a stage.

The armature is :data:`core.figure.rig.CONDUCTOR_BONES` as it stands (T-pose, facing -Y,
left on +X, metres). The body and baton shapes and their bone weights come from
``core/figure/mesh.py``; here they become one skinned mesh object, a baton object, materials,
a camera, lights and a stage. Everything goes into a new collection called "Conductor".
"""

from __future__ import annotations

from typing import Sequence, cast

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.figure.mesh import MeshPart, baton_parts, body_parts
from ..core.figure.rig import CONDUCTOR_BONES
from . import compat

COLLECTION_NAME = "Conductor"

# name -> (base colour RGB, roughness)
MATERIALS: dict[str, tuple[tuple[float, float, float], float]] = {
    "Conductor Tailcoat": ((0.012, 0.012, 0.016), 0.42),
    "Conductor Shirt": ((0.85, 0.85, 0.82), 0.55),
    "Conductor Skin": ((0.62, 0.40, 0.30), 0.5),
    "Conductor Hair": ((0.035, 0.03, 0.028), 0.6),
    "Conductor Shoes": ((0.01, 0.01, 0.01), 0.2),
    "Conductor Baton": ((0.95, 0.95, 0.93), 0.3),
    "Conductor Cork": ((0.55, 0.40, 0.25), 0.7),
    "Conductor Stage": ((0.10, 0.065, 0.04), 0.35),
}


def create_conductor(
    scene: bpy.types.Scene | bpy.types.Context,
    *,
    view_layer: bpy.types.ViewLayer | None = None,
    body: bool = True,
    baton: bool = True,
    camera: bool = True,
    lights: bool = True,
    stage: bool = True,
    baton_hand: str = "right",
) -> bpy.types.Object:
    """Build the conductor in ``scene`` and return its armature object.

    Parameters
    ----------
    scene : bpy.types.Scene or bpy.types.Context
        Gets a new "Conductor" collection with everything in it; given a context, its scene
        and view layer are used.
    view_layer : bpy.types.ViewLayer, optional
        Where the armature is made active for editing its bones; the scene's first by default.
    body, baton, camera, lights, stage : bool
        Which extras to add: the skinned mesh, the baton on the "baton" bone, a camera framing
        the upper body from the front (made the scene camera), key/fill/rim lights, a floor.
    baton_hand : "right", "left" or "none"
        The hand the baton bone hangs from ("left" mirrors it to hand.L); "none" adds no baton.
    """
    if baton_hand not in ("right", "left", "none"):
        raise ValueError(f"baton_hand must be 'right', 'left' or 'none', got {baton_hand!r}")
    if isinstance(scene, bpy.types.Context):
        view_layer = view_layer or scene.view_layer
        context_scene = scene.scene
        if context_scene is None:
            raise ValueError("The context has no scene to build the conductor in.")
        scene = context_scene
    view_layer = view_layer or _view_layer_of(scene)
    collection = bpy.data.collections.new(COLLECTION_NAME)
    scene_collection = scene.collection
    assert scene_collection is not None, "a scene always has its master collection"
    scene_collection.children.link(collection)

    armature = _build_armature(scene, view_layer, collection, left_handed=baton_hand == "left")
    if body:
        _build_body(armature, collection)
    if baton and baton_hand != "none":
        _build_baton(armature, collection)
    if camera:
        scene.camera = _build_camera(collection)
    if lights:
        _build_lights(collection)
    if stage:
        _build_stage(collection)
    return armature


# ---------------------------------------------------------------------------------- armature
def _view_layer_of(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    context_layer = getattr(bpy.context, "view_layer", None)
    if getattr(bpy.context, "scene", None) == scene and context_layer is not None:
        return context_layer
    return scene.view_layers[0]


def _build_armature(
    scene: bpy.types.Scene,
    view_layer: bpy.types.ViewLayer,
    collection: bpy.types.Collection,
    *,
    left_handed: bool = False,
) -> bpy.types.Object:
    data = bpy.data.armatures.new(COLLECTION_NAME)
    data.display_type = "OCTAHEDRAL"
    armature = bpy.data.objects.new(COLLECTION_NAME, data)
    armature.show_in_front = True
    collection.objects.link(armature)

    previous = view_layer.objects.active
    if previous is not None and previous.mode != "OBJECT":
        with compat.context_override(scene=scene, view_layer=view_layer, active_object=previous, object=previous):
            bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = armature
    with compat.context_override(scene=scene, view_layer=view_layer, active_object=armature, object=armature):
        bpy.ops.object.mode_set(mode="EDIT")
        try:
            for rig_bone in CONDUCTOR_BONES:
                bone = data.edit_bones.new(rig_bone.name)
                bone.head = rig_bone.head
                bone.tail = rig_bone.tail
                bone.roll = 0.0
            for rig_bone in CONDUCTOR_BONES:
                if rig_bone.parent is not None:
                    bone = data.edit_bones[rig_bone.name]
                    bone.parent = data.edit_bones[rig_bone.parent]
                    bone.use_connect = rig_bone.connected
            baton_bone = data.edit_bones["baton"]
            baton_bone.use_deform = False
            if left_handed:  # the baton continues the left hand's line instead
                baton_bone.parent = data.edit_bones["hand.L"]
                baton_bone.head.x, baton_bone.tail.x = -baton_bone.head.x, -baton_bone.tail.x
        finally:
            bpy.ops.object.mode_set(mode="OBJECT")
    assert armature.pose is not None, "an armature object always has a pose"
    for pose_bone in armature.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return armature


# ---------------------------------------------------------------------------------- objects
def _material(name: str) -> bpy.types.Material:
    """The material called ``name``, made once with its colour and roughness."""
    material = bpy.data.materials.get(name)
    if material is not None:
        return material
    color, roughness = MATERIALS[name]
    material = bpy.data.materials.new(name)
    setattr(material, "diffuse_color", (*color, 1.0))  # the 5.2 stubs type it as read-only
    material.roughness = roughness
    tree = compat.material_node_tree(material)
    shader = next((node for node in tree.nodes if node.type == "BSDF_PRINCIPLED"), None) if tree else None
    if shader is not None:
        shader.inputs["Base Color"].default_value = (*color, 1.0)
        shader.inputs["Roughness"].default_value = roughness
    return material


def _mesh_object(name: str, parts: list[MeshPart], collection: bpy.types.Collection) -> bpy.types.Object:
    """One smooth-shaded mesh object from ``parts``, with their materials and vertex groups."""
    verts: list[np.ndarray] = []
    faces: list[tuple[int, ...]] = []
    material_indices: list[int] = []
    offset = 0
    material_names = list(dict.fromkeys(part.material for part in parts))
    for part in parts:
        verts.append(part.verts)
        faces.extend(tuple(index + offset for index in face) for face in part.faces)
        material_indices.extend([material_names.index(part.material)] * len(part.faces))
        offset += len(part.verts)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.concatenate(verts).tolist(), [], faces)
    for material_name in material_names:
        mesh.materials.append(_material(material_name))
    mesh.polygons.foreach_set("material_index", np.asarray(material_indices, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)

    offset = 0
    for part in parts:
        for bone, weights in part.weights.items():
            group = obj.vertex_groups.get(bone) or obj.vertex_groups.new(name=bone)
            for index in np.flatnonzero(weights > 1e-4):
                group.add([int(index) + offset], float(weights[index]), "REPLACE")
        offset += len(part.verts)
    return obj


def _build_body(armature: bpy.types.Object, collection: bpy.types.Collection) -> bpy.types.Object:
    body = _mesh_object("Conductor Body", body_parts(), collection)
    body.parent = armature
    modifier = cast(bpy.types.ArmatureModifier, body.modifiers.new("Armature", "ARMATURE"))
    modifier.object = armature
    return body


def _build_baton(armature: bpy.types.Object, collection: bpy.types.Collection) -> bpy.types.Object:
    """A white baton with a cork grip along the baton bone, parented to that bone."""
    bone = cast(bpy.types.Armature, armature.data).bones["baton"]
    head, tail = np.array(bone.head_local, dtype=np.float64), np.array(bone.tail_local, dtype=np.float64)
    baton = _mesh_object("Conductor Baton", baton_parts(head, tail), collection)
    # Bone parents hang an object from the bone's tail; undo that so the baton stays put.
    baton.parent = armature
    baton.parent_type = "BONE"
    baton.parent_bone = "baton"
    bone_tail = armature.matrix_world @ bone.matrix_local @ Matrix.Translation((0.0, bone.length, 0.0))
    baton.matrix_parent_inverse = bone_tail.inverted()
    return baton


def _aim(obj: bpy.types.Object, location: Sequence[float], target: Sequence[float]) -> None:
    """Place ``obj`` at ``location`` with its -Z axis toward ``target`` and Y up."""
    obj.location = location
    direction = Vector(target) - Vector(location)
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def _build_camera(collection: bpy.types.Collection) -> bpy.types.Object:
    data = bpy.data.cameras.new("Conductor Camera")
    data.lens = 50.0
    camera = bpy.data.objects.new("Conductor Camera", data)
    collection.objects.link(camera)
    _aim(camera, (0.0, -3.6, 1.42), (0.0, 0.0, 1.36))
    return camera


def _build_lights(collection: bpy.types.Collection) -> None:
    rig = (  # name, location, watts, size (m), colour
        ("Key", (-1.9, -2.6, 2.9), 220.0, 1.2, (1.0, 0.95, 0.88)),
        ("Fill", (2.3, -2.2, 1.8), 70.0, 2.0, (0.85, 0.9, 1.0)),
        ("Rim", (0.8, 2.4, 2.8), 250.0, 0.8, (1.0, 1.0, 1.0)),
    )
    for name, location, watts, size, color in rig:
        data = cast(bpy.types.AreaLight, bpy.data.lights.new(f"Conductor {name}", "AREA"))
        data.energy, data.size, data.color = watts, size, color
        light = bpy.data.objects.new(f"Conductor {name}", data)
        collection.objects.link(light)
        _aim(light, location, (0.0, 0.0, 1.35))


def _build_stage(collection: bpy.types.Collection) -> None:
    half = 4.0
    mesh = bpy.data.meshes.new("Conductor Stage")
    corners = [(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)]
    mesh.from_pydata(corners, [], [(0, 1, 2, 3)])
    mesh.materials.append(_material("Conductor Stage"))
    stage = bpy.data.objects.new("Conductor Stage", mesh)
    collection.objects.link(stage)
