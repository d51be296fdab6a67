"""Every difference between the Blender versions the add-on supports (4.2 LTS to 5.0), in one place.

Differences are detected by feature (``hasattr``), never by version number:

- Animation: 4.4 moved F-Curves from ``Action.fcurves`` into layered actions (slots, layers,
  keyframe strips, channelbags); 5.0 removed ``Action.fcurves`` and ``Action.groups``.
- Sequencer: 5.0 renamed ``SequenceEditor.sequences`` to ``strips``; 5.1 renamed
  ``Strip.frame_start`` to ``content_start`` and ``frame_final_start/end`` to
  ``left_handle``/``right_handle`` (the old names warn, and go in 6.0).
- Materials: before 5.0 a new material has no node tree until ``use_nodes`` is set.
- Sound: the 4.2 ``bpy`` wheel is built without audaspace, so it cannot load sound strips.
- Properties: 5.0 warns on a "//" (blend-relative) path unless the property has the option
  ``PATH_SUPPORTS_BLEND_RELATIVE``, which 4.2 rejects.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import bpy

ACTION_LAYER_NAME = "Layer"


# ---------------------------------------------------------------------------------- properties
# The ``options`` of a file path StringProperty: where the option exists (5.0), "//" paths must
# be declared as supported; 4.2 has no such option and raises ValueError on it.
PATH_OPTIONS: set[str] = (
    {"PATH_SUPPORTS_BLEND_RELATIVE"}
    if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties
    else set()
)


# ---------------------------------------------------------------------------------- context
@contextlib.contextmanager
def context_override(**members: Any) -> Iterator[None]:
    """``bpy.context.temp_override(**members)`` as a context manager (the 5.2 API stubs give
    its result no ``__enter__``, so the one place that says so is here)."""
    with bpy.context.temp_override(**members):  # type: ignore[attr-defined]  # the 5.2 stubs
        yield


def register_scene_pointer(name: str, group: type) -> None:
    """``bpy.types.Scene.<name> = PointerProperty(type=group)``: a property added at run time
    (the stubs before 5.2 type PointerProperty() as returning None)."""
    setattr(bpy.types.Scene, name, bpy.props.PointerProperty(type=group))  # type: ignore[func-returns-value]


# ---------------------------------------------------------------------------------- animation
def has_layered_actions() -> bool:
    """True where actions hold F-Curves in slots and channelbags (Blender 4.4 and later)."""
    return "slots" in bpy.types.Action.bl_rna.properties


class ActionWriter:
    """Creates the F-Curves of one new action meant for one object.

    Parameters
    ----------
    action : bpy.types.Action
        A new, empty action.
    id_name : str
        Name of the object it animates; names the action slot where slots exist.
    """

    def __init__(self, action: bpy.types.Action, id_name: str) -> None:
        self.action = action
        self.slot = None
        self._channelbag = None
        if has_layered_actions():
            self.slot = action.slots.new(id_type="OBJECT", name=id_name)  # type: ignore[attr-defined]  # 4.4+
            layer = action.layers.new(ACTION_LAYER_NAME)  # type: ignore[attr-defined]  # 4.4+
            strip = layer.strips.new(type="KEYFRAME")
            # A keyframe strip; the stubs type strips.new() as the base ActionStrip.
            self._channelbag = strip.channelbag(self.slot, ensure=True)  # type: ignore[attr-defined]
        self._groups: dict[str, Any] = {}

    def new_fcurve(self, data_path: str, index: int, group: str | None) -> bpy.types.FCurve:
        """A new F-Curve for ``data_path[index]``, inside the group called ``group`` if given."""
        if self._channelbag is None:
            if group is None:
                return self.action.fcurves.new(data_path, index=index)  # type: ignore[attr-defined]  # before 5.0
            return self.action.fcurves.new(  # type: ignore[attr-defined]  # before 5.0
                data_path, index=index, action_group=group
            )
        fcurve = self._channelbag.fcurves.new(data_path, index=index)
        if group is not None:
            channel_group = self._groups.get(group)
            if channel_group is None:
                channel_group = self._channelbag.groups.new(group)
                self._groups[group] = channel_group
            fcurve.group = channel_group
        return fcurve


def action_fcurves(action: bpy.types.Action, slot: Any = None) -> list[bpy.types.FCurve]:
    """All F-Curves of ``action`` (of ``slot`` only, where slots exist and one is given)."""
    if not has_layered_actions():
        return list(action.fcurves)  # type: ignore[attr-defined]  # before 5.0
    fcurves: list[bpy.types.FCurve] = []
    for layer in action.layers:  # type: ignore[attr-defined]  # 4.4+
        for strip in layer.strips:
            if not hasattr(strip, "channelbags"):
                continue
            for channelbag in strip.channelbags:
                if slot is None or channelbag.slot_handle == slot.handle:
                    fcurves.extend(channelbag.fcurves)
    return fcurves


def find_fcurve(action: bpy.types.Action, data_path: str, index: int = 0) -> Any:
    """The F-Curve of ``action`` for ``data_path[index]``, or None."""
    for fcurve in action_fcurves(action):
        if fcurve.data_path == data_path and fcurve.array_index == index:
            return fcurve
    return None


def fcurve_group_names(action: bpy.types.Action) -> list[str]:
    """Names of the F-Curve groups of ``action``, in order."""
    if not has_layered_actions():
        return [group.name for group in action.groups]  # type: ignore[attr-defined]  # before 5.0
    names: list[str] = []
    for layer in action.layers:  # type: ignore[attr-defined]  # 4.4+
        for strip in layer.strips:
            for channelbag in getattr(strip, "channelbags", ()):
                names.extend(group.name for group in channelbag.groups)
    return names


def assign_action(obj: bpy.types.Object, action: Any, slot: Any = None) -> None:
    """Make ``action`` (with ``slot`` where slots exist) the active action of ``obj``.

    ``action`` None clears it. The slot is assigned after the action, as Blender requires.
    """
    animation_data = obj.animation_data or obj.animation_data_create()
    animation_data.action = action
    if action is not None and slot is not None and hasattr(animation_data, "action_slot"):
        animation_data.action_slot = slot


def get_action_and_slot(obj: bpy.types.Object) -> tuple[Any, Any]:
    """The active action of ``obj`` and its slot (None where there is none or no slots)."""
    animation_data = obj.animation_data
    if animation_data is None:
        return None, None
    return animation_data.action, getattr(animation_data, "action_slot", None)


def new_nla_strip(obj: bpy.types.Object, action: Any, slot: Any, name: str, start: int) -> Any:
    """Push ``action`` into a new NLA track on top of ``obj``'s stack; returns the track."""
    animation_data = obj.animation_data or obj.animation_data_create()
    track = animation_data.nla_tracks.new()
    track.name = name
    strip = track.strips.new(name, int(start), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    return track


def set_object_id_root(action: bpy.types.Action) -> None:
    """Mark ``action`` as animating objects where actions have ``id_root`` (before 5.0)."""
    if "id_root" in action.bl_rna.properties:
        action.id_root = "OBJECT"  # type: ignore[attr-defined]  # before 5.0


def remove_action(action: Any) -> None:
    """Delete ``action`` from the file, whoever uses it."""
    if action is not None and action.name in bpy.data.actions:
        bpy.data.actions.remove(action, do_unlink=True)


# ---------------------------------------------------------------------------------- sequencer
def can_load_sound() -> bool:
    """True where this Blender was built with audaspace and can load sound strips."""
    return bool(getattr(bpy.app.build_options, "audaspace", False))


def _strip_collection(scene: bpy.types.Scene) -> Any:
    editor = scene.sequence_editor
    if editor is None:
        return None
    return editor.strips if hasattr(editor, "strips") else editor.sequences  # type: ignore[attr-defined]  # before 5.0


def iter_strips(scene: bpy.types.Scene) -> Iterator[Any]:
    """The top-level sequencer strips of ``scene`` (nothing when it has no sequence editor)."""
    strips = _strip_collection(scene)
    return iter(()) if strips is None else iter(list(strips))


def new_sound_strip(scene: bpy.types.Scene, name: str, filepath: str, channel: int, frame_start: int) -> Any:
    """Add the sound file ``filepath`` as a strip starting at ``frame_start`` on ``channel``."""
    if scene.sequence_editor is None:
        scene.sequence_editor_create()
    return _strip_collection(scene).new_sound(
        name=name, filepath=filepath, channel=int(channel), frame_start=int(frame_start)
    )


def remove_strip(scene: bpy.types.Scene, strip: Any) -> None:
    """Delete ``strip`` from ``scene``'s sequencer."""
    strips = _strip_collection(scene)
    if strips is not None:
        strips.remove(strip)


def strip_start(strip: Any) -> float:
    """The frame where ``strip``'s content starts (5.1 renamed ``frame_start`` ``content_start``)."""
    return strip.content_start if hasattr(strip, "content_start") else strip.frame_start


def strip_range(strip: Any) -> tuple[int, int]:
    """(first frame, frame after the last) that ``strip`` plays: its handles (5.1 renamed
    ``frame_final_start``/``frame_final_end`` ``left_handle``/``right_handle``)."""
    if hasattr(strip, "left_handle"):
        return int(strip.left_handle), int(strip.right_handle)
    return int(strip.frame_final_start), int(strip.frame_final_end)


def free_channel(scene: bpy.types.Scene, frame_start: int, frame_end: int, *, ignoring: Any = None) -> int:
    """The lowest sequencer channel with no strip (but ``ignoring``) overlapping ``[frame_start, frame_end)``."""
    busy: set[int] = set()
    for strip in iter_strips(scene):
        if ignoring is not None and strip.name == ignoring.name:
            continue
        first, after_last = strip_range(strip)
        if first < frame_end and after_last > frame_start:
            busy.add(strip.channel)
    channel = 1
    while channel in busy:
        channel += 1
    return channel


# ---------------------------------------------------------------------------------- materials
def material_node_tree(material: bpy.types.Material) -> Any:
    """The shader node tree of ``material``, switching nodes on where Blender needs that."""
    if material.node_tree is None and "use_nodes" in material.bl_rna.properties:
        material.use_nodes = True
    return material.node_tree


# ---------------------------------------------------------------------------------- rendering
def set_video_output(image_settings: Any) -> None:
    """Make render output a video file (5.0 added ``media_type``; 4.2 has only the FFMPEG format)."""
    if "media_type" in image_settings.bl_rna.properties:
        image_settings.media_type = "VIDEO"
    image_settings.file_format = "FFMPEG"


def set_png_output(image_settings: Any) -> None:
    """Make render output a PNG image (5.0 added ``media_type``)."""
    if "media_type" in image_settings.bl_rna.properties:
        image_settings.media_type = "IMAGE"
    image_settings.file_format = "PNG"


def use_eevee(render: Any) -> None:
    """Make EEVEE the render engine: 'BLENDER_EEVEE_NEXT' in 4.2 and 4.3, 'BLENDER_EEVEE' from 4.4."""
    try:
        render.engine = "BLENDER_EEVEE_NEXT"
    except TypeError:
        render.engine = "BLENDER_EEVEE"
