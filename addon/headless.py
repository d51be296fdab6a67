"""The headless command line: music in, animated .blend files, videos and exports out, no screen.

Commands (run through ``addon/headless_main.py``, in ``blender -b`` or with the ``bpy`` module):

- ``generate AUDIO -o OUT.blend``: the conductor animated to the music, the music in the
  sequencer, saved atomically; optionally rendered (``--render``) and exported (``--export``).
- ``batch INPUT... -o FOLDER``: the same for every music file of folders, files and lists, with
  progress per file and overall; a failing file never stops the rest; finished outputs are
  skipped (resumable); ``--shard i/N`` takes every N-th file from the i-th, so N machines split a
  list without talking to each other (``addon/batch.py``).
- ``render IN -o OUT.mp4``: an H.264/AAC video of a .blend made by ``generate`` or of a music file.
- ``export IN.blend -o OUT``: BVH, glTF/GLB, FBX of the armature, or the motion as .npz/.json/.csv.

The settings' flags come from core's option dataclasses (core/options.py), the same ones as
``python -m core``'s. Exit status, as ``python -m core``'s: 0 done, 1 bad input (one sentence on
stderr), 2 a malformed command line (argparse's usage message), 3 some files of a batch failed
(each one is reported), 70 an internal error (a bug: the traceback is printed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import ConductorError, missing_dependency, missing_package_sentence, one_of, stop_on_sigterm
from ..core.generate_options import GenerateOptions
from ..core.motion.keypoints import MOTION_SUFFIXES
from ..core.options import add_arguments, from_arguments
from ..core.outputs import check_output_folder
from .apply import ApplyOptions
from .generation import refuse_missing_torch
from .scene_io import LineProgress, SceneJob, open_scene, produce
from .stored_motion import stored_motion

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_BATCH_FAILED, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 70, 130


# ---------------------------------------------------------------------------------- commands
def command_generate(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix.lower() != ".blend":
        raise ConductorError(f"The output '{output.name}' must be a .blend file; use --export for other formats.")
    audio = Path(args.audio)
    if not audio.is_file():
        raise ConductorError(f"Music file '{audio}' does not exist; check the path.")
    check_output_names(args.render, args.export)
    refuse_unused_video_options(args, video=bool(args.render), fix="add --render OUT.mp4 or leave them out")
    refuse_unused_key_tolerance(args)
    job = job_from_args(args, audio)
    refuse_missing_torch(job.generate)
    started = time.monotonic()
    written = produce(
        job,
        output,
        _path_or_none(args.render),
        [Path(p) for p in args.export],
        render_options_from_args(args),
        LineProgress(audio.name),
    )
    for path in written:
        print(f"wrote {path}")
    import bpy

    scene = bpy.context.scene  # the animated one; a --scene keeps its own frame rate, so say it
    assert scene is not None, "produce animated a scene"
    fps = scene.render.fps / scene.render.fps_base
    print(f"done in {time.monotonic() - started:.1f} s: frames {scene.frame_start}-{scene.frame_end} at {fps:g} fps")
    return EXIT_OK


def check_output_names(video: str | None, exports: Sequence[str]) -> None:
    """Refuse unknown output types before any slow work."""
    from .exports import SCENE_SUFFIXES

    if video and Path(video).suffix.lower() not in (".mp4", ".m4v"):
        raise ConductorError(f"The video '{Path(video).name}' must be an .mp4 (H.264 video with AAC audio).")
    for name in exports:
        if Path(name).suffix.lower() not in SCENE_SUFFIXES + MOTION_SUFFIXES:
            raise ConductorError(
                f"Cannot export '{Path(name).name}': name it {one_of(SCENE_SUFFIXES + MOTION_SUFFIXES)}."
            )


def command_render(args: argparse.Namespace) -> int:
    from .render import render_video

    source, output = Path(args.input), Path(args.output)
    if output.suffix.lower() == ".png":
        return command_render_still(args, source, output)
    check_output_names(str(output), [])
    check_output_folder(output.parent)  # before the scene opens and the frames render
    progress = LineProgress(source.name)
    if source.suffix.lower() == ".blend":
        if args.fps is not None:
            raise ConductorError("--fps cannot change a saved .blend's rate; run 'generate' again with --fps.")
        scene = open_scene(str(source), given_as="the .blend to render")
        render_video(scene, output, render_options_from_args(args), progress=progress)
        print(f"wrote {output}")
        return EXIT_OK
    if not source.is_file():
        raise ConductorError(f"'{source}' does not exist; give a .blend made by 'generate' or a music file.")
    job = job_from_args(args, source)
    refuse_missing_torch(job.generate)
    produce(job, None, output, [], render_options_from_args(args), progress)
    print(f"wrote {output}")
    return EXIT_OK


def command_render_still(args: argparse.Namespace, source: Path, output: Path) -> int:
    from .render import render_still

    if source.suffix.lower() != ".blend":
        raise ConductorError(f"A still frame is rendered from a .blend made by 'generate', not '{source.name}'.")
    check_output_folder(output.parent)
    scene = open_scene(str(source), given_as="the .blend to render")
    frame = scene.frame_start if args.frame is None else args.frame
    print(f"wrote {render_still(scene, output, render_options_from_args(args), frame=frame)}")
    return EXIT_OK


def command_export(args: argparse.Namespace) -> int:
    from .exports import export_scene

    source = Path(args.input)
    if source.suffix.lower() != ".blend":
        raise ConductorError(f"'{source.name}' is not a .blend; give a file made by 'generate'.")
    check_output_names(None, args.output)
    scene = open_scene(str(source), given_as="the .blend to export")
    armature, motion = stored_motion(scene)  # checked before any file is written
    for output in args.output:
        print(f"wrote {export_scene(scene, armature, motion, Path(output), all_bones=args.all_bones)}")
    return EXIT_OK


# ---------------------------------------------------------------------------------- arguments
def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings of a run, from core's option dataclasses: generation, then the keys."""
    add_arguments(parser.add_argument_group("scene"), SceneJob, nested=False)
    add_arguments(parser.add_argument_group("generation"), GenerateOptions)
    add_arguments(parser.add_argument_group("motion"), ApplyOptions)


