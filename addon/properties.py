"""The add-on's settings on the Scene (``scene.virtual_conductor``) and the job's live state.

Every setting that core declares (``GenerateOptions``, ``ApplyOptions`` with its
``RetargetSettings``, see core/options.py) becomes a property here through :func:`setting`,
with the field's name, default, range, choices and help text, so nothing is declared twice;
:func:`read_options` turns the properties back into those dataclasses. The properties below
that are written out by hand are the panel's own (where the music and the weights come from).
"""

from __future__ import annotations

from typing import Any, TypeVar

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ..core.generate_options import GenerateOptions
from ..core.options import OptionInfo, from_values, option_fields
from .apply import ApplyOptions
from .compat import PATH_OPTIONS, register_scene_pointer

OptionsT = TypeVar("OptionsT")
AUTO = "AUTO"  # the enum item of an optional setting left unset (None: detect it)
# Settings of the option dataclasses the panel offers its own way (or not at all), and why.
PANEL_OWN = {
    "weights": "chosen from WEIGHTS_ITEMS, with a file path for the official or a custom checkpoint",
    "noise_path": "a noise file is for the command line",
    "device": "the panel offers auto, cpu, cuda and mps (not cuda:N)",
    "runtime": "the device chooses it: ONNX Runtime (else NumPy) on the CPU, PyTorch on a GPU or in bf16",
    "mapping": "chosen from MAPPING_ITEMS, with a file path for a custom mapping",
    "beats_path": "set by Beat Source: the timeline markers, a file, or none (detect)",
    "beats_offset_s": "a number of seconds, or found from the music for a MIDI file",
    "beat_lock": "a slider from 0 to 1, applied when the beats are given (markers or a file)",
}


def option_info(name: str) -> OptionInfo:
    """The declaration of setting ``name`` in GenerateOptions or ApplyOptions."""
    for cls in (GenerateOptions, ApplyOptions):
        for info in option_fields(cls):
            if info.name == name:
                return info
    raise KeyError(name)


def enum_identifier(value: object) -> str:
    """The enum item of a choice (None: :data:`AUTO`); upper case, as Blender's enums are."""
    return AUTO if value is None else str(value).upper()


def setting(name: str, *, items: tuple[tuple[str, str, str], ...] | None = None, **ui: Any) -> Any:
    """The Blender property of core's setting ``name``: its label, help, default and range from
    the declaration; ``items`` (enum items with descriptions) and ``ui`` (soft limits, subtype)
    only add how the panel shows it."""
    info = option_info(name)
    common: dict[str, Any] = {"name": info.label, "description": info.help[:1].upper() + info.help[1:]}
    if info.choices is not None:
        choices = ((None,) if info.optional else ()) + info.choices
        items = items or tuple(
            (enum_identifier(value), "Detect" if value is None else str(value).title(), "") for value in choices
        )
        assert [item[0] for item in items] == [enum_identifier(value) for value in choices], name
        return EnumProperty(items=items, default=enum_identifier(info.default), **common, **ui)
    if info.kind is bool:
        return BoolProperty(default=info.default, **common, **ui)
    limits: dict[str, Any] = {
        key: value for key, value in (("min", info.minimum), ("max", info.maximum)) if value is not None
    }
    if info.kind is int:
        return IntProperty(default=info.default, **limits, **common, **ui)
    if info.kind is float:
        return FloatProperty(default=info.default, **limits, **common, **ui)
    return StringProperty(default=info.default, **common, **ui)


def setting_value(settings: bpy.types.PropertyGroup, name: str) -> object:
    """The value of setting ``name`` as core takes it (an enum item back to its choice)."""
    info = option_info(name)
    value = getattr(settings, name)
    if info.kind is float and info.choices is None:
        return float(f"{value:.7g}")  # Blender keeps single precision: 1e-4 reads back as 1e-4
    if info.choices is None:
        return value
    choices = ((None,) if info.optional else ()) + info.choices
    return next(choice for choice in choices if enum_identifier(choice) == value)


def read_options(cls: type[OptionsT], settings: bpy.types.PropertyGroup, **given: object) -> OptionsT:
    """An instance of option dataclass ``cls`` from the panel's properties; ``given`` supplies
    the settings the panel offers its own way (:data:`PANEL_OWN`) and fields that are not settings."""
    values = {
        info.name: setting_value(settings, info.name) for info in option_fields(cls) if info.name not in PANEL_OWN
    }
    return from_values(cls, values, **given)


