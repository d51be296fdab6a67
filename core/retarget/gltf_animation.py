"""A rig's sampled animation added to a glTF file that Blender's exporter wrote without one.

Blender's glTF exporter samples a rig at every frame well, but turns each sample of each bone
into Python objects: a 120-s Rigify export spends most of its 30 s there. Here the caller (the
add-on's export) samples the bones itself, one array a frame, and this module writes the
animation into the file: the same joints, times and linear samplers, so any glTF reader plays
what the .blend plays.

The joints' motion is taken from the file itself, so it does not depend on how an exporter
version lays out bone axes: a bone that moves from its rest matrix ``A`` to ``M(t)`` (both in
the armature's space) moves its joint node's world matrix from ``G`` (the file's rest pose) to
``K M(t) A^-1 K^-1 G``, with ``K`` the armature's world matrix in glTF's Y-up space; a joint's
local matrix is then its parent node's world matrix at ``t``, inverted, times its own. Plain
numpy and the standard library.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np

# Blender's world (Z up, -Y forward) to glTF's (Y up, +Z forward): (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP_4X4 = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942
_FLOAT = 5126  # glTF componentType FLOAT
UNCHANGED_TOLERANCE = 1e-6  # a channel this close to its node's own value at every sample is left out


@dataclasses.dataclass
class GltfFile:
    """A glTF document and its one binary buffer.

    Attributes
    ----------
    document : dict
        The JSON document.
    binary : bytearray
        Buffer 0's bytes (a .glb's BIN chunk, or a .gltf's .bin file).
    bin_path : Path or None
        The .bin file of a .gltf; None for a .glb.
    """

    document: dict
    binary: bytearray
    bin_path: Path | None


def read_gltf(path: Path) -> GltfFile:
    """A .glb (one JSON and at most one BIN chunk) or a .gltf with one external .bin buffer."""
    data = path.read_bytes()
    if path.suffix.lower() == ".glb":
        magic, _version, _length = struct.unpack_from("<III", data, 0)
        if magic != _GLB_MAGIC:
            raise ValueError(f"{path.name} is not a binary glTF file")
        offset, document, binary = 12, None, bytearray()
        while offset < len(data):
            length, kind = struct.unpack_from("<II", data, offset)
            chunk = data[offset + 8 : offset + 8 + length]
            if kind == _JSON_CHUNK:
                document = json.loads(chunk)
            elif kind == _BIN_CHUNK:
                binary = bytearray(chunk)
            offset += 8 + length
        if document is None:
            raise ValueError(f"{path.name} has no JSON chunk")
        return GltfFile(document, binary, None)
    document = json.loads(data)
    buffers = document.get("buffers", [])
    if buffers and "uri" in buffers[0] and not buffers[0]["uri"].startswith("data:"):
        bin_path = path.parent / buffers[0]["uri"]
        return GltfFile(document, bytearray(bin_path.read_bytes()), bin_path)
    return GltfFile(document, bytearray(), path.with_suffix(".bin"))


def write_gltf(file: GltfFile, path: Path) -> None:
    """Write ``file`` back as ``path`` (.glb: one file; .gltf: the document and its .bin)."""
    document = file.document
    if file.binary:
        buffers = document.setdefault("buffers", [{}])
        buffers[0]["byteLength"] = len(file.binary)
        if file.bin_path is not None:
            buffers[0]["uri"] = file.bin_path.name
    if path.suffix.lower() != ".glb":
        if file.bin_path is not None and file.binary:
            file.bin_path.write_bytes(bytes(file.binary))
        path.write_text(json.dumps(document, separators=(",", ":")))
        return
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary = bytes(file.binary) + b"\0" * (-len(file.binary) % 4)
    chunks = struct.pack("<II", len(text), _JSON_CHUNK) + text
    if binary:
        chunks += struct.pack("<II", len(binary), _BIN_CHUNK) + binary
    path.write_bytes(struct.pack("<III", _GLB_MAGIC, 2, 12 + len(chunks)) + chunks)


def node_parents(document: dict) -> np.ndarray:
    """Each node's parent node [shape=(N,), int], -1 for a scene's root."""
    parents = np.full(len(document.get("nodes", [])), -1, dtype=int)
    for index, node in enumerate(document.get("nodes", [])):
        for child in node.get("children", []):
            parents[child] = index
    return parents


def local_matrix(node: dict) -> np.ndarray:
    """A node's own transform [shape=(4, 4), float64] from its ``matrix`` or its TRS."""
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T  # stored column-major
    matrix = np.eye(4)
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    matrix[:3, :3] = quaternion_matrices(np.array([[x, y, z, w]], dtype=np.float64))[0]
    matrix[:3, :3] *= np.asarray(node.get("scale", (1.0, 1.0, 1.0)), dtype=np.float64)[None, :]
    matrix[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return matrix


def node_worlds(document: dict) -> np.ndarray:
    """Every node's world matrix at rest (its own transform and its parents') [shape=(N, 4, 4)]."""
    nodes = document.get("nodes", [])
    parents = node_parents(document)
    worlds = np.full((len(nodes), 4, 4), np.nan)

    def world(index: int) -> np.ndarray:
        if np.isnan(worlds[index, 0, 0]):
            own = local_matrix(nodes[index])
            worlds[index] = own if parents[index] < 0 else world(int(parents[index])) @ own
        return worlds[index]

    for index in range(len(nodes)):
        world(index)
    return worlds


def quaternion_matrices(quaternions: np.ndarray) -> np.ndarray:
    """Rotation matrices [shape=(..., 3, 3)] of unit quaternions [shape=(..., 4)] stored x, y, z, w."""
    x, y, z, w = np.moveaxis(quaternions, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=-2,
    )


def matrix_quaternions(rotations: np.ndarray) -> np.ndarray:
    """Unit quaternions [shape=(..., 4), x, y, z, w] of rotation matrices [shape=(..., 3, 3)],
    with w >= 0 (the same rotation either sign; see :func:`continuous`)."""
    m = rotations
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = np.stack(  # 4 |q_i|^2 for w, x, y, z: the largest is divided by safely
        [1 + trace, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], 1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2]]
        + [1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]],
        axis=-1,
    )
    largest = np.argmax(candidates, axis=-1)
    s = 2.0 * np.sqrt(np.maximum(np.take_along_axis(candidates, largest[..., None], axis=-1)[..., 0], 1e-300))
    q = np.empty(m.shape[:-2] + (4,))  # x, y, z, w
    for which, (x, y, z, w) in enumerate(
        [
            (m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1], s * s / 4),
            (s * s / 4, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] - m[..., 1, 2]),
            (m[..., 0, 1] + m[..., 1, 0], s * s / 4, m[..., 1, 2] + m[..., 2, 1], m[..., 0, 2] - m[..., 2, 0]),
            (m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], s * s / 4, m[..., 1, 0] - m[..., 0, 1]),
        ]
    ):
        chosen = largest == which
        q[chosen] = np.stack([x, y, z, w], axis=-1)[chosen] / s[chosen][..., None]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q[q[..., 3] < 0] *= -1.0
    return q


