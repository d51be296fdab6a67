"""The motion a run keyed, kept in the .blend with its action, so later exports can read it back.

Every run (the panel's *Generate*, headless ``generate``, ``batch``, ``render``) keeps the
generated :class:`~core.motion.keypoints.Motion` on the action it writes, as two custom properties: the
metadata as JSON and the keypoints as float32 bytes (:meth:`Motion.to_bytes`). Both cost time
linear in the piece's length (a 2-hour piece stores in well under a second), travel with the
action when it is appended to another file, and disappear with it. Their names start with "_",
so Blender's Custom Properties panels do not draw them. The scene remembers which armature was
animated last (:data:`ARMATURE_KEY`), which is the one ``export`` writes.

Files from before this format kept the motion as one line of JSON in the text block
:data:`LEGACY_TEXT`; :func:`stored_motion` still reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from ..core.errors import ConductorError
from ..core.motion.keypoints import Motion
from . import compat

METADATA_KEY = "_virtual_conductor_motion"  # action property: Motion.metadata() as JSON
KEYPOINTS_KEY = "_virtual_conductor_keypoints"  # action property: float32 (T, 13, 2) bytes
ARMATURE_KEY = "virtual_conductor_armature"  # scene property: the armature animated last
LEGACY_TEXT = "Conductor Motion.json"  # text block of files written before the action properties


def keep_motion(action: Any, motion: Motion) -> None:
    """Store ``motion`` on ``action`` (replacing what it held)."""
    metadata_json, keypoints = motion.to_bytes()
    action[METADATA_KEY] = metadata_json
    action[KEYPOINTS_KEY] = keypoints


def is_take(action: Any) -> bool:
    """Whether ``action`` is one of this tool's takes (it keeps a motion), without decoding it."""
    return action is not None and METADATA_KEY in action.keys() and KEYPOINTS_KEY in action.keys()


def motion_of(action: Any) -> Motion | None:
    """The motion kept on ``action``, or None when it holds none."""
    if action is None or METADATA_KEY not in action.keys() or KEYPOINTS_KEY not in action.keys():
        return None
    keypoints = action[KEYPOINTS_KEY]
    if not isinstance(keypoints, bytes):  # edited by hand into something else
        raise ConductorError(f"The motion kept on action '{action.name}' is damaged; generate the conducting again.")
    return Motion.from_bytes(str(action[METADATA_KEY]), keypoints)


def stored_motion(scene: Any) -> tuple[Any, Motion]:
    """(armature, motion) of the last run in ``scene``: the motion on the armature's active
    action, else on its newest NLA strip holding one, else in an older file's text block."""
    armature = scene.objects.get(scene.get(ARMATURE_KEY, ""))
    if armature is not None:
        for action in _actions_newest_first(armature):
            motion = motion_of(action)
            if motion is not None:
                return armature, motion
        legacy = bpy.data.texts.get(LEGACY_TEXT)
        if legacy is not None:
            return armature, _legacy_motion(legacy.as_string())
    raise ConductorError(
        f"'{Path(bpy.data.filepath).name}' holds no conducting made by this tool; "
        "generate it first (the panel's Generate or the 'generate' command)."
    )


def _actions_newest_first(armature: Any) -> list[Any]:
    action, _slot = compat.get_action_and_slot(armature)
    actions = [action] if action is not None else []
    animation_data = armature.animation_data
    if animation_data is not None:
        for track in reversed(list(animation_data.nla_tracks)):
            actions.extend(strip.action for strip in reversed(list(track.strips)) if strip.action is not None)
    return actions


def _legacy_motion(text: str) -> Motion:
    try:
        document = json.loads(text)
        keypoints = np.asarray(document.pop("keypoints"), dtype=np.float32)
    except (ValueError, KeyError, TypeError) as error:
        raise ConductorError(
            f"The text block '{LEGACY_TEXT}' is not a motion ({type(error).__name__}); generate the conducting again."
        ) from error
    return Motion.from_metadata(keypoints, document)