WEIGHTS_ITEMS = (
    ("DEFAULT", "Project Default", "The project's own trained weights, or the procedural conductor until they ship"),
    ("PROCEDURAL", "Procedural (Beat-Exact)", "No network: a conductor that beats time exactly"),
    (
        "NEURAL",
        "Our M2S-GAN (Experimental)",
        "The project's own trained generator: it follows the music, less exactly than the procedural conductor",
    ),
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
        name="Music File",
        description="The music to conduct (wav, flac, ogg, mp3)",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    music_strip: StringProperty(name="Sound Strip", description="A sound strip of this scene")

    # ---------------------------------------------------------------- model
    weights: EnumProperty(name="Weights", items=WEIGHTS_ITEMS, default="DEFAULT")
    official_weights_path: StringProperty(
        name="Checkpoint",
        description="M2SGAN_official_pretrained.pt",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    custom_weights_path: StringProperty(
        name="Weights File",
        description="A .safetensors or .pt file",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    use_random_seed: BoolProperty(name="Random Seed", description="A new performance each run instead of a fixed seed")
    seed: setting("seed")
    variation: setting("variation", soft_max=2.0)
    meter: setting(
        "meter",
        items=(
            (AUTO, "Detect", "Find the meter in the music"),
            ("1", "1", "One beat a bar (a fast 3/4 or 6/8 in one)"),
            ("2", "2", "Two beats a bar (2/4, 2/2, a 6/8 beaten in two)"),
            ("3", "3", "Three beats a bar (3/4, 3/8, a 9/8 beaten in three)"),
            ("4", "4", "Four beats a bar (4/4)"),
            ("5", "5", "Five beats a bar (5/4, as 2+3 or 3+2)"),
            ("6", "6", "Six beats a bar (a slow 6/8)"),
        ),
    )
    gesture_size: setting("gesture_size", subtype="FACTOR")
    energy: setting("energy")
    articulation: setting(
        "articulation",
        items=(
            ("AUTO", "Auto", "From the music: round when it is legato, straight and stopped when detached"),
            ("LEGATO", "Legato", "Round, continuous paths"),
            ("STACCATO", "Staccato", "Light, straight strokes that stop at the ictus"),
            ("MARCATO", "Marcato", "Heavy, straight strokes that stop at the ictus"),
        ),
    )
    left_hand_activity: setting("left_hand_activity")
    precision: setting(
        "precision",
        items=(
            ("FLOAT32", "Float32", "Exact: the network as trained"),
            (
                "BF16",
                "BF16",
                "PyTorch's music encoder in bfloat16, on CPUs with AVX-512 BF16 or AMX and on CUDA GPUs from "
                "Ampere on: the network about twice as fast on such a CPU; keypoints move by about 0.002",
            ),
        ),
    )
    device: EnumProperty(
        name="Device",
        items=(
            ("AUTO", "Auto", "The CPU, without PyTorch (ONNX Runtime, bundled)"),
            ("CPU", "CPU", "The CPU, without PyTorch (ONNX Runtime, bundled)"),
            ("CUDA", "CUDA", "An NVIDIA GPU: needs PyTorch (Install PyTorch in the add-on's preferences)"),
            ("MPS", "Metal", "An Apple GPU: needs PyTorch (Install PyTorch in the add-on's preferences)"),
        ),
        default="AUTO",
    )

    # ---------------------------------------------------------------- beats
    beat_source: EnumProperty(
        name="Beat Source",
        items=(
            ("DETECT", "Detect", "Track the beats in the music"),
            ("MARKERS", "Timeline Markers", "The beat markers on the timeline (Analyse Beats puts them there)"),
            ("FILE", "File", "Beat times (.json, .txt, .csv) or the piece's MIDI file"),
        ),
        default="DETECT",
    )
    beats_file: StringProperty(
        name="Beat File",
        description="Beat times (.json, .txt, .csv, with optional bar.beat labels) or a MIDI file",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )
    tracker: setting(
        "tracker",
        items=(
            ("AUTO", "Auto", "The learned tracker where its weights are installed, else signal processing"),
            ("LEARNED", "Learned", "The network trained on rendered scores (weights/beat_tracker_cpu_v3)"),
            ("DSP", "Signal Processing", "The tracker without weights: onsets, tempo and harmony by hand-made rules"),
        ),
    )
    find_beats_offset: BoolProperty(
        name="Find Offset",
        default=True,
        description="For a MIDI file: find the shift that lines its notes up with the music",
    )
    beats_offset_s: FloatProperty(
        name="Offset",
        description="Seconds added to the file's beat times",
        default=0.0,
        min=-3600.0,
        max=3600.0,
        unit="TIME_ABSOLUTE",
    )
    beat_lock: FloatProperty(
        name="Beat Lock",
        description="Neural weights: how far each stroke's ictus moves onto the given beats, 0 to 1",
        default=1.0,
        min=0.0,
        max=1.0,
        subtype="FACTOR",
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
        name="Mapping File",
        description="A bone mapping (.json)",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )

    # ---------------------------------------------------------------- motion
    mode: setting("mode", items=(("FK", "FK", "Rotate the bones"), ("IK", "IK", "Move the hand and IK targets")))
    amplitude: setting("amplitude", soft_max=2.0)
    smoothing: setting("smoothing", subtype="FACTOR")
    mirror: setting("mirror")
    baton_hand: setting("baton_hand")
    hip_sway: setting("hip_sway", subtype="FACTOR")
    start_frame: setting("start_frame")
    keyframe_step: setting("keyframe_step")
    interpolation: setting("interpolation")
    key_tolerance: setting("key_tolerance", precision=5, step=0.001)
    add_sound: setting("add_sound")
    set_scene_range: setting("set_scene_range")
    use_nla: setting("use_nla")
    keep_takes: setting("keep_takes")
    save_motion_path: StringProperty(
        name="Save Motion",
        description="Also keep the generated motion as a file (.npz, .json or .csv); leave empty to skip",
        subtype="FILE_PATH",
        options=PATH_OPTIONS,
    )

    # ---------------------------------------------------------------- job state
    is_running: BoolProperty(name="Running")
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", options=set())
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
    register_scene_pointer("virtual_conductor", CONDUCTOR_PG_settings)


def unregister_properties() -> None:
    if hasattr(bpy.types.Scene, "virtual_conductor"):
        del bpy.types.Scene.virtual_conductor