def continuous(quaternions: np.ndarray) -> np.ndarray:
    """``quaternions`` [shape=(T, ..., 4)] with signs flipped so that consecutive samples lie in
    the same hemisphere: linear interpolation between them then takes the short way."""
    out = quaternions.copy()
    for t in range(1, out.shape[0]):
        flip = np.sum(out[t] * out[t - 1], axis=-1) < 0
        out[t][flip] *= -1.0
    return out


def joint_locals(
    document: dict, joints: list[int], *, world_from_armature: np.ndarray, rest: np.ndarray, posed: np.ndarray
) -> np.ndarray:
    """The joint nodes' local matrices per sample.

    Parameters
    ----------
    document : dict
        The glTF document (its nodes at rest: the joints' rest world matrices come from it).
    joints : list of int
        The joint nodes, one per bone.
    world_from_armature : np.ndarray [shape=(4, 4)]
        The armature's space into glTF's world (Y up, metres): ``Z_UP_TO_Y_UP_4X4 @ matrix_world``.
    rest : np.ndarray [shape=(J, 4, 4)]
        Each bone's rest matrix in the armature's space (Blender's ``matrix_local``).
    posed : np.ndarray [shape=(T, J, 4, 4)]
        Each bone's posed matrix per sample in the armature's space (the pose bone's ``matrix``).

    Returns
    -------
    np.ndarray [shape=(T, J, 4, 4), float64]
        Each joint node's transform relative to its parent node.
    """
    worlds = node_worlds(document)
    parents = node_parents(document)
    k, k_inverse = world_from_armature, np.linalg.inv(world_from_armature)
    moved = k @ posed @ np.linalg.inv(rest)[None] @ k_inverse  # (T, J, 4, 4): each bone's move, in the world
    joint_worlds = moved @ worlds[joints][None]  # (T, J, 4, 4)
    position = {node: j for j, node in enumerate(joints)}
    parent_worlds = np.empty_like(joint_worlds)
    for j, node in enumerate(joints):
        parent = int(parents[node])
        if parent in position:
            parent_worlds[:, j] = joint_worlds[:, position[parent]]
        else:
            parent_worlds[:, j] = worlds[parent] if parent >= 0 else np.eye(4)
    return np.linalg.inv(parent_worlds) @ joint_worlds


