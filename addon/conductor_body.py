""""Create conductor": the add-on's own armature with a skinned, dressed body, a baton and a stage.

The armature is :data:`core.conductor_rig.CONDUCTOR_BONES` as it stands (T-pose, facing -Y,
left on +X, metres). The body is built from lathed shapes (an outline turned around an axis)
in numpy, joined into one mesh and weighted to the bones by smooth ramps along each limb, so
joints bend without cracks. Everything goes into a new collection called "Conductor".
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence, cast

import bpy
import numpy as np
from numpy.typing import ArrayLike
from mathutils import Matrix, Vector

from ..core.conductor_rig import CONDUCTOR_BONES
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


@dataclasses.dataclass
class _Part:
    """One closed lathed shape: vertices (V, 3), faces, a material and bone weights (V,) each."""

    verts: np.ndarray
    faces: list[tuple[int, ...]]
    material: str
    weights: dict[str, np.ndarray]


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
    scene: bpy.types.Scene, view_layer: bpy.types.ViewLayer, collection: bpy.types.Collection,
    *, left_handed: bool = False,
) -> bpy.types.Object:
    data = bpy.data.armatures.new(COLLECTION_NAME)
    data.display_type = "OCTAHEDRAL"
    armature = bpy.data.objects.new(COLLECTION_NAME, data)
    armature.show_in_front = True
    collection.objects.link(armature)

    previous = view_layer.objects.active
    if previous is not None and previous.mode != "OBJECT":
        with bpy.context.temp_override(
            scene=scene, view_layer=view_layer, active_object=previous, object=previous
        ):
            bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = armature
    with bpy.context.temp_override(scene=scene, view_layer=view_layer, active_object=armature, object=armature):
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


# ---------------------------------------------------------------------------------- shapes
def _lathe(
    origin: ArrayLike,
    axis: ArrayLike,
    u: ArrayLike,
    profile: Sequence[tuple[float, float]],
    *,
    scale_u: float = 1.0,
    scale_v: float = 1.0,
    segments: int = 24,
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """A closed surface turned around ``axis``.

    ``profile`` is (distance along the axis, radius) from one end to the other, metres; a
    radius of 0 at either end closes it with a pole. Cross-sections are ellipses with half-axes
    ``radius * scale_u`` along ``u`` and ``radius * scale_v`` along ``axis x u``.
    Returns vertices (V, 3) and faces with outward winding.
    """
    origin_xyz, axis_xyz, u_xyz = (np.asarray(vector, dtype=np.float64) for vector in (origin, axis, u))
    v = np.cross(axis_xyz, u_xyz)
    angles = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    ring_shape = np.cos(angles)[:, None] * u_xyz * scale_u + np.sin(angles)[:, None] * v * scale_v
    profile = list(profile)
    start_pole, end_pole = profile[0][1] == 0.0, profile[-1][1] == 0.0
    rings = profile[int(start_pole): len(profile) - int(end_pole)]

    verts = [origin_xyz + axis_xyz * t + ring_shape * radius for t, radius in rings]  # each (S, 3)
    faces: list[tuple[int, ...]] = []
    for ring in range(len(rings) - 1):
        a, b = ring * segments, (ring + 1) * segments
        for j in range(segments):
            k = (j + 1) % segments
            faces.append((a + j, a + k, b + k, b + j))
    count = len(rings) * segments
    if start_pole:
        verts.append((origin_xyz + axis_xyz * profile[0][0])[None])
        faces.extend((count, (j + 1) % segments, j) for j in range(segments))
        count += 1
    if end_pole:
        verts.append((origin_xyz + axis_xyz * profile[-1][0])[None])
        last = (len(rings) - 1) * segments
        faces.extend((count, last + j, last + (j + 1) % segments) for j in range(segments))
    return np.concatenate(verts, axis=0), faces


def _ellipsoid(center: Sequence[float], radii: Sequence[float], segments: int = 20):
    """An ellipsoid with half-axes ``radii`` (x, y, z) around ``center``, poles on Z."""
    rings = max(6, segments // 2)
    profile = [(-math.cos(math.pi * i / rings), math.sin(math.pi * i / rings)) for i in range(rings + 1)]
    profile[0], profile[-1] = (-1.0, 0.0), (1.0, 0.0)
    verts, faces = _lathe((0, 0, 0), (0, 0, 1), (1, 0, 0), profile, segments=segments)
    return verts * np.asarray(radii) + np.asarray(center), faces


def _capsule_profile(
    stations: Sequence[tuple[float, float]], cap_rings: int = 4
) -> list[tuple[float, float]]:
    """``stations`` (t, radius) with rounded caps added at both ends."""
    (t0, r0), (t1, r1) = stations[0], stations[-1]
    start = [(t0 - r0 * math.cos(a), r0 * math.sin(a)) for a in np.linspace(0, math.pi / 2, cap_rings + 1)]
    end = [(t1 + r1 * math.sin(a), r1 * math.cos(a)) for a in np.linspace(0, math.pi / 2, cap_rings + 1)]
    start[0], end[-1] = (start[0][0], 0.0), (end[-1][0], 0.0)
    return start[:-1] + list(stations) + end[1:]


def _ramps(coordinate: np.ndarray, chain: Sequence[tuple[str, float]], width: float) -> dict[str, np.ndarray]:
    """Weights for a chain of bones along one coordinate.

    ``chain`` is (bone, where the next bone takes over) in order, the last boundary ignored;
    each boundary blends linearly over ``width`` metres. The weights sum to 1 everywhere.
    """
    weights: dict[str, np.ndarray] = {}
    carried = np.ones_like(coordinate)
    for index, (bone, boundary) in enumerate(chain):
        if index == len(chain) - 1:
            weights[bone] = carried
            break
        handover = np.clip((coordinate - boundary + width / 2) / width, 0.0, 1.0)
        weights[bone] = carried * (1.0 - handover)
        carried = carried * handover
    return weights


def _part(shape: tuple[np.ndarray, list], material: str, weights: Any) -> _Part:
    verts, faces = shape
    if isinstance(weights, str):
        weights = {weights: np.ones(len(verts))}
    elif callable(weights):
        weights = weights(verts)
    return _Part(verts, faces, material, weights)


def _body_parts() -> list[_Part]:
    """All shapes of the dressed body, rest pose, metres."""
    z_axis, x_axis = (0, 0, 1), (1, 0, 0)
    parts: list[_Part] = []

    def torso_weights(verts: np.ndarray) -> dict[str, np.ndarray]:
        weights = _ramps(verts[:, 2], [("hips", 1.12), ("spine", 1.28), ("chest", 0.0)], 0.08)
        sideways = np.clip((np.abs(verts[:, 0]) - 0.09) / 0.09, 0, 1)
        reach = sideways * np.clip((verts[:, 2] - 1.29) / 0.08, 0, 1)  # the shoulders' share
        for bone in weights:
            weights[bone] = weights[bone] * (1 - reach)
        weights["shoulder.L"] = np.where(verts[:, 0] > 0, reach, 0.0)
        weights["shoulder.R"] = np.where(verts[:, 0] <= 0, reach, 0.0)
        return weights

    # Tailcoat body: wider than deep, waist slightly in, square shoulders.
    torso = [(0.90, 0.0), (0.91, 0.10), (0.94, 0.148), (1.05, 0.152), (1.17, 0.142), (1.30, 0.165),
             (1.38, 0.186), (1.43, 0.18), (1.47, 0.13), (1.49, 0.06), (1.495, 0.0)]
    parts.append(_part(_lathe((0, 0, 0), z_axis, x_axis, torso, scale_v=0.62, segments=32),
                       "Conductor Tailcoat", torso_weights))
    # Coat tails hanging at the back.
    for side in (-1, 1):
        tail = [(0.60, 0.0), (0.61, 0.05), (0.75, 0.07), (0.95, 0.075), (1.08, 0.06), (1.10, 0.0)]
        parts.append(_part(_lathe((side * 0.065, 0.075, 0), z_axis, x_axis, tail, scale_v=0.3, segments=16),
                           "Conductor Tailcoat", "hips"))
    # Shirt front, bow tie.
    parts.append(_part(_ellipsoid((0, -0.094, 1.36), (0.05, 0.024, 0.085)), "Conductor Shirt", "chest"))
    for side in (-1, 1):
        parts.append(_part(_ellipsoid((side * 0.024, -0.118, 1.425), (0.026, 0.01, 0.016), 12),
                           "Conductor Shoes", "chest"))
    # Neck and head.
    neck = _capsule_profile([(1.42, 0.048), (1.58, 0.045)], 3)
    parts.append(_part(_lathe((0, -0.005, 0), z_axis, x_axis, neck, segments=16), "Conductor Skin",
                       lambda verts: _ramps(verts[:, 2], [("chest", 1.46), ("neck", 1.57), ("head", 0.0)],
                                            0.05)))
    parts.append(_part(_ellipsoid((0, -0.01, 1.665), (0.082, 0.098, 0.115), 28), "Conductor Skin", "head"))
    parts.append(_part(_ellipsoid((0, -0.106, 1.655), (0.014, 0.02, 0.026), 10), "Conductor Skin", "head"))
    for side in (-1, 1):
        ear = _ellipsoid((side * 0.082, 0.0, 1.66), (0.012, 0.022, 0.03), 10)
        parts.append(_part(ear, "Conductor Skin", "head"))
    parts.append(_part(_ellipsoid((0, 0.014, 1.69), (0.087, 0.098, 0.103), 28), "Conductor Hair", "head"))
    # Arms: sleeve, cuff, hand, mirrored.
    for side, suffix in ((1, "L"), (-1, "R")):
        def arm_weights(verts: np.ndarray, suffix: str = suffix) -> dict[str, np.ndarray]:
            chain = [(f"shoulder.{suffix}", 0.20), (f"upper_arm.{suffix}", 0.47), (f"forearm.{suffix}", 0.0)]
            return _ramps(np.abs(verts[:, 0]), chain, 0.07)

        sleeve = _capsule_profile([(0.13, 0.062), (0.30, 0.058), (0.47, 0.05), (0.70, 0.042)], 3)
        parts.append(_part(_lathe((0, 0, 1.415), (side, 0, 0), (0, 0, 1), sleeve, segments=20),
                           "Conductor Tailcoat", arm_weights))
        cuff = [(0.695, 0.0), (0.696, 0.044), (0.735, 0.043), (0.736, 0.0)]
        parts.append(_part(_lathe((0, 0, 1.415), (side, 0, 0), (0, 0, 1), cuff, segments=20),
                           "Conductor Shirt", f"forearm.{suffix}"))
        parts.append(_part(_ellipsoid((side * 0.785, -0.004, 1.412), (0.058, 0.026, 0.044), 16),
                           "Conductor Skin", f"hand.{suffix}"))
        parts.append(_part(_ellipsoid((side * 0.77, -0.035, 1.42), (0.028, 0.012, 0.014), 10),
                           "Conductor Skin", f"hand.{suffix}"))
    # Legs follow the hips more the higher they are, shoes stay on the floor.
    for side in (-1, 1):
        leg = [(0.04, 0.0), (0.05, 0.048), (0.50, 0.058), (0.90, 0.075), (1.00, 0.07), (1.02, 0.0)]
        leg_shape = _lathe((side * 0.09, 0, 0), z_axis, x_axis, leg, segments=16)
        parts.append(_part(leg_shape, "Conductor Tailcoat",
                           lambda verts: {"hips": np.clip((verts[:, 2] - 0.55) / 0.45, 0, 1)}))
        shoe = _ellipsoid((side * 0.09, -0.045, 0.035), (0.05, 0.125, 0.04), 16)
        parts.append(_part(shoe, "Conductor Shoes", {}))
    return parts


# ---------------------------------------------------------------------------------- objects
def _material(name: str) -> bpy.types.Material:
    """The material called ``name``, made once with its colour and roughness."""
    material = bpy.data.materials.get(name)
    if material is not None:
        return material
    color, roughness = MATERIALS[name]
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*color, 1.0)
    material.roughness = roughness
    tree = compat.material_node_tree(material)
    shader = next((node for node in tree.nodes if node.type == "BSDF_PRINCIPLED"), None) if tree else None
    if shader is not None:
        shader.inputs["Base Color"].default_value = (*color, 1.0)
        shader.inputs["Roughness"].default_value = roughness
    return material


def _mesh_object(name: str, parts: list[_Part], collection: bpy.types.Collection) -> bpy.types.Object:
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
    body = _mesh_object("Conductor Body", _body_parts(), collection)
    body.parent = armature
    modifier = cast(bpy.types.ArmatureModifier, body.modifiers.new("Armature", "ARMATURE"))
    modifier.object = armature
    return body


def _build_baton(armature: bpy.types.Object, collection: bpy.types.Collection) -> bpy.types.Object:
    """A white baton with a cork grip along the baton bone, parented to that bone."""
    bone = cast(bpy.types.Armature, armature.data).bones["baton"]
    head, tail = np.asarray(bone.head_local), np.asarray(bone.tail_local)
    axis = (tail - head) / np.linalg.norm(tail - head)
    length = float(np.linalg.norm(tail - head))
    up = np.array([0.0, 0.0, 1.0])
    grip = [(-0.035, 0.0), (-0.034, 0.008), (-0.02, 0.013), (0.01, 0.012), (0.03, 0.0075), (0.031, 0.0)]
    shaft = [(0.02, 0.0), (0.021, 0.0045), (length - 0.01, 0.0016), (length, 0.0)]
    parts = [
        _part(_lathe(head, axis, up, grip, segments=16), "Conductor Cork", {}),
        _part(_lathe(head, axis, up, shaft, segments=12), "Conductor Baton", {}),
    ]
    baton = _mesh_object("Conductor Baton", parts, collection)
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
