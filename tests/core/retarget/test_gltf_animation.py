"""core.retarget.gltf_animation: quaternions, the file round trip and the animation it adds
(against Blender's own exporter: tests/addon/test_scene.py)."""

from __future__ import annotations

import json

import numpy as np

from core.retarget import gltf_animation as gltf


def random_rotations(count: int, seed: int = 0) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(count, 4))
    return gltf.quaternion_matrices(q / np.linalg.norm(q, axis=1, keepdims=True))


def test_decompose_gives_back_translation_rotation_and_a_mirrored_scale():
    matrices = np.tile(np.eye(4), (3, 1, 1))
    rotations = random_rotations(3, seed=5)
    scales = np.array([[1.0, 2.0, 0.5], [-1.0, 1.0, 1.0], [0.01, 0.01, 0.01]])
    matrices[:, :3, :3] = rotations * scales[:, None, :]
    matrices[:, :3, 3] = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-5.0, 0.5, 0.25]]
    translation, rotation, scale = gltf.decompose(matrices)
    assert np.allclose(translation, matrices[:, :3, 3]) and np.allclose(scale, scales, atol=1e-6)
    assert np.allclose(gltf.quaternion_matrices(rotation.astype(np.float64)), rotations, atol=1e-6)


def test_quaternions_and_matrices_round_trip_for_every_branch():
    rotations = np.concatenate([random_rotations(500), np.eye(3)[None], np.diag([1.0, -1.0, -1.0])[None]])
    rotations = np.concatenate([rotations, np.diag([-1.0, 1.0, -1.0])[None], np.diag([-1.0, -1.0, 1.0])[None]])
    quaternions = gltf.matrix_quaternions(rotations)
    assert np.allclose(np.linalg.norm(quaternions, axis=1), 1.0) and (quaternions[:, 3] >= 0).all()
    assert np.abs(gltf.quaternion_matrices(quaternions) - rotations).max() < 1e-12


def test_continuous_quaternions_never_turn_the_long_way():
    q = gltf.matrix_quaternions(random_rotations(200, seed=1))
    flipped = gltf.continuous(np.where(np.arange(200)[:, None] % 3 == 0, -q, q))
    assert (np.sum(flipped[1:] * flipped[:-1], axis=1) >= 0).all()
    assert np.allclose(np.abs(np.sum(flipped * q, axis=1)), 1.0)  # each the same rotation


def document_with_a_chain():
    """An armature node with two joints (root, child) and a node without a transform."""
    return {
        "asset": {"version": "2.0"},
        "nodes": [
            {"name": "Rig", "children": [1], "rotation": [0.0, 0.0, 0.7071068, 0.7071068]},
            {"name": "upper", "children": [2], "translation": [0.0, 1.0, 0.0]},
            {"name": "lower", "translation": [0.0, 0.5, 0.0], "scale": [1.0, 2.0, 1.0]},
            {"name": "alone"},
        ],
    }


def test_a_glb_and_a_gltf_round_trip(tmp_path):
    for suffix in (".glb", ".gltf"):
        file = gltf.GltfFile(
            document_with_a_chain(), bytearray(b"abc"), None if suffix == ".glb" else tmp_path / "x.bin"
        )
        gltf.write_gltf(file, tmp_path / f"x{suffix}")
        back = gltf.read_gltf(tmp_path / f"x{suffix}")
        assert back.binary == bytearray(b"abc") + (bytearray(b"\0") if suffix == ".glb" else bytearray())
        assert back.document["nodes"] == document_with_a_chain()["nodes"]
        assert back.document["buffers"][0]["byteLength"] == len(back.binary if suffix == ".gltf" else b"abc")


def test_a_bone_at_rest_gives_its_nodes_own_transform_and_no_channel():
    document = document_with_a_chain()
    rest = np.tile(np.eye(4), (2, 1, 1))
    rest[1, :3, 3] = (0.0, 0.0, 0.5)
    locals_ = gltf.joint_locals(document, [1, 2], world_from_armature=np.eye(4), rest=rest, posed=rest[None])
    assert np.allclose(locals_[0, 0], gltf.local_matrix(document["nodes"][1]))
    assert np.allclose(locals_[0, 1], gltf.local_matrix(document["nodes"][2]))
    file = gltf.GltfFile(document, bytearray(), None)
    trs = dict(zip(("translation", "rotation", "scale"), gltf.decompose(locals_)))
    assert gltf.add_animation(file, name="still", times_s=np.array([0.0]), joints=[1, 2], **trs) == 0
    assert "animations" not in document


def test_a_turned_root_turns_its_child_and_only_changed_channels_are_written(tmp_path):
    document = document_with_a_chain()
    rest = np.tile(np.eye(4), (2, 1, 1))
    turn = np.eye(4)
    turn[:3, :3] = random_rotations(1, seed=3)[0]
    posed = np.stack([rest, np.stack([turn @ rest[0], turn @ rest[1]])])  # (2 samples, 2 joints)
    locals_ = gltf.joint_locals(document, [1, 2], world_from_armature=np.eye(4), rest=rest, posed=posed)
    worlds = gltf.node_worlds(document)
    root_world = worlds[0] @ locals_[1, 0]
    assert np.allclose(root_world, turn @ worlds[1])  # the bone turned about the armature's origin
    assert np.allclose(locals_[1, 1], gltf.local_matrix(document["nodes"][2]))  # the child rides along
    file = gltf.GltfFile(document, bytearray(), tmp_path / "x.bin")
    trs = dict(zip(("translation", "rotation", "scale"), gltf.decompose(locals_)))
    written = gltf.add_animation(file, name="turn", times_s=np.array([0.0, 0.5]), joints=[1, 2], **trs)
    (animation,) = document["animations"]
    assert written == 2 and {c["target"]["path"] for c in animation["channels"]} == {"rotation", "translation"}
    times = document["accessors"][animation["samplers"][0]["input"]]
    assert (times["min"], times["max"], times["count"]) == ([0.0], [0.5], 2)
    gltf.write_gltf(file, tmp_path / "x.gltf")
    assert (
        json.loads((tmp_path / "x.gltf").read_text())["buffers"][0]["byteLength"] == (tmp_path / "x.bin").stat().st_size
    )
