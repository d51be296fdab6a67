"""The headless command line: music in, animated .blend files, videos and exports out, no screen.

Commands (run through ``addon/headless_main.py``, in ``blender -b`` or with the ``bpy`` module):

- ``generate AUDIO -o OUT.blend``: the conductor animated to the music, the music in the
  sequencer, saved atomically; optionally rendered (``--render``) and exported (``--export``).
- ``batch INPUT... -o FOLDER``: the same for every music file of folders, files and lists, with
  progress per file and overall; a failing file never stops the rest; finished outputs are
  skipped (resumable); ``--shard i/N`` takes every N-th file from the i-th, so N machines split a
  list without talking to each other.
- ``render IN -o OUT.mp4``: an H.264/AAC video of a .blend made by ``generate`` or of a music file.
- ``export IN.blend -o OUT``: BVH, glTF/GLB, FBX of the armature, or the motion as .npz/.json/.csv.

Exit status: 0 success, 1 a user error (one sentence on stderr), 2 a bug (traceback),
3 when some files of a batch failed (each one is reported).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import bpy

from ..core.errors import ConductorError
from ..core.generate import GenerateOptions, generate_motion, resolve_weights
from ..core.motion import Motion, write_atomically
from . import conductor_body
from .apply import ApplyOptions, apply_motion
from .stored_motion import stored_motion

EXIT_OK, EXIT_USER_ERROR, EXIT_BUG, EXIT_BATCH_FAILED = 0, 1, 2, 3
MUSIC_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".m4a", ".aac", ".opus")
NEW_SCENE_FPS = 30


# ---------------------------------------------------------------------------------- jobs
@dataclasses.dataclass
class SceneJob:
    """One piece of music to put on a conductor (plain data, filled from the command line).

    ``scene_path`` "" starts from an empty file (or, in ``blender -b file.blend``, from that
    file); ``armature`` "" creates the add-on's conductor (with ``camera``); ``fps`` None keeps
    the scene's frame rate (30 for a new file).
    """

    audio: Path
    generate: GenerateOptions
    apply: ApplyOptions
    scene_path: str = ""
    armature: str = ""
    fps: float | None = None
    camera: bool = True
    pack_audio: bool = False


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
    """Open the job's scene, generate the motion and apply it; returns what was animated."""
    scene = open_scene(job.scene_path)
    if job.fps is not None:
        set_scene_fps(scene, job.fps)
    armature = find_armature(scene, job.armature)  # checked before the slow part
    motion = generate_motion(
        job.audio, job.generate, progress=lambda fraction, message: progress(0.9 * fraction, message)
    )
    progress(0.9, "putting the motion on the armature")
    if armature is None:
        armature = conductor_body.create_conductor(scene, camera=job.camera, baton_hand=job.apply.baton_hand)
    options = dataclasses.replace(job.apply, audio_path=str(job.audio.resolve()))
    result = apply_motion(scene, armature, motion, options)  # keeps the motion for exports too
    if job.pack_audio:
        for sound in bpy.data.sounds:
            if sound.packed_file is None:
                sound.pack()
    progress(1.0, "animated")
    return Animated(scene, armature, motion, result.action_name, result.frame_start,
                    result.frame_end, result.sound_strip_name)


_startup_file: str | None = None  # the .blend Blender was started with (blender -b file.blend)


def open_scene(scene_path: str) -> Any:
    """Load ``scene_path``, or the file Blender started with, or an empty file; its scene."""
    global _startup_file
    if _startup_file is None:
        _startup_file = bpy.data.filepath
    path = scene_path or _startup_file
    if path:
        if not os.path.isfile(path):
            raise ConductorError(f"Scene file '{path}' does not exist; check the path of --scene.")
        try:
            bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        except RuntimeError as error:
            raise ConductorError(
                f"Scene file '{path}' could not be opened as a .blend ({_first_line(error)})."
            ) from error
        return bpy.context.scene
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)  # keeps the preferences (GPU)
    scene = bpy.context.scene
    assert scene is not None, "the empty home file has a scene"
    scene.render.fps, scene.render.fps_base = NEW_SCENE_FPS, 1.0
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    return scene


def set_scene_fps(scene: Any, fps: float) -> None:
    """Set the scene's frame rate; a fractional rate like 29.97 becomes 30 / 1.001."""
    if not (0 < fps <= 1000):
        raise ConductorError(f"The frame rate must be between 0 and 1000, got {fps:g}.")
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
    filepaths = bpy.context.preferences.filepaths
    versions, filepaths.save_version = filepaths.save_version, 0
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True, compress=True)
    except RuntimeError as error:
        raise ConductorError(
            f"Could not write '{path}' ({_first_line(error)}); check the folder and free space."
        ) from error
    finally:
        filepaths.save_version = versions
        Path(f"{path}@").unlink(missing_ok=True)
    return path