def decompose(locals_: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translation [shape=(..., 3)], rotation [shape=(..., 4), x, y, z, w, w >= 0] and scale
    [shape=(..., 3)] of local matrices [shape=(..., 4, 4)] without shear, all float32."""
    scale = np.linalg.norm(locals_[..., :3, :3], axis=-2)  # column lengths
    mirrored = np.linalg.det(locals_[..., :3, :3]) < 0
    scale[..., 0] = np.where(mirrored, -scale[..., 0], scale[..., 0])
    rotation = matrix_quaternions(locals_[..., :3, :3] / scale[..., None, :])
    return locals_[..., :3, 3].astype(np.float32), rotation.astype(np.float32), scale.astype(np.float32)


def add_animation(
    file: GltfFile,
    *,
    name: str,
    times_s: np.ndarray,
    joints: list[int],
    translation: np.ndarray,
    rotation: np.ndarray,
    scale: np.ndarray,
) -> int:
    """Append an animation of ``joints`` (node indices) sampled at ``times_s`` [shape=(T,),
    seconds, increasing]: ``translation`` [shape=(T, J, 3)], ``rotation`` [shape=(T, J, 4),
    x, y, z, w] and ``scale`` [shape=(T, J, 3)] from :func:`decompose`, as linear samplers, each
    left out where it keeps its node's own value at every sample (the rotations' signs are made
    continuous first). Returns the number of channels written."""
    document = file.document
    nodes = document["nodes"]
    rotation = continuous(rotation)
    channels: list[dict] = []
    samplers: list[dict] = []
    input_accessor = _append_accessor(file, times_s.astype(np.float32)[:, None], "SCALAR", with_bounds=True)
    for j, node in enumerate(joints):
        own_translation, own_rotation, own_scale = decompose(local_matrix(nodes[node]))
        for path, values, still in (
            ("translation", translation[:, j], np.abs(translation[:, j] - own_translation).max()),
            ("rotation", rotation[:, j], 1.0 - np.abs(rotation[:, j] @ own_rotation).min()),
            ("scale", scale[:, j], np.abs(scale[:, j] - own_scale).max()),
        ):
            if still <= UNCHANGED_TOLERANCE:
                continue
            output = _append_accessor(file, values.astype(np.float32), "VEC4" if path == "rotation" else "VEC3")
            samplers.append({"input": input_accessor, "output": output, "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})
    if channels:
        document.setdefault("animations", []).append({"name": name, "channels": channels, "samplers": samplers})
    return len(channels)


def _append_accessor(file: GltfFile, values: np.ndarray, kind: str, *, with_bounds: bool = False) -> int:
    """Append ``values`` [shape=(count, components), float32] to the buffer as a new buffer view
    and accessor; returns the accessor's index."""
    document = file.document
    file.binary += b"\0" * (-len(file.binary) % 4)
    views = document.setdefault("bufferViews", [])
    views.append({"buffer": 0, "byteOffset": len(file.binary), "byteLength": values.nbytes})
    file.binary += np.ascontiguousarray(values, dtype="<f4").tobytes()
    if not document.get("buffers"):
        document["buffers"] = [{"byteLength": 0}]
    accessor = {"bufferView": len(views) - 1, "componentType": _FLOAT, "count": int(values.shape[0]), "type": kind}
    if with_bounds:  # required of an animation's input
        accessor["min"] = [float(v) for v in values.min(axis=0)]
        accessor["max"] = [float(v) for v in values.max(axis=0)]
    accessors = document.setdefault("accessors", [])
    accessors.append(accessor)
    return len(accessors) - 1
