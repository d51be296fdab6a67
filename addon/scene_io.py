"""A conductor scene from a piece of music, headless: open or start a file, animate, save.

What every headless command shares (``generate``, ``batch``, ``render`` of a music file): a
:class:`SceneJob` (plain data from the command line) goes through :func:`animate` (open the
scene, generate the motion, create the conductor if asked, key it) and :func:`produce` writes
the outputs asked for. Nothing here reads a command line; ``headless.py`` does.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import bpy

from ..core.errors import ConductorError
from ..core.generate_options import GenerateOptions
from ..core.motion.keypoints import MOTION_FPS
from ..core.motion.keypoints import Motion
from ..core.options import nested, option
from ..core.outputs import check_output_folder
from .apply import ApplyOptions, check_target, put_motion_in_scene
from .console import held_output
from .generation import generate_in_worker


@dataclasses.dataclass
class SceneJob:
    """One piece of music to put on a conductor (plain data, filled from the command line;
    each field but ``audio`` is a setting, see core.options).

    ``scene_path`` "" starts from an empty file (or, in ``blender -b file.blend``, from that
    file); ``armature`` "" creates the add-on's conductor (with ``camera``); ``fps`` None keeps
    the scene's frame rate (30 for a new file).
    """

    audio: Path
    generate: GenerateOptions = nested(GenerateOptions)
    apply: ApplyOptions = nested(ApplyOptions)
    scene_path: str = option("", "animate into this .blend instead of a new file", flag="--scene")
    armature: str = option("", "armature of --scene to animate (default: create the conductor)")
    fps: float | None = option(
        None, "scene frame rate (24, 25, 29.97, 30, 60; default: the scene's, 30 when new)", minimum=1.0, maximum=1000.0
    )
    camera: bool = option(True, "give a created conductor a camera framing the upper body")
    pack_audio: bool = option(False, "pack the music into the .blend (for render farms)")
    all_bones: bool = option(
        False,
        "exports (.glb, .gltf, .fbx, .bvh) carry every bone, not only the deform bones and those objects hang from",
    )


@dataclasses.dataclass
class Animated:
    """What :func:`animate` made: the scene, the animated armature and the motion."""

    scene: Any
    armature: Any
    motion: Motion
    action_name: str
    frame_start: int
    frame_end: int
    sound_strip: str | None


Progress = Callable[[float, str], None]


def animate(job: SceneJob, progress: Progress) -> Animated:
    """Open the job's scene, generate the motion (in the worker, as the panel does) and write it
    in through :func:`addon.apply.put_motion_in_scene`, all or nothing; returns what was animated."""
    scene = open_scene(job.scene_path)
    if job.fps is not None:
        set_scene_fps(scene, job.fps)
    armature = find_armature(scene, job.armature)  # checked before the slow part
    if armature is not None:
        check_target(scene, armature, job.apply)  # its bones against the mapping, too
    motion = generate_in_worker(
        job.audio, job.generate, progress=lambda fraction, message: progress(0.9 * fraction, message)
    )
    progress(0.9, "putting the motion on the armature")
    options = dataclasses.replace(job.apply, audio_path=str(job.audio.resolve()))
    armature, result = put_motion_in_scene(scene, motion, options, armature_obj=armature, camera=job.camera)
    for note in result.notes:  # the motion's (a MIDI file's offset) and the takes' (an action set aside)
        print(f"note: {job.audio.name}: {note}", file=sys.stderr, flush=True)
    if result.beaten:  # as the panel's status says it: "beaten in 4 subdivided at 32 a minute, 31 beats"
        print(f"{job.audio.name}: {result.beaten}", flush=True)
    if job.pack_audio:
        for sound in bpy.data.sounds:
            if sound.packed_file is None:
                sound.pack()
    progress(1.0, "animated")
    return Animated(
        scene, armature, motion, result.action_name, result.frame_start, result.frame_end, result.sound_strip_name
    )


_startup_file: str | None = None  # the .blend Blender was started with (blender -b file.blend)


def open_scene(scene_path: str, *, given_as: str = "--scene") -> Any:
    """Load ``scene_path``, or the file Blender started with, or an empty file; its scene.
    ``given_as`` names where the path came from in a message ("--scene", "the input")."""
    global _startup_file
    if _startup_file is None:
        _startup_file = bpy.data.filepath
    path = scene_path or _startup_file
    if path:
        if not os.path.isfile(path):
            raise ConductorError(f"Scene file '{path}' does not exist; check the path of {given_as}.")
        try:
            with held_output(shown_on_failure=False):  # "Read blend: ...", and its error, which is quoted
                bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        except RuntimeError as error:
            saved_by = blend_file_version(Path(path))  # Blender opens some newer files, not all
            if saved_by is not None and saved_by > tuple(bpy.app.version[:2]):
                raise ConductorError(
                    f"Scene file '{path}' was saved by Blender {saved_by[0]}.{saved_by[1]}, newer than this "
                    f"Blender {bpy.app.version[0]}.{bpy.app.version[1]}, which cannot read it; open it with "
                    f"Blender {saved_by[0]}.{saved_by[1]} or newer."
                ) from error
            raise ConductorError(
                f"Scene file '{path}' could not be opened as a .blend ({_first_line(error)})."
            ) from error
        return bpy.context.scene
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # keeps the preferences (GPU)
    scene = bpy.context.scene
    assert scene is not None, "the empty home file has a scene"
    scene.render.fps, scene.render.fps_base = MOTION_FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    return scene


def set_scene_fps(scene: Any, fps: float) -> None:
    """Set the scene's frame rate; a fractional rate like 29.97 becomes 30 / 1.001."""
    whole = round(fps)
    if abs(whole - fps) < 1e-6:
        scene.render.fps, scene.render.fps_base = int(whole), 1.0
    else:
        ceiling = int(-(-fps // 1))
        scene.render.fps, scene.render.fps_base = ceiling, ceiling / fps


def find_armature(scene: Any, name: str) -> Any:
    """The armature called ``name`` in ``scene``; None when ``name`` is "" (create one)."""
    if not name:
        return None
    obj = scene.objects.get(name)
    if obj is None:
        armatures = sorted(o.name for o in scene.objects if o.type == "ARMATURE")
        hint = f"armatures there: {', '.join(armatures)}" if armatures else "it has no armature"
        raise ConductorError(f"Scene '{scene.name}' has no object '{name}' ({hint}).")
    if obj.type != "ARMATURE":
        raise ConductorError(f"'{name}' is a {obj.type.lower()}, not an armature; give an armature's name.")
    return obj


def save_blend(path: Path) -> Path:
    """Save a copy of the open file as ``path``. Blender writes it atomically itself (to
    ``path@``, renamed when complete), so the user only ever reads their own file name; no
    ``.blend1`` backup is left beside an overwritten output."""
    path = Path(path).resolve()
    check_output_folder(path.parent)
    preferences = bpy.context.preferences
    assert preferences is not None, "Blender always has preferences"
    filepaths = preferences.filepaths
    versions, filepaths.save_version = filepaths.save_version, 0
    try:
        with held_output(shown_on_failure=False):  # its "Info: Saved copy as ..." line
            bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=True)
    except RuntimeError as error:
        raise ConductorError(
            f"Could not write '{path}' ({_first_line(error)}); check the folder and free space."
        ) from error
    finally:
        filepaths.save_version = versions
        Path(f"{path}@").unlink(missing_ok=True)
    return path


def produce(
    job: SceneJob,
    blend: Path | None,
    video: Path | None,
    exports: Sequence[Path],
    render_options: Any,
    progress: Progress,
) -> list[Path]:
    """Animate ``job`` and write each requested output (those given, not None); the files written."""
    for target in [p for p in (blend, video, *exports) if p is not None]:
        check_output_folder(target.parent)
    animated = animate(job, lambda fraction, message: progress(0.5 * fraction, message))
    written = []
    if blend is not None:
        progress(0.5, "saving the .blend")
        written.append(save_blend(blend))
    for export in exports:
        from .exports import export_scene

        progress(0.55, f"exporting {export.suffix}")
        written.append(
            export_scene(animated.scene, animated.armature, animated.motion, export, all_bones=job.all_bones)
        )
    if video is not None:
        from .render import render_video

        written.append(
            render_video(
                animated.scene,
                video,
                render_options,
                progress=lambda fraction, message: progress(0.6 + 0.4 * fraction, message),
                music=job.audio,
            )
        )
    progress(1.0, "done")
    return written


class LineProgress:
    """Progress as plain lines on stderr (log-friendly: farms capture them), one per 10 %
    or new stage, each prefixed with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.last_tenth = -1
        self.last_message = ""

    def __call__(self, fraction: float, message: str) -> None:
        tenth = int(10 * min(max(fraction, 0.0), 1.0))
        if tenth == self.last_tenth and message == self.last_message:
            return
        if tenth == self.last_tenth and message.split(" ")[0] == self.last_message.split(" ")[0]:
            return  # same stage, same tenth: e.g. "frame 12/90" then "frame 13/90"
        self.last_tenth, self.last_message = tenth, message
        print(f"{self.prefix}: {100 * fraction:3.0f}% {message}", file=sys.stderr, flush=True)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a .blend saved compressed (Blender 3.0 on)


def blend_file_version(path: Path) -> tuple[int, int] | None:
    """(major, minor) of the Blender that saved ``path``, from its header ("BLENDER-v402", or
    "BLENDER17-01v0500" from 5.0 on), compressed or not; None where it cannot be told."""
    try:
        with path.open("rb") as handle:
            head = handle.read(32)
            if head.startswith(ZSTD_MAGIC):
                import zstandard  # Blender's Python has it (it reads compressed .blend files)

                handle.seek(0)
                head = zstandard.ZstdDecompressor().stream_reader(handle).read(32)
    except Exception:  # noqa: BLE001 - unreadable, no zstandard, a damaged frame: not ours to tell
        return None
    if not head.startswith(b"BLENDER"):
        return None
    rest = head[7:]
    if rest[:1] in (b"-", b"_") and rest[2:5].isdigit():  # BLENDER-v402: pointer size, endianness, 3 digits
        version = int(rest[2:5])
        return version // 100, version % 100
    if rest[:2].isdigit() and rest[2:3] == b"-" and rest[6:10].isdigit():  # BLENDER17-01v0500
        version = int(rest[6:10])
        return version // 100, version % 100
    return None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(error).__name__
