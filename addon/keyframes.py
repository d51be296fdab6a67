"""Bulk keyframe writing: arrays of frames and values into one new Action, without per-key calls.

``keyframe_insert`` costs about 2 ms a key; here each F-Curve takes all its keys in one
``keyframe_points.add`` and one ``foreach_set`` (a 10-minute piece in well under a second),
less the keys that linear interpolation reproduces (a key costs Blender 87 bytes, and a render's
evaluated copy as much again).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

import bpy
import numpy as np

from ..core.retarget.key_reduction import linear_key_indices
from . import compat

INTERPOLATIONS = ("CONSTANT", "LINEAR", "BEZIER")
# Blender's Keyframe.interpolation enum values, for foreach_set.
_INTERPOLATION_VALUE = {"CONSTANT": 0, "LINEAR": 1, "BEZIER": 2}
_BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]')


@dataclasses.dataclass
class Curves:
    """Keys for one animated property.

    Attributes
    ----------
    frames : np.ndarray [shape=(N,), float]
        Scene frame of each key, increasing.
    values : np.ndarray [shape=(N, C), float]
        One column per array index of the property (4 for a quaternion, 3 for a location).
    group : str or None
        F-Curve group (the bone name for pose bones).
    """

    frames: np.ndarray
    values: np.ndarray
    group: str | None = None


@dataclasses.dataclass
class WrittenAction:
    """What :func:`write_action` made: the action, its slot (None before Blender 4.4), counts."""

    action: Any
    slot: Any
    fcurve_count: int
    key_count: int
    frame_start: int
    frame_end: int
    nla_track: Any = None


def scene_fps(scene: bpy.types.Scene) -> float:
    """The scene's real frame rate in frames per second (``fps / fps_base``, e.g. 29.97)."""
    return scene.render.fps / scene.render.fps_base


def key_indices(frame_count: int, keyframe_step: int) -> np.ndarray:
    """Indices of the frames that get a key: every ``keyframe_step``-th, and always the last.

    Returns
    -------
    np.ndarray [shape=(K,), int64]
    """
    if frame_count < 1:
        return np.zeros(0, dtype=np.int64)
    step = max(1, int(keyframe_step))
    indices = np.arange(0, frame_count, step, dtype=np.int64)
    if indices[-1] != frame_count - 1:
        indices = np.append(indices, frame_count - 1)
    return indices


def bone_curves(animation: Any, *, start_frame: int = 1, keyframe_step: int = 1) -> dict[str, Curves]:
    """The F-Curve data of a retargeted animation, keyed by RNA data path.

    Parameters
    ----------
    animation : core.retarget.BoneAnimation
        ``rotation_quaternion[bone]`` (T, 4) w, x, y, z and ``location[bone]`` (T, 3) metres,
        one row per scene frame.
    start_frame : int
        Scene frame of row 0.
    keyframe_step : int >= 1
        Key every n-th row (and the last).
    """
    curves: dict[str, Curves] = {}
    channels = (("rotation_quaternion", animation.rotation_quaternion), ("location", animation.location))
    for prop, per_bone in channels:
        for bone, values in per_bone.items():
            values = np.asarray(values, dtype=np.float64)
            indices = key_indices(values.shape[0], keyframe_step)
            path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].{prop}'
            curves[path] = Curves(frames=indices + float(start_frame), values=values[indices], group=bone)
    return curves


def group_of(data_path: str) -> str | None:
    """The bone name in a ``pose.bones["name"]...`` path, else None."""
    match = _BONE_PATH.match(data_path)
    return None if match is None else bpy.utils.unescape_identifier(match.group(1))


def write_action(
    obj: bpy.types.Object,
    name: str,
    curves: Mapping[str, Curves | tuple[np.ndarray, np.ndarray]],
    *,
    interpolation: str = "LINEAR",
    use_nla: bool = False,
    key_tolerance: float = 0.0,
) -> WrittenAction:
    """Write ``curves`` into one new Action and give it to ``obj``.

    ``obj`` is its user (no fake user: an action nobody plays is not kept). Without ``use_nla``
    it becomes ``obj``'s active action; with it, it goes into a new NLA track on top of ``obj``'s
    stack and the active action is cleared.

    Parameters
    ----------
    curves : mapping of data path -> Curves or (frames (N,), values (N, C))
        A plain tuple is grouped by the bone of its ``pose.bones[...]`` path.
    interpolation : "CONSTANT", "LINEAR" or "BEZIER"
    key_tolerance : float >= 0
        With LINEAR interpolation, each F-Curve drops the keys that the line between its
        neighbours reproduces within this (:func:`core.retarget.key_reduction.linear_key_indices`);
        0 keeps them all.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    action = bpy.data.actions.new(name)
    try:
        compat.set_object_id_root(action)
        writer = compat.ActionWriter(action, obj.name)
        fcurve_count = key_count = 0
        first, last = np.inf, -np.inf
        for data_path, entry in curves.items():
            if not isinstance(entry, Curves):
                entry = Curves(entry[0], entry[1], group_of(data_path))
            frames = np.asarray(entry.frames, dtype=np.float32)
            values = np.asarray(entry.values, dtype=np.float32)
            if values.ndim == 1:
                values = values[:, None]
            if frames.size == 0:
                continue
            first, last = min(first, float(frames[0])), max(last, float(frames[-1]))
            for index in range(values.shape[1]):
                fcurve = writer.new_fcurve(data_path, index, entry.group)
                kept: slice | np.ndarray = slice(None)
                if interpolation == "LINEAR" and key_tolerance > 0:
                    kept = linear_key_indices(values[:, index], key_tolerance, positions=frames)
                _fill(fcurve, frames[kept], values[kept, index], interpolation)
                fcurve_count += 1
                key_count += frames[kept].size
        nla_track = None
        if use_nla:
            nla_track = compat.new_nla_strip(obj, action, writer.slot, name, int(first))
            compat.assign_action(obj, None)
        else:
            compat.assign_action(obj, action, writer.slot)
    except BaseException:
        compat.remove_action(action)
        raise
    frame_start = int(first) if fcurve_count else 0
    frame_end = int(last) if fcurve_count else 0
    return WrittenAction(action, writer.slot, fcurve_count, key_count, frame_start, frame_end, nla_track)


def _fill(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray, interpolation: str) -> None:
    """Give ``fcurve`` one key per (frame, value) pair in three bulk calls."""
    count = frames.size
    points = fcurve.keyframe_points
    points.add(count)
    co = np.empty(2 * count, dtype=np.float32)  # (frame, value) interleaved
    co[0::2] = frames
    co[1::2] = values
    points.foreach_set("co", co)
    if points[0].interpolation != interpolation:  # new keys are BEZIER: skip the call then
        points.foreach_set("interpolation", np.full(count, _INTERPOLATION_VALUE[interpolation], np.int32))
    fcurve.update()
