"""The add-on's settings on the Scene (``scene.virtual_conductor``) and the job's live state.

``generation_request`` and ``apply_settings`` turn the settings into plain data for the worker
and the scene code; nothing past this module reads the PropertyGroup.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .compat import PATH_OPTIONS

WEIGHTS_ITEMS = (
    ("DEFAULT", "Project Default", "The project's own trained weights, or the procedural conductor until they ship"),
    ("PROCEDURAL", "Procedural (Beat-Exact)", "No network: a conductor that beats time exactly"),
    ("NEURAL", "Our M2S-GAN (Experimental)",
     "The project's own trained generator: it follows the music, less exactly than the procedural conductor"),
    ("OFFICIAL", "Official Checkpoint", "The original M2S-GAN checkpoint file (.pt)"),
    ("CUSTOM", "Custom File", "Weights you trained (.safetensors or .pt)"),
)

MAPPING_ITEMS = (
    ("CONDUCTOR", "Conductor", "The add-on's own conductor rig"),
    ("RIGIFY", "Rigify", "A generated Rigify rig"),
    ("MIXAMO", "Mixamo", "A Mixamo character"),
    ("CUSTOM", "Custom JSON", "A bone mapping file (.json)"),
)


def poll_armature(_settings: bpy.types.PropertyGroup, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


def sound_strips_collection(scene: bpy.types.Scene) -> tuple[object, str] | None:
    """(owner, collection name) of the scene's sequencer strips, or None without a sequencer.

    Blender 5.0 renamed ``sequences_all`` to ``strips_all``; detected by feature.
    """
    editor = scene.sequence_editor
    if editor is None:
        return None
    name = "strips_all" if hasattr(editor, "strips_all") else "sequences_all"
    return editor, name


class CONDUCTOR_PG_settings(bpy.types.PropertyGroup):
    # ---------------------------------------------------------------- music
    music_source: EnumProperty(
        name="Music",
        items=(
            ("FILE", "File", "A music file on disk"),
            ("STRIP", "Sound Strip", "A sound strip already in the sequencer"),
        ),
        default="FILE",
    )
    music_path: StringProperty(
        name="Music File", description="The music to conduct (wav, flac, ogg, mp3)",
        subtype="FILE_PATH", options=PATH_OPTIONS,
    )
    music_strip: StringProperty(name="Sound Strip", description="A sound strip of this scene")

    # ---------------------------------------------------------------- model
    weights: EnumProperty(name="Weights", items=WEIGHTS_ITEMS, default="DEFAULT")
    official_weights_path: StringProperty(
        name="Checkpoint", description="M2SGAN_official_pretrained.pt",
        subtype="FILE_PATH", options=PATH_OPTIONS,
    )
    custom_weights_path: StringProperty(
        name="Weights File", description="A .safetensors or .pt file",
        subtype="FILE_PATH", options=PATH_OPTIONS,
    )
    use_random_seed: BoolProperty(
        name="Random Seed", description="A new performance each run instead of a fixed seed"
    )
    seed: IntProperty(name="Seed", description="Same seed, same motion", min=0, default=0)
    variation: FloatProperty(
        name="Variation",
        description="Scale of the generator's noise, or of the procedural conductor's human irregularity: "
        "0 is the calmest",
        min=0.0, soft_max=2.0, max=4.0, default=1.0,
    )
    beats_per_bar: EnumProperty(
        name="Beats per Bar",
        description="The procedural conductor's pattern: the meter it detects, or the one you know the piece is in",
        items=(
            ("AUTO", "Detect", "Find the meter in the music"),
            ("2", "2", "Two beats a bar (2/4, 2/2, a 6/8 beaten in two)"),
            ("3", "3", "Three beats a bar (3/4, 3/8, a 9/8 beaten in three)"),
            ("4", "4", "Four beats a bar (4/4)"),
            ("6", "6", "Six beats a bar (a slow 6/8)"),
        ),
        default="AUTO",
    )
    device: EnumProperty(
        name="Device",
        items=(
            ("AUTO", "Auto", "The GPU when there is one, else the CPU"),
            ("CPU", "CPU", ""),
            ("CUDA", "CUDA", "An NVIDIA GPU"),
            ("MPS", "Metal", "An Apple GPU"),
        ),
        default="AUTO",
    )

    # ---------------------------------------------------------------- target
    target: EnumProperty(
        name="Target",
        items=(
            ("EXISTING", "Armature", "Animate an armature of the scene"),
            ("CREATE", "Create Conductor", "Add a conductor figure when generating"),
        ),
        default="EXISTING",
    )
    armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=poll_armature)
    mapping: EnumProperty(name="Bone Mapping", items=MAPPING_ITEMS, default="CONDUCTOR")
    mapping_path: StringProperty(
        name="Mapping File", description="A bone mapping (.json)",
        subtype="FILE_PATH", options=PATH_OPTIONS,
    )

    # ---------------------------------------------------------------- motion
    mode: EnumProperty(
        name="Mode",
        items=(("FK", "FK", "Rotate the bones"), ("IK", "IK", "Move the hand and IK targets")),
        default="FK",
    )
    amplitude: FloatProperty(name="Amplitude", min=0.0, soft_max=2.0, max=5.0, default=1.0)
    smoothing: FloatProperty(name="Smoothing", min=0.0, max=1.0, default=0.5, subtype="FACTOR")
    mirror: BoolProperty(name="Mirror", description="Swap left and right")
    baton_hand: EnumProperty(
        name="Baton Hand",
        items=(("RIGHT", "Right", ""), ("LEFT", "Left", "")),
        default="RIGHT",
    )
    hip_sway: FloatProperty(name="Hip Sway", min=0.0, max=1.0, default=0.0, subtype="FACTOR")
    start_frame: IntProperty(name="Start Frame", default=1)
    keyframe_step: IntProperty(
        name="Keyframe Step", description="Key every n-th frame", min=1, max=30, default=1
    )
    interpolation: EnumProperty(
        name="Interpolation",
        items=(("LINEAR", "Linear", ""), ("BEZIER", "Bezier", ""), ("CONSTANT", "Constant", "")),
        default="LINEAR",
    )
    add_sound: BoolProperty(
        name="Add Music to Sequencer", description="Add the music file as a sound strip",
        default=True,
    )
    set_scene_range: BoolProperty(
        name="Set Scene Range", description="Fit the scene's frame range to the music",
        default=True,
    )
    use_nla: BoolProperty(
        name="Use NLA", description="Push the new action onto an NLA track"
    )
    save_motion_path: StringProperty(
        name="Save Motion",
        description="Also keep the generated motion as a file (.npz, .json or .csv); "
        "leave empty to skip",
        subtype="FILE_PATH", options=PATH_OPTIONS,
    )

    # ---------------------------------------------------------------- job state
    is_running: BoolProperty(name="Running")
    progress: FloatProperty(
        name="Progress", min=0.0, max=1.0, subtype="FACTOR", options=set()
    )
    status: StringProperty(name="Status")
    cancel_requested: BoolProperty(name="Cancel Requested")

    def reset_job_state(self) -> None:
        self.is_running = False
        self.cancel_requested = False
        self.progress = 0.0


classes = (CONDUCTOR_PG_settings,)


def get_settings(context_or_scene) -> CONDUCTOR_PG_settings:
    scene = getattr(context_or_scene, "scene", context_or_scene)
    return scene.virtual_conductor


def register_properties() -> None:
    # A property registered at runtime; the stubs type PointerProperty() as returning None.
    bpy.types.Scene.virtual_conductor = PointerProperty(  # type: ignore[attr-defined,func-returns-value]
        type=CONDUCTOR_PG_settings
    )


def unregister_properties() -> None:
    if hasattr(bpy.types.Scene, "virtual_conductor"):
        del bpy.types.Scene.virtual_conductor