# The video options' defaults, by argument name: one given otherwise where no video is made is refused.
VIDEO_DEFAULTS = {
    "resolution": "1280x720",
    "quality": "medium",
    "engine": "cycles",
    "samples": 16,
    "gpu": "none",
    "denoise": True,
    "seconds": None,
}


def refuse_unused_video_options(args: argparse.Namespace, *, video: bool, fix: str) -> None:
    """ConductorError naming the video options given where no video is made (``video`` False);
    ``fix`` says what to do instead."""
    given = [name for name, default in VIDEO_DEFAULTS.items() if getattr(args, name) != default]
    if given and not video:
        flags = [f"--{'no-' if name == 'denoise' else ''}{name}" for name in given]
        raise ConductorError(f"{', '.join(flags)} only apply to a video, and none is made; {fix}.")


def refuse_unused_key_tolerance(args: argparse.Namespace) -> None:
    """ConductorError when --key-tolerance is given with keys it does not thin (it drops linear
    keys only; the panel greys it out for the others)."""
    if args.interpolation != "LINEAR" and args.key_tolerance != ApplyOptions().key_tolerance:
        raise ConductorError(
            f"--key-tolerance only thins LINEAR keys, and --interpolation is {args.interpolation}; drop one of the two."
        )


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    from .render import DEVICES, ENGINES, QUALITIES

    group = parser.add_argument_group("video")
    group.add_argument(
        "--resolution", default=VIDEO_DEFAULTS["resolution"], help="WIDTHxHEIGHT in pixels (default 1280x720)"
    )
    group.add_argument(
        "--quality", default=VIDEO_DEFAULTS["quality"], choices=QUALITIES, help="H.264 quality (default medium)"
    )
    group.add_argument(
        "--engine",
        default=VIDEO_DEFAULTS["engine"],
        choices=ENGINES,
        help="cycles (default: CPU or --gpu, needs no OpenGL), workbench (flat, about 10x faster on "
        "CPU; needs OpenGL, e.g. Mesa's libegl1 + libgl1-mesa-dri), eevee (for GPUs: minutes of "
        "shader compiling on a CPU)",
    )
    group.add_argument(
        "--samples",
        type=at_least_one,
        default=VIDEO_DEFAULTS["samples"],
        help="Cycles samples a pixel (default 16, denoised)",
    )
    group.add_argument(
        "--gpu", default=VIDEO_DEFAULTS["gpu"], choices=DEVICES, help="Cycles GPU backend (default none: CPU)"
    )
    group.add_argument(
        "--denoise",
        action=argparse.BooleanOptionalAction,
        default=VIDEO_DEFAULTS["denoise"],
        help="Cycles denoising with OpenImageDenoise (default: yes; slow on few CPU cores)",
    )
    group.add_argument("--seconds", type=float, help="render only the first SECONDS of the piece")


