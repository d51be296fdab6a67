"""The sidebar tab "Conductor" in the 3D View: Music, Model, Target, Motion, Generate."""

from __future__ import annotations

import os

import bpy

from .operators import (
    CONDUCTOR_OT_analyse_beats,
    CONDUCTOR_OT_cancel,
    CONDUCTOR_OT_create_conductor,
    CONDUCTOR_OT_generate,
    CONDUCTOR_OT_use_demo_piece,
    runs_procedural,
)
from .properties import get_settings, sound_strips_collection


def needs_torch(settings) -> bool:
    """Whether the panel's settings run the network on PyTorch: a GPU (CUDA, Metal) or BF16; the
    CPU in float32 runs it without (ONNX Runtime, else NumPy)."""
    return not runs_procedural(settings) and (settings.device in ("CUDA", "MPS") or settings.precision == "BF16")


class ConductorPanel(bpy.types.Panel):  # the base of the sidebar panels, never registered itself
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Conductor"
    layout: bpy.types.UILayout  # for type checkers: never None inside draw()

    @classmethod
    def poll(cls, context) -> bool:
        return context.scene is not None and hasattr(context.scene, "virtual_conductor")


class CONDUCTOR_PT_main(ConductorPanel, bpy.types.Panel):
    bl_label = "VirtualConductor"

    def draw(self, context):
        from .preferences import missing_dependencies
        from .worker import PYTHON_ENVIRONMENT_VARIABLE, python_command

        layout = self.layout
        if os.environ.get(PYTHON_ENVIRONMENT_VARIABLE):
            layout.label(text=f"Generating with {python_command()[0]}", icon="CONSOLE")
            return
        settings = get_settings(context)
        missing = missing_dependencies(torch=needs_torch(settings))
        if missing == ["PyTorch"]:
            column = layout.column(align=True)
            column.label(text="A GPU and BF16 need PyTorch: Install PyTorch in", icon="INFO")
            column.label(text="Preferences > Add-ons > VirtualConductor (or choose Device Auto).")
        elif missing:
            column = layout.column(align=True)
            column.label(text=f"Missing: {', '.join(missing)}", icon="ERROR")
            column.label(text="Install the extension's zip for your platform again.")


class CONDUCTOR_PT_music(ConductorPanel, bpy.types.Panel):
    bl_label = "Music"
    bl_parent_id = "CONDUCTOR_PT_main"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = get_settings(context)
        layout.prop(settings, "music_source", expand=True)
        if settings.music_source == "FILE":
            layout.prop(settings, "music_path", text="File")
            if not settings.music_path:
                layout.operator(CONDUCTOR_OT_use_demo_piece.bl_idname, icon="PLAY_SOUND")
            return
        found = sound_strips_collection(context.scene)
        if found is None:
            layout.label(text="This scene has no sequencer strips.", icon="INFO")
        else:
            layout.prop_search(settings, "music_strip", found[0], found[1], text="Strip")


class CONDUCTOR_PT_model(ConductorPanel, bpy.types.Panel):
    bl_label = "Model"
    bl_parent_id = "CONDUCTOR_PT_main"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = get_settings(context)
        layout.prop(settings, "weights")
        procedural = runs_procedural(settings)
        if settings.weights == "OFFICIAL":
            layout.prop(settings, "official_weights_path")
        elif settings.weights == "CUSTOM":
            layout.prop(settings, "custom_weights_path")
        elif settings.weights == "DEFAULT" and procedural:
            layout.label(text="No default weights yet: the procedural conductor runs", icon="INFO")
        elif settings.weights == "NEURAL":
            layout.label(text="Experimental: less exact on the beat than Procedural", icon="INFO")
        if procedural:
            column = layout.column()
            for name in ("meter", "articulation", "gesture_size", "energy", "left_hand_activity"):
                column.prop(settings, name)
        column = layout.column()
        column.prop(settings, "use_random_seed")
        row = column.row()
        row.active = not settings.use_random_seed
        row.prop(settings, "seed")
        column.prop(settings, "variation")
        column = column.column()
        column.active = not procedural  # the procedural conductor runs no network: no device, no precision
        column.prop(settings, "device")
        column.prop(settings, "precision")
        if not procedural and not needs_torch(settings):
            column.label(text="Runs on the CPU, no PyTorch needed", icon="INFO")


