"""The conductor figure's body and baton as meshes, in NumPy: shapes, materials and bone weights.

The body is built from lathed shapes (an outline turned around an axis), each weighted to the
bones of :data:`core.figure.rig.CONDUCTOR_BONES` by smooth ramps along each limb, so joints
bend without cracks. Rest pose (T-pose, facing -Y, left on +X), metres. ``addon/conductor_body.py``
turns these parts into Blender objects.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .rig import CONDUCTOR_BONES, KNUCKLES_X_M, SHOULDER_HEIGHT_M, WRIST_X_M


@dataclasses.dataclass
class MeshPart:
    """One closed shape.

    Attributes
    ----------
    verts : np.ndarray [shape=(V, 3), float64]
        Vertex positions in metres.
    faces : list of tuple of int
        Quads and triangles indexing ``verts``, wound outward.
    material : str
        Name of its material (a key of ``addon.conductor_body.MATERIALS``).
    weights : dict of str to np.ndarray [shape=(V,)]
        Bone name -> weight of each vertex; they sum to 1 where the part is skinned.
    """

    verts: np.ndarray
    faces: list[tuple[int, ...]]
    material: str
    weights: dict[str, np.ndarray]


def lathe(
    origin: ArrayLike,
    axis: ArrayLike,
    u: ArrayLike,
    *,
    profile: Sequence[tuple[float, float]],
    scale_u: float = 1.0,
    scale_v: float = 1.0,
    segments: int = 24,
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """A closed surface turned around ``axis``.

    Parameters
    ----------
    origin, axis, u : array-like [shape=(3,)]
        Where distance 0 along the axis is (metres), the axis (a unit vector) and the unit
        direction of a cross-section's first half-axis, perpendicular to it.
    profile : sequence of (float, float)
        (distance along the axis, radius) from one end to the other, metres; a radius of 0 at
        either end closes it with a pole.
    scale_u, scale_v : float > 0
        Cross-sections are ellipses with half-axes ``radius * scale_u`` along ``u`` and
        ``radius * scale_v`` along ``axis x u``.
    segments : int >= 3
        Vertices around each ring.

    Returns
    -------
    verts : np.ndarray [shape=(V, 3), float64] metres
    faces : list of tuple of int
        Quads and pole triangles indexing ``verts``, wound outward.
    """
    origin_xyz, axis_xyz, u_xyz = (np.asarray(vector, dtype=np.float64) for vector in (origin, axis, u))
    v = np.cross(axis_xyz, u_xyz)
    angles = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    ring_shape = np.cos(angles)[:, None] * u_xyz * scale_u + np.sin(angles)[:, None] * v * scale_v
    profile = list(profile)
    start_pole, end_pole = profile[0][1] == 0.0, profile[-1][1] == 0.0
    rings = profile[int(start_pole) : len(profile) - int(end_pole)]

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


def ellipsoid(
    center: Sequence[float], radii: Sequence[float], segments: int = 20
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """An ellipsoid with half-axes ``radii`` (x, y, z) around ``center``, poles on Z, metres:
    (verts [shape=(V, 3), float64], faces) as :func:`lathe` gives them."""
    rings = max(6, segments // 2)
    profile = [(-math.cos(math.pi * i / rings), math.sin(math.pi * i / rings)) for i in range(rings + 1)]
    profile[0], profile[-1] = (-1.0, 0.0), (1.0, 0.0)
    verts, faces = lathe((0, 0, 0), (0, 0, 1), (1, 0, 0), profile=profile, segments=segments)
    return verts * np.asarray(radii) + np.asarray(center), faces


def capsule_profile(stations: Sequence[tuple[float, float]], cap_rings: int = 4) -> list[tuple[float, float]]:
    """``stations`` (t, radius) with rounded caps added at both ends."""
    (t0, r0), (t1, r1) = stations[0], stations[-1]
    start = [(t0 - r0 * math.cos(a), r0 * math.sin(a)) for a in np.linspace(0, math.pi / 2, cap_rings + 1)]
    end = [(t1 + r1 * math.sin(a), r1 * math.cos(a)) for a in np.linspace(0, math.pi / 2, cap_rings + 1)]
    start[0], end[-1] = (start[0][0], 0.0), (end[-1][0], 0.0)
    return start[:-1] + list(stations) + end[1:]


def weight_ramps(coordinate: np.ndarray, chain: Sequence[tuple[str, float]], width: float) -> dict[str, np.ndarray]:
    """Weights for a chain of bones along one coordinate.

    Parameters
    ----------
    coordinate : np.ndarray [shape=(V,), float64] metres
        Each vertex's place along the chain.
    chain : sequence of (str, float)
        (bone, where the next bone takes over, metres) in order, the last boundary ignored.
    width : float > 0
        Each boundary blends linearly over this many metres.

    Returns
    -------
    dict of str to np.ndarray [shape=(V,), float64] in [0, 1]
        Bone -> weight of each vertex; the weights sum to 1 everywhere.
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