def at_least_one(text: str) -> int:
    """A whole number of 1 or more, read as argparse reads it (a bad one is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headless_main.py",
        description="VirtualConductor without a screen.",
        epilog="Exit status: 0 done, 1 bad input (one sentence on stderr), 2 a malformed command line, "
        "3 some files of a batch failed, 70 an internal error (please report it), 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="music -> .blend with the conductor animated and the music")
    generate.add_argument("audio", help="music file (wav, flac, ogg, mp3; m4a/aac/opus with ffmpeg)")
    generate.add_argument("-o", "--output", required=True, help="the .blend to write")
    generate.add_argument("--render", help="also render the animation to this .mp4")
    generate.add_argument(
        "--export",
        action="append",
        default=[],
        metavar="FILE",
        help="also export to FILE (.bvh, .glb, .gltf, .fbx, .npz, .json, .csv); repeatable",
    )
    add_generation_arguments(generate)
    add_render_arguments(generate)
    generate.set_defaults(run=command_generate)

    batch = commands.add_parser("batch", help="every music file of folders, files and lists -> outputs in one folder")
    batch.add_argument("inputs", nargs="*", help="music files and folders of music files")
    batch.add_argument(
        "--list",
        action="append",
        default=[],
        metavar="FILE",
        help="a text file naming one music file a line (relative to the list); repeatable",
    )
    batch.add_argument("-o", "--output", required=True, help="folder for the outputs (NAME.blend, NAME.mp4, ...)")
    batch.add_argument(
        "--formats",
        default="blend",
        help="comma-separated outputs per file: blend, mp4, bvh, glb, gltf, fbx, npz, json, csv (default blend)",
    )
    batch.add_argument(
        "--shard", default="0/1", help="I/N: this process takes files I, I+N, I+2N, ... of the ordered list"
    )
    batch.add_argument("--force", action="store_true", help="redo files whose outputs already exist")
    batch.add_argument("--summary", help="also write the summary as JSON to this file")
    add_generation_arguments(batch)
    add_render_arguments(batch)
    batch.set_defaults(run=command_batch)

    render = commands.add_parser("render", help="a .blend from 'generate' (or a music file) -> H.264/AAC .mp4")
    render.add_argument("input", help="a .blend made by 'generate', or a music file")
    render.add_argument(
        "-o", "--output", required=True, help="the .mp4 to write, or a .png for one frame (see --frame)"
    )
    render.add_argument("--frame", type=int, help="with a .png output: the scene frame to render (default: the first)")
    add_generation_arguments(render)
    add_render_arguments(render)
    render.set_defaults(run=command_render)

    export = commands.add_parser("export", help="a .blend from 'generate' -> BVH, glTF/GLB, FBX, .npz/.json/.csv")
    export.add_argument("input", help="a .blend made by 'generate'")
    export.add_argument(
        "-o",
        "--output",
        required=True,
        action="append",
        help="file to write (.bvh, .glb, .gltf, .fbx, .npz, .json, .csv); repeatable",
    )
    export.add_argument(
        "--all-bones",
        action="store_true",
        help="carry every bone of the rig, not only its deform bones and those objects hang from",
    )
    export.set_defaults(run=command_export)
    return parser


def command_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    # The video options without mp4 in --formats are kept, not refused: a farm's conduct task
    # passes the render task's settings so that both agree on what the files were made from.
    refuse_unused_key_tolerance(args)
    failed = run_batch(args, lambda music: job_from_args(args, music), render_options_from_args(args))
    return EXIT_BATCH_FAILED if failed else EXIT_OK


def job_from_args(args: argparse.Namespace, audio: Path) -> SceneJob:
    return from_arguments(SceneJob, args, audio=audio)


def render_options_from_args(args: argparse.Namespace) -> Any:
    from .render import RenderOptions, parse_resolution

    return RenderOptions(
        resolution=parse_resolution(args.resolution),
        quality=args.quality,
        engine=args.engine,
        samples=args.samples,
        gpu=args.gpu,
        seconds=args.seconds,
        denoise=args.denoise,
    )


def _path_or_none(value: str | None) -> Path | None:
    return Path(value) if value else None


# ---------------------------------------------------------------------------------- entry point
def main(argv: Sequence[str]) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    stop_on_sigterm()
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as done:  # --help (0), or a malformed command line (2, argparse's usage message)
        return int(done.code or 0)
    try:
        return args.run(args)
    except ConductorError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; finished outputs are kept, no partial file is left.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as error:
        package = missing_dependency(error)
        if package is None:
            traceback.print_exc()
            return EXIT_INTERNAL_ERROR
        print(f"error: {missing_package_sentence(package)}", file=sys.stderr, flush=True)
        return EXIT_USER_ERROR
    except Exception:
        traceback.print_exc()
        return EXIT_INTERNAL_ERROR