class CONDUCTOR_PT_beats(ConductorPanel, bpy.types.Panel):
    bl_label = "Beats"
    bl_parent_id = "CONDUCTOR_PT_main"

    def draw(self, context):
        from ..core.beats.grid import MIDI_SUFFIXES

        layout = self.layout
        layout.use_property_split = True
        settings = get_settings(context)
        layout.prop(settings, "beat_source")
        layout.prop(settings, "tracker")  # Detect's beats and Analyse Beats' markers
        if settings.beat_source == "FILE":
            layout.prop(settings, "beats_file")
            midi = os.path.splitext(settings.beats_file)[1].lower() in MIDI_SUFFIXES
            if midi:
                layout.prop(settings, "find_beats_offset")
            row = layout.row()
            row.active = not (midi and settings.find_beats_offset)
            row.prop(settings, "beats_offset_s")
        row = layout.row()
        row.active = settings.beat_source != "DETECT" and not runs_procedural(settings)
        row.prop(settings, "beat_lock")
        layout.operator(CONDUCTOR_OT_analyse_beats.bl_idname, icon="MARKER_HLT")


class CONDUCTOR_PT_target(ConductorPanel, bpy.types.Panel):
    bl_label = "Target"
    bl_parent_id = "CONDUCTOR_PT_main"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = get_settings(context)
        layout.prop(settings, "target", expand=True)
        if settings.target == "CREATE":
            layout.label(text="A conductor figure is added when you generate.", icon="INFO")
            return
        row = layout.row(align=True)
        row.prop(settings, "armature")
        row.operator(CONDUCTOR_OT_create_conductor.bl_idname, text="", icon="ADD")
        layout.prop(settings, "mapping")
        if settings.mapping == "CUSTOM":
            layout.prop(settings, "mapping_path")


class CONDUCTOR_PT_motion(ConductorPanel, bpy.types.Panel):
    bl_label = "Motion"
    bl_parent_id = "CONDUCTOR_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = get_settings(context)
        layout.prop(settings, "mode", expand=True)
        column = layout.column()
        for name in ("amplitude", "smoothing", "hip_sway", "baton_hand", "mirror"):
            column.prop(settings, name)
        column = layout.column()
        start_frame = column.row()
        start_frame.active = settings.music_source == "FILE"  # a strip's music starts where the strip does
        start_frame.prop(settings, "start_frame")
        for name in ("keyframe_step", "interpolation"):
            column.prop(settings, name)
        key_tolerance = column.row()
        key_tolerance.active = settings.interpolation == "LINEAR"  # the only one it applies to
        key_tolerance.prop(settings, "key_tolerance")
        column = layout.column(heading="Scene")
        add_sound = column.row()
        add_sound.active = settings.music_source == "FILE"
        add_sound.prop(settings, "add_sound", text="Add Music Strip")
        column.prop(settings, "set_scene_range")
        column.prop(settings, "use_nla")
        column.prop(settings, "keep_takes")
        layout.prop(settings, "save_motion_path")


class CONDUCTOR_PT_generate(ConductorPanel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "CONDUCTOR_PT_main"
    bl_options = {"HIDE_HEADER"}

    def draw(self, context):
        layout = self.layout
        settings = get_settings(context)
        if settings.is_running:
            row = layout.row(align=True)
            row.prop(settings, "progress", text=settings.status or "Generating", slider=True)
            row.operator(CONDUCTOR_OT_cancel.bl_idname, text="", icon="CANCEL")
            layout.label(text="The cross cancels; the scene stays as it was.")
            return
        layout.scale_y = 1.4
        layout.operator(CONDUCTOR_OT_generate.bl_idname, icon="PLAY")
        if settings.status:
            layout.scale_y = 1.0
            layout.label(text=settings.status)


classes = (
    CONDUCTOR_PT_main,
    CONDUCTOR_PT_music,
    CONDUCTOR_PT_model,
    CONDUCTOR_PT_beats,
    CONDUCTOR_PT_target,
    CONDUCTOR_PT_motion,
    CONDUCTOR_PT_generate,
)