def check_output_folder(folder: Path) -> None:
    """Raise a ConductorError unless a file can be created in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConductorError(f"Output folder '{folder}' cannot be created ({error.strerror}); pick another.") from error
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConductorError(f"Output folder '{folder}' is not writable ({error.strerror}); pick another.") from error


def produce(job: SceneJob, blend: Path | None, video: Path | None, exports: Sequence[Path],
            render_options: Any, progress: Progress) -> list[Path]:
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
        written.append(export_scene(animated.scene, animated.armature, animated.motion, export))
    if video is not None:
        from .render import render_video

        written.append(render_video(
            animated.scene, video, render_options,
            progress=lambda fraction, message: progress(0.6 + 0.4 * fraction, message), music=job.audio,
        ))
    progress(1.0, "done")
    return written


# ---------------------------------------------------------------------------------- commands
def command_generate(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix.lower() != ".blend":
        raise ConductorError(f"The output '{output.name}' must be a .blend file; use --export for other formats.")
    audio = Path(args.audio)
    if not audio.is_file():
        raise ConductorError(f"Music file '{audio}' does not exist; check the path.")
    check_output_names(args.render, args.export)
    started = time.monotonic()
    written = produce(
        job_from_args(args, audio), output, _path_or_none(args.render),
        [Path(p) for p in args.export], render_options_from_args(args), LineProgress(audio.name),
    )
    for path in written:
        print(f"wrote {path}")
    print(f"done in {time.monotonic() - started:.1f} s")
    return EXIT_OK


def check_output_names(video: str | None, exports: Sequence[str]) -> None:
    """Refuse unknown output types before any slow work."""
    from .exports import MOTION_SUFFIXES, SCENE_SUFFIXES

    if video and Path(video).suffix.lower() not in (".mp4", ".m4v"):
        raise ConductorError(f"The video '{Path(video).name}' must be an .mp4 (H.264 video with AAC audio).")
    for name in exports:
        if Path(name).suffix.lower() not in SCENE_SUFFIXES + MOTION_SUFFIXES:
            raise ConductorError(
                f"Cannot export '{Path(name).name}': name it {', '.join(SCENE_SUFFIXES + MOTION_SUFFIXES)}."
            )


def command_render(args: argparse.Namespace) -> int:
    from .render import render_video

    source, output = Path(args.input), Path(args.output)
    if output.suffix.lower() == ".png":
        return command_render_still(args, source, output)
    check_output_names(str(output), [])
    progress = LineProgress(source.name)
    if source.suffix.lower() == ".blend":
        if args.fps is not None:
            raise ConductorError("--fps cannot change a saved .blend's rate; run 'generate' again with --fps.")
        scene = open_scene(str(source))
        render_video(scene, output, render_options_from_args(args), progress=progress)
        print(f"wrote {output}")
        return EXIT_OK
    if not source.is_file():
        raise ConductorError(f"'{source}' does not exist; give a .blend made by 'generate' or a music file.")
    produce(job_from_args(args, source), None, output, [], render_options_from_args(args), progress)
    print(f"wrote {output}")
    return EXIT_OK


def command_render_still(args: argparse.Namespace, source: Path, output: Path) -> int:
    from .render import render_still

    if source.suffix.lower() != ".blend":
        raise ConductorError(f"A still frame is rendered from a .blend made by 'generate', not '{source.name}'.")
    scene = open_scene(str(source))
    frame = scene.frame_start if args.frame is None else args.frame
    print(f"wrote {render_still(scene, output, render_options_from_args(args), frame=frame)}")
    return EXIT_OK


def command_export(args: argparse.Namespace) -> int:
    from .exports import export_scene

    source = Path(args.input)
    if source.suffix.lower() != ".blend":
        raise ConductorError(f"'{source.name}' is not a .blend; give a file made by 'generate'.")
    check_output_names(None, args.output)
    scene = open_scene(str(source))
    armature, motion = stored_motion(scene)  # checked before any file is written
    for output in args.output:
        print(f"wrote {export_scene(scene, armature, motion, Path(output))}")
    return EXIT_OK


def command_batch(args: argparse.Namespace) -> int:
    index, count = parse_shard(args.shard)
    formats = parse_formats(args.formats)
    files, ignored = collect_inputs([Path(p) for p in args.inputs], [Path(p) for p in args.list])
    if not files:
        raise ConductorError("No music files were given; name files, folders of music or --list files.")
    names = output_names(files)
    mine = [(position, path) for position, path in enumerate(files) if position % count == index]
    render_options = render_options_from_args(args) if "mp4" in formats else None
    if args.scene and not Path(args.scene).is_file():  # would fail every file the same way
        raise ConductorError(f"Scene file '{args.scene}' does not exist; check the path of --scene.")
    resolve_weights(args.weights)
    output_folder = Path(args.output)
    print(f"batch: {len(mine)} of {len(files)} files (shard {index}/{count}), outputs {', '.join(formats)} "
          f"in {output_folder}", file=sys.stderr, flush=True)
    for path in ignored:
        print(f"ignored {path}: not a music file ({', '.join(MUSIC_SUFFIXES)})", file=sys.stderr, flush=True)

    results: list[dict[str, Any]] = []
    started = time.monotonic()
    for number, (position, path) in enumerate(mine, start=1):
        label = f"[{number}/{len(mine)}] {path.name}"
        targets = {fmt: output_folder / f"{names[position]}.{fmt}" for fmt in formats}
        todo = {fmt: target for fmt, target in targets.items() if args.force or not target.is_file()}
        result: dict[str, Any] = {"input": str(path), "outputs": [str(t) for t in targets.values()]}
        file_started = time.monotonic()
        if not todo:
            result["status"] = "skipped"
            print(f"{label}: skipped, its outputs exist (use --force to redo)", file=sys.stderr, flush=True)
        else:
            try:
                produce(
                    job_from_args(args, path), todo.get("blend"), todo.get("mp4"),
                    [target for fmt, target in todo.items() if fmt not in ("blend", "mp4")],
                    render_options, LineProgress(label),
                )
                result["status"] = "done"
            except ConductorError as error:
                result.update(status="failed", error=str(error))
            except Exception as error:  # a bug on one file must not stop the others
                traceback.print_exc()
                result.update(status="failed", error=f"unexpected {type(error).__name__}: {error}")
        result["seconds"] = round(time.monotonic() - file_started, 2)
        results.append(result)
        tally = _tally(results)
        outcome = result["status"] if result["status"] != "failed" else f"FAILED: {result['error']}"
        print(f"{label}: {outcome} ({result['seconds']:.1f} s); overall {number}/{len(mine)} "
              f"({100 * number / len(mine):.0f}%), {tally['failed']} failed", file=sys.stderr, flush=True)

    tally = _tally(results)
    print(f"batch summary: {len(mine)} files in shard {index}/{count}: {tally['done']} done, "
          f"{tally['skipped']} skipped (already finished), {tally['failed']} failed, "
          f"{len(ignored)} ignored; {time.monotonic() - started:.1f} s")
    for result in results:
        if result["status"] == "failed":
            print(f"  failed {result['input']}: {result['error']}")
    if args.summary:
        document = {"shard": [index, count], "formats": formats, "files": results,
                    "ignored": [str(p) for p in ignored], **tally}
        write_atomically(Path(args.summary), lambda handle: json.dump(document, handle, indent=1), binary=False)
    return EXIT_BATCH_FAILED if tally["failed"] else EXIT_OK


def _tally(results: list[dict[str, Any]]) -> dict[str, int]:
    return {status: sum(r["status"] == status for r in results) for status in ("done", "skipped", "failed")}


def parse_shard(text: str) -> tuple[int, int]:
    """"I/N" -> (I, N) with 0 <= I < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConductorError(f"--shard '{text}' is not I/N, e.g. 0/4 for the first of four machines.") from None
    if count < 1 or not 0 <= index < count:
        raise ConductorError(f"--shard {text}: I must be from 0 to N-1 and N at least 1.")
    return index, count