def mesh_part(shape: tuple[np.ndarray, list], material: str, weights: Any) -> MeshPart:
    """A :class:`MeshPart` of ``shape`` (verts [shape=(V, 3)] metres, faces) whose ``weights`` are
    a bone's name (all of it on that bone), a function of the verts giving the weights, or the
    weights themselves (bone -> [shape=(V,)]; {} for an unskinned part)."""
    verts, faces = shape
    if isinstance(weights, str):
        weights = {weights: np.ones(len(verts))}
    elif callable(weights):
        weights = weights(verts)
    return MeshPart(verts, faces, material, weights)


_Z_AXIS, _X_AXIS = (0, 0, 1), (1, 0, 0)


def body_parts() -> list[MeshPart]:
    """All shapes of the dressed body, rest pose, metres: the coat, then the head, the arms and
    the legs."""
    parts = _torso_parts() + _head_parts()
    for side, suffix in ((1, "L"), (-1, "R")):
        parts += _arm_parts(side, suffix)
    return parts + _leg_parts()


def _torso_weights(verts: np.ndarray) -> dict[str, np.ndarray]:
    """The coat's bone weights [each shape=(V,)]: hips, spine and chest by height, the shoulders
    taking the top corners."""
    weights = weight_ramps(verts[:, 2], [("hips", 1.12), ("spine", 1.28), ("chest", 0.0)], 0.08)
    sideways = np.clip((np.abs(verts[:, 0]) - 0.09) / 0.09, 0, 1)
    reach = sideways * np.clip((verts[:, 2] - 1.29) / 0.08, 0, 1)  # the shoulders' share
    for bone in weights:
        weights[bone] = weights[bone] * (1 - reach)
    weights["shoulder.L"] = np.where(verts[:, 0] > 0, reach, 0.0)
    weights["shoulder.R"] = np.where(verts[:, 0] <= 0, reach, 0.0)
    return weights


def _torso_parts() -> list[MeshPart]:
    """The tailcoat's body and tails, the shirt front and the bow tie."""
    # Tailcoat body: wider than deep, waist slightly in, square shoulders.
    torso = [
        (0.90, 0.0),
        (0.91, 0.10),
        (0.94, 0.148),
        (1.05, 0.152),
        (1.17, 0.142),
        (1.30, 0.165),
        (1.38, 0.186),
        (1.43, 0.18),
        (1.47, 0.13),
        (1.49, 0.06),
        (1.495, 0.0),
    ]
    parts = [
        mesh_part(
            lathe((0, 0, 0), _Z_AXIS, _X_AXIS, profile=torso, scale_v=0.62, segments=32),
            "Conductor Tailcoat",
            _torso_weights,
        )
    ]
    # Coat tails hanging at the back.
    for side in (-1, 1):
        tail = [(0.60, 0.0), (0.61, 0.05), (0.75, 0.07), (0.95, 0.075), (1.08, 0.06), (1.10, 0.0)]
        parts.append(
            mesh_part(
                lathe((side * 0.065, 0.075, 0), _Z_AXIS, _X_AXIS, profile=tail, scale_v=0.3, segments=16),
                "Conductor Tailcoat",
                "hips",
            )
        )
    # Shirt front, bow tie.
    parts.append(mesh_part(ellipsoid((0, -0.094, 1.36), (0.05, 0.024, 0.085)), "Conductor Shirt", "chest"))
    for side in (-1, 1):
        parts.append(
            mesh_part(ellipsoid((side * 0.024, -0.118, 1.425), (0.026, 0.01, 0.016), 12), "Conductor Shoes", "chest")
        )
    return parts


def _head_parts() -> list[MeshPart]:
    """The neck, head, nose, ears and hair."""
    neck = capsule_profile([(1.42, 0.048), (1.58, 0.045)], 3)
    parts = [
        mesh_part(
            lathe((0, -0.005, 0), _Z_AXIS, _X_AXIS, profile=neck, segments=16),
            "Conductor Skin",
            lambda verts: weight_ramps(verts[:, 2], [("chest", 1.46), ("neck", 1.57), ("head", 0.0)], 0.05),
        )
    ]
    parts.append(mesh_part(ellipsoid((0, -0.01, 1.665), (0.082, 0.098, 0.115), 28), "Conductor Skin", "head"))
    parts.append(mesh_part(ellipsoid((0, -0.106, 1.655), (0.014, 0.02, 0.026), 10), "Conductor Skin", "head"))
    for side in (-1, 1):
        ear = ellipsoid((side * 0.082, 0.0, 1.66), (0.012, 0.022, 0.03), 10)
        parts.append(mesh_part(ear, "Conductor Skin", "head"))
    parts.append(mesh_part(ellipsoid((0, 0.014, 1.69), (0.087, 0.098, 0.103), 28), "Conductor Hair", "head"))
    return parts


