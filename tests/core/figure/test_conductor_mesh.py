"""The conductor figure's meshes without Blender: closed, outward, fully weighted to real bones."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.figure.mesh import baton_parts, body_parts, lathe, weight_ramps
from core.figure.rig import CONDUCTOR_BONE_NAMES


def edge_counts(faces) -> Counter:
    return Counter(tuple(sorted((face[i], face[(i + 1) % len(face)]))) for face in faces for i in range(len(face)))


@pytest.mark.parametrize("part", body_parts() + baton_parts((0.8, 0, 1.4), (1.2, 0, 1.4)), ids=lambda p: p.material)
def test_every_part_is_a_closed_outward_surface(part) -> None:
    assert set(edge_counts(part.faces).values()) == {2}  # watertight: each edge shared by two faces
    centre = part.verts.mean(axis=0)
    outward = 0.0
    for face in part.faces:
        corners = part.verts[list(face)]
        normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
        outward += float(normal @ (corners.mean(axis=0) - centre))
    assert outward > 0  # wound outward (the shading and the armature deform depend on it)


def test_skinned_parts_sum_to_one_on_real_bones() -> None:
    for part in body_parts():
        if not part.weights:
            continue  # the shoes stay on the floor
        assert set(part.weights) <= set(CONDUCTOR_BONE_NAMES)
        total = sum(part.weights.values())
        assert np.all(total <= 1.0 + 1e-9) and np.all(total >= 0)
        if len(part.weights) > 1:  # a part across joints is fully weighted (the legs fade out of the hips)
            assert np.allclose(total, 1.0), part.material


def test_weight_ramps_hand_over_smoothly() -> None:
    z = np.linspace(0.0, 2.0, 201)
    weights = weight_ramps(z, [("a", 0.5), ("b", 1.5), ("c", 0.0)], 0.2)
    assert np.allclose(sum(weights.values()), 1.0)
    assert weights["a"][0] == 1.0 and weights["c"][-1] == 1.0 and weights["b"][100] == 1.0
    assert np.all(np.abs(np.diff(weights["b"])) <= 0.1 + 1e-9)  # no jump: 0.01 m steps over a 0.2 m ramp


def test_a_lathe_with_poles_closes_both_ends() -> None:
    verts, faces = lathe((0, 0, 0), (0, 0, 1), (1, 0, 0), profile=[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)], segments=8)
    assert verts.shape == (10, 3) and len(faces) == 16 and set(edge_counts(faces).values()) == {2}