BATCH_FORMATS = ("blend", "mp4", "bvh", "glb", "gltf", "fbx", "npz", "json", "csv")


def parse_formats(text: str) -> list[str]:
    formats = list(dict.fromkeys(part.strip().lower().lstrip(".") for part in text.split(",") if part.strip()))
    unknown = [fmt for fmt in formats if fmt not in BATCH_FORMATS]
    if unknown or not formats:
        raise ConductorError(f"--formats must name some of {', '.join(BATCH_FORMATS)}, got '{text}'.")
    return formats


def collect_inputs(inputs: Sequence[Path], lists: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(music files in a fixed order, files skipped as not music).

    A folder gives its music files (by suffix, sorted by name, hidden files left out); a file
    named on the command line or in a list is taken whatever it is, so a bad one is reported.
    The order is the arguments' order, then the lists', each file once: the same command on
    any machine gives the same list, which is what ``--shard`` splits.
    """
    files: list[Path] = []
    ignored: list[Path] = []
    for item in inputs:
        if item.is_dir():
            for entry in sorted(item.iterdir(), key=lambda p: p.name):
                if entry.name.startswith(".") or entry.is_dir():
                    continue
                (files if entry.suffix.lower() in MUSIC_SUFFIXES else ignored).append(entry)
        else:
            files.append(item)
    for list_path in lists:
        try:
            lines = list_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ConductorError(f"List file '{list_path}' could not be read ({error}); check the path.") from error
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                files.append(list_path.parent / Path(line).expanduser())
    unique = list(dict.fromkeys(files))
    return unique, ignored


def output_names(files: Sequence[Path]) -> list[str]:
    """An output name per file: its stem, with "-2", "-3", ... where stems repeat (in list order)."""
    seen: dict[str, int] = {}
    names = []
    for path in files:
        key = path.stem.lower()  # case-insensitive file systems too
        seen[key] = seen.get(key, 0) + 1
        names.append(path.stem if seen[key] == 1 else f"{path.stem}-{seen[key]}")
    return names


# ---------------------------------------------------------------------------------- arguments
class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one sentence and exit status 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConductorError(f"{message} (see '{self.prog} --help').")


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--scene", default="", help="animate into this .blend instead of a new file")
    group.add_argument("--armature", default="", help="armature of --scene to animate (default: create the conductor)")
    group.add_argument("--weights", default="default",
                       help="'default', 'procedural', 'neural' (our own trained M2S-GAN, experimental) "
                            "or a .safetensors/.pt generator file")
    group.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same motion; default 0)")
    group.add_argument("--variation", type=float, default=1.0,
                       help="noise scale (procedural: human irregularity): 0 = calmest, 1 = as trained")
    group.add_argument("--device", default="auto", help="network device: auto, cpu, cuda, cuda:N or mps")
    group.add_argument("--meter", type=int, choices=(2, 3, 4, 6), default=None,
                       help="procedural conductor: beats per bar instead of the detected meter")
    group.add_argument("--mapping", default="conductor", help="bone mapping: conductor, rigify, mixamo or a .json file")
    group.add_argument("--fps", type=float,
                       help="scene frame rate (24, 25, 29.97, 30, 60; default: the scene's, 30 when new)")
    group.add_argument("--camera", action=argparse.BooleanOptionalAction, default=True,
                       help="give a created conductor a camera framing the upper body (default: yes)")
    group.add_argument("--pack-audio", action="store_true", help="pack the music into the .blend (for render farms)")
    motion = parser.add_argument_group("motion")
    motion.add_argument("--mode", choices=("FK", "IK"), default="FK", help="key FK rotations or IK controls (default FK)")
    motion.add_argument("--amplitude", type=float, default=1.0, help="gesture size around the rest pose (default 1)")
    motion.add_argument("--smoothing", type=float, default=0.5, help="temporal smoothing, 0 to 1 (default 0.5)")
    motion.add_argument("--mirror", action="store_true", help="mirror the motion (a left-handed conductor)")
    motion.add_argument("--baton-hand", choices=("right", "left", "none"), default="right",
                        help="the hand holding the baton; a created conductor gets it there (default right)")
    motion.add_argument("--hip-sway", type=float, default=0.0, help="0 keeps the hips still (default 0)")
    motion.add_argument("--keyframe-step", type=int, default=1, help="key every Nth frame (default 1)")


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    from .render import DEVICES, ENGINES, QUALITIES

    group = parser.add_argument_group("video")
    group.add_argument("--resolution", default="1280x720", help="WIDTHxHEIGHT in pixels (default 1280x720)")
    group.add_argument("--quality", default="medium", choices=QUALITIES, help="H.264 quality (default medium)")
    group.add_argument("--engine", default="cycles", choices=ENGINES,
                       help="cycles (default: CPU or --gpu, needs no OpenGL), workbench (flat, about 10x faster on "
                            "CPU; needs OpenGL, e.g. Mesa's libegl1 + libgl1-mesa-dri), eevee (for GPUs: minutes of "
                            "shader compiling on a CPU)")
    group.add_argument("--samples", type=int, default=16, help="Cycles samples a pixel (default 16, denoised)")
    group.add_argument("--gpu", default="none", choices=DEVICES, help="Cycles GPU backend (default none: CPU)")
    group.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=True,
                       help="Cycles denoising with OpenImageDenoise (default: yes; slow on few CPU cores)")
    group.add_argument("--seconds", type=float, help="render only the first SECONDS of the piece")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="headless_main.py", description="VirtualConductor without a screen.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    generate = commands.add_parser("generate", help="music -> .blend with the conductor animated and the music")
    generate.add_argument("audio", help="music file (wav, flac, ogg, mp3; m4a/aac/opus with ffmpeg)")
    generate.add_argument("-o", "--output", required=True, help="the .blend to write")
    generate.add_argument("--render", help="also render the animation to this .mp4")
    generate.add_argument("--export", action="append", default=[], metavar="FILE",
                          help="also export to FILE (.bvh, .glb, .gltf, .fbx, .npz, .json, .csv); repeatable")
    add_generation_arguments(generate)
    add_render_arguments(generate)
    generate.set_defaults(run=command_generate)

    batch = commands.add_parser("batch", help="every music file of folders, files and lists -> outputs in one folder")
    batch.add_argument("inputs", nargs="*", help="music files and folders of music files")
    batch.add_argument("--list", action="append", default=[], metavar="FILE",
                       help="a text file naming one music file a line (relative to the list); repeatable")
    batch.add_argument("-o", "--output", required=True, help="folder for the outputs (NAME.blend, NAME.mp4, ...)")
    batch.add_argument("--formats", default="blend",
                       help="comma-separated outputs per file: blend, mp4, bvh, glb, gltf, fbx, npz, json, csv "
                            "(default blend)")
    batch.add_argument("--shard", default="0/1",
                       help="I/N: this process takes files I, I+N, I+2N, ... of the ordered list")
    batch.add_argument("--force", action="store_true", help="redo files whose outputs already exist")
    batch.add_argument("--summary", help="also write the summary as JSON to this file")
    add_generation_arguments(batch)
    add_render_arguments(batch)
    batch.set_defaults(run=command_batch)

    render = commands.add_parser("render", help="a .blend from 'generate' (or a music file) -> H.264/AAC .mp4")
    render.add_argument("input", help="a .blend made by 'generate', or a music file")
    render.add_argument("-o", "--output", required=True, help="the .mp4 to write, or a .png for one frame (see --frame)")
    render.add_argument("--frame", type=int, help="with a .png output: the scene frame to render (default: the first)")
    add_generation_arguments(render)
    add_render_arguments(render)
    render.set_defaults(run=command_render)

    export = commands.add_parser("export", help="a .blend from 'generate' -> BVH, glTF/GLB, FBX, .npz/.json/.csv")
    export.add_argument("input", help="a .blend made by 'generate'")
    export.add_argument("-o", "--output", required=True, action="append",
                        help="file to write (.bvh, .glb, .gltf, .fbx, .npz, .json, .csv); repeatable")
    export.set_defaults(run=command_export)
    return parser


def job_from_args(args: argparse.Namespace, audio: Path) -> SceneJob:
    if args.variation < 0:
        raise ConductorError(f"--variation must be 0 or more, got {args.variation:g}.")
    return SceneJob(
        audio=audio,
        generate=GenerateOptions(weights=args.weights, seed=args.seed, variation=args.variation, device=args.device,
                                 meter=args.meter),
        apply=ApplyOptions(
            mapping=args.mapping, mode=args.mode, amplitude=args.amplitude, smoothing=args.smoothing,
            mirror=args.mirror, baton_hand=args.baton_hand, hip_sway=args.hip_sway, keyframe_step=args.keyframe_step,
        ),
        scene_path=args.scene, armature=args.armature, fps=args.fps, camera=args.camera,
        pack_audio=args.pack_audio,
    )


def render_options_from_args(args: argparse.Namespace) -> Any:
    from .render import RenderOptions, parse_resolution

    return RenderOptions(
        resolution=parse_resolution(args.resolution), quality=args.quality, engine=args.engine,
        samples=args.samples, gpu=args.gpu, seconds=args.seconds, denoise=args.denoise,
    )


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(error).__name__


# ---------------------------------------------------------------------------------- progress
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


# ---------------------------------------------------------------------------------- entry point
def main(argv: Sequence[str]) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    try:
        args = build_parser().parse_args(list(argv))
        return args.run(args)
    except ConductorError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; finished outputs are kept, no partial file is left.", file=sys.stderr)
        return 130
    except SystemExit as done:  # --help
        return int(done.code or 0)
    except Exception:
        traceback.print_exc()
        return EXIT_BUG