def _arm_parts(side: int, suffix: str) -> list[MeshPart]:
    """One arm's sleeve, cuff and hand: ``side`` +1 and ``suffix`` "L" for the left (+X), -1 and
    "R" for the right."""

    def arm_weights(verts: np.ndarray) -> dict[str, np.ndarray]:
        chain = [(f"shoulder.{suffix}", 0.20), (f"upper_arm.{suffix}", 0.47), (f"forearm.{suffix}", 0.0)]
        return weight_ramps(np.abs(verts[:, 0]), chain, 0.07)

    sleeve = capsule_profile([(0.13, 0.062), (0.30, 0.058), (0.47, 0.05), (0.70, 0.042)], 3)
    cuff = [(0.695, 0.0), (0.696, 0.044), (0.735, 0.043), (0.736, 0.0)]
    return [
        mesh_part(
            lathe((0, 0, 1.415), (side, 0, 0), (0, 0, 1), profile=sleeve, segments=20),
            "Conductor Tailcoat",
            arm_weights,
        ),
        mesh_part(
            lathe((0, 0, 1.415), (side, 0, 0), (0, 0, 1), profile=cuff, segments=20),
            "Conductor Shirt",
            f"forearm.{suffix}",
        ),
        *_hand_parts(side, suffix),
    ]


FINGER_RADIUS_M = {"thumb": 0.0095, "index": 0.0085, "middle": 0.0088, "ring": 0.0082, "pinky": 0.0072}


def _hand_parts(side: int, suffix: str) -> list[MeshPart]:
    """One hand, palm down at rest: a flat palm on the hand bone and a rounded capsule for each
    joint of each finger on its own bone (so the fingers curl, point and grip)."""
    palm_length = KNUCKLES_X_M - WRIST_X_M + 0.012
    palm = lathe(
        (side * (WRIST_X_M - 0.006), -0.001, SHOULDER_HEIGHT_M - 0.004),
        (side, 0, 0),
        (0, side, 0),
        profile=capsule_profile([(0.012, 0.03), (0.05, 0.042), (palm_length - 0.008, 0.04)], 3),
        scale_v=0.32,
        segments=16,
    )
    parts = [mesh_part(palm, "Conductor Skin", f"hand.{suffix}")]
    for bone in CONDUCTOR_BONES:
        finger = bone.name.partition(".")[0]
        if bone.name[-1] != suffix or finger not in FINGER_RADIUS_M:
            continue
        head, tail = np.asarray(bone.head), np.asarray(bone.tail)
        length = float(np.linalg.norm(tail - head))
        axis = (tail - head) / length
        across = np.cross(axis, (0.0, 0.0, 1.0))
        radius = FINGER_RADIUS_M[finger] * (0.9 if bone.name.split(".")[1] == "03" else 1.0)
        profile = capsule_profile([(0.0, radius), (length, 0.92 * radius)], 3)
        shape = lathe(head, axis, across / np.linalg.norm(across), profile=profile, segments=10)
        parts.append(mesh_part(shape, "Conductor Skin", bone.name))
    return parts


def _leg_parts() -> list[MeshPart]:
    """Legs, which follow the hips more the higher they are, and shoes, which stay on the floor."""
    parts = []
    for side in (-1, 1):
        leg = [(0.04, 0.0), (0.05, 0.048), (0.50, 0.058), (0.90, 0.075), (1.00, 0.07), (1.02, 0.0)]
        leg_shape = lathe((side * 0.09, 0, 0), _Z_AXIS, _X_AXIS, profile=leg, segments=16)
        parts.append(
            mesh_part(
                leg_shape, "Conductor Tailcoat", lambda verts: {"hips": np.clip((verts[:, 2] - 0.55) / 0.45, 0, 1)}
            )
        )
        shoe = ellipsoid((side * 0.09, -0.045, 0.035), (0.05, 0.125, 0.04), 16)
        parts.append(mesh_part(shoe, "Conductor Shoes", {}))
    return parts


def baton_parts(head: ArrayLike, tail: ArrayLike) -> list[MeshPart]:
    """A white baton with a cork grip from ``head`` (the hand) to ``tail`` (the tip), metres."""
    head, tail = np.asarray(head, dtype=np.float64), np.asarray(tail, dtype=np.float64)
    length = float(np.linalg.norm(tail - head))
    axis = (tail - head) / length
    up = np.array([0.0, 0.0, 1.0])
    grip = [(-0.035, 0.0), (-0.034, 0.008), (-0.02, 0.013), (0.01, 0.012), (0.03, 0.0075), (0.031, 0.0)]
    shaft = [(0.02, 0.0), (0.021, 0.0045), (length - 0.01, 0.0016), (length, 0.0)]
    return [
        mesh_part(lathe(head, axis, up, profile=grip, segments=16), "Conductor Cork", {}),
        mesh_part(lathe(head, axis, up, profile=shaft, segments=12), "Conductor Baton", {}),
    ]
