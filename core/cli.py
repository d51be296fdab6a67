"""``python -m core``: the command line over core (mel, generate, preview, plot).

Exit status (the same contract as ``addon/headless_main.py``): 0 done; 1 bad input (one sentence
on stderr saying what is wrong and how to fix it); 2 a malformed command line (argparse's usage
message); 70 an internal error (a bug: the traceback is printed, please report it); 130
interrupted. With ``--progress-jsonl`` (how the add-on runs its worker) stdout carries one JSON
event a line instead: ``{"event": "progress", "fraction", "message"}``, then one of
``{"event": "result", "output", "summary"}``, ``{"event": "error", "message"}``,
``{"event": "missing_package", "package", "message"}`` (with ``"setting"`` and ``"value"`` where a setting
asked for the package: ``--device cuda`` needs PyTorch) or ``{"event": "internal_error", "message"}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

from .errors import (
    ConductorError,
    MissingPackage,
    missing_dependency,
    missing_package_sentence,
    one_of,
    stop_on_sigterm,
)
from .options import add_arguments, from_arguments, option
from .outputs import check_output_folder


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.last_draw = 0.0
        self.started = time.monotonic()

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last_draw < 0.1 and fraction < 1.0):
            return
        self.last_draw = now
        filled = int(30 * min(max(fraction, 0.0), 1.0))
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} {now - self.started:6.1f} s  {message[:40]:<40}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 70, 130


def emit_event(event: str, **fields: object) -> None:
    """One JSON event line on stdout, for the add-on's worker protocol."""
    print(json.dumps({"event": event, **fields}), flush=True)


def jsonl_progress(fraction: float, message: str) -> None:
    emit_event("progress", fraction=round(float(fraction), 4), message=message)


@dataclasses.dataclass
class MotionOutput:
    """How ``generate`` writes the motion (besides the file name)."""

    fps: float | None = option(
        None, "resample the 30 fps motion to this frame rate (24, 25, 29.97, 60, ...)", minimum=1.0, maximum=1000.0
    )


def command_mel(args: argparse.Namespace) -> str:
    import numpy as np

    from .audio.decode import load_audio
    from .audio.mel import mel_90hz
    from .outputs import write_atomically

    if Path(args.output).suffix.lower() != ".npy":
        raise ConductorError(f"Cannot write the mel as '{Path(args.output).name}'; name it .npy.")
    check_output_folder(Path(args.output).parent)
    mel = mel_90hz(load_audio(args.audio))
    write_atomically(Path(args.output), lambda handle: np.save(handle, mel), binary=True)
    return f"wrote {args.output}: mel {mel.shape[0]} frames x {mel.shape[1]} bands at 90 fps"


def command_generate(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .generate import generate_motion
    from .generate_options import GenerateOptions
    from .motion.keypoints import MOTION_SUFFIXES
    from .procedural.conductor import beaten_summary

    output = Path(args.output)
    if output.suffix.lower() not in MOTION_SUFFIXES:
        raise ConductorError(f"Cannot write motion to '{output.name}'; name the output {one_of(MOTION_SUFFIXES)}.")
    check_output_folder(output.parent)
    options = from_arguments(GenerateOptions, args)
    motion = generate_motion(args.audio, options, progress=progress)
    for note in motion.extra.get("notes", []):
        tell_note(args, note)
    if args.fps is not None:
        motion = motion.resampled(args.fps)
    motion.save(output)
    beaten = beaten_summary(motion.extra)
    lead_in = (
        f"; the first {motion.lead_in_frames} frames ({motion.lead_in_s:.2f} s) come before the music: "
        "the conductor's preparation"
        if motion.lead_in_frames
        else ""
    )
    return (
        f"wrote {output}: {motion.frame_count} frames at {motion.fps:g} fps ({motion.duration_s:.1f} s), "
        f"weights {motion.weights_id}, seed {motion.seed}" + (f"; {beaten}" if beaten else "") + lead_in
    )


def tell_note(args: argparse.Namespace, note: str) -> None:
    """A sentence worth telling that is not an error: an event for the worker, else a line."""
    if getattr(args, "progress_jsonl", False):
        emit_event("note", message=note)
    else:
        print(f"note: {note}", file=sys.stderr)


def command_beats(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .audio.decode import SAMPLE_RATE_HZ, load_audio
    from .beats.grid import GRID_SUFFIXES, save_grid
    from .beats.track import beat_coverage
    from .beats.tracking import track_beats

    output = Path(args.output)
    if output.suffix.lower() not in GRID_SUFFIXES:
        raise ConductorError(f"Cannot write a beat grid as '{output.name}'; name it {one_of(GRID_SUFFIXES)}.")
    check_output_folder(output.parent)
    progress(0.0, "decoding audio")
    samples = load_audio(args.audio)
    progress(0.2, "tracking beats")
    track = track_beats(samples, meter=args.meter, tracker=args.tracker)
    save_grid(track, output)
    progress(1.0, "done")
    coverage_note = beat_coverage(track.beats_s, samples, SAMPLE_RATE_HZ).note() if track.beats_s.size else ""
    if coverage_note:
        tell_note(args, coverage_note)
    bars = len(track.bar_meters)
    duration = f"{samples.shape[0] / SAMPLE_RATE_HZ:.1f} s"
    if track.beats_s.size == 0:
        return f"wrote {output}: no beats heard in {duration} (silence, or no steady pulse); the grid is empty"
    return (
        f"wrote {output}: {track.beats_s.size} beats in {bars} bars of {track.meter} (most), "
        f"{track.tempo_bpm:.0f} a minute, over {duration}"
    )


def build_parser() -> argparse.ArgumentParser:
    from .generate_options import GenerateOptions

    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="VirtualConductor: music in, conducting motion out.",
        epilog="Exit status: 0 done, 1 bad input (one sentence on stderr), 2 a malformed command line, "
        "70 an internal error (please report it), 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    mel = commands.add_parser("mel", help="compute the (T90, 128) mel feature at 90 fps")
    mel.add_argument("audio", help="music file (wav, flac, ogg, mp3; m4a/aac/opus with ffmpeg)")
    mel.add_argument("-o", "--output", required=True, help="where to write the .npy")

    generate = commands.add_parser("generate", help="generate conducting motion for a piece of music")
    generate.add_argument("audio", help="music file, or (neural weights only) a mel .npy from 'python -m core mel'")
    generate.add_argument("-o", "--output", required=True, help="motion file to write: .npz, .json or .csv")
    add_arguments(generate, GenerateOptions)
    add_arguments(generate, MotionOutput)
    generate.add_argument(
        "--progress-jsonl",
        action="store_true",
        help="print progress and the outcome as JSON events (the Blender worker's protocol)",
    )

    beats = commands.add_parser("beats", help="write the beats, bars and meter the tracker hears (.json, .txt, .csv)")
    beats.add_argument("audio", help="music file (wav, flac, ogg, mp3; m4a/aac/opus with ffmpeg)")
    beats.add_argument(
        "-o",
        "--output",
        required=True,
        help="the grid to write: .json, .txt (an Audacity label track) or .csv; edit it and give it "
        "back with 'generate --beats'",
    )
    add_arguments(beats, GenerateOptions, only=("meter", "tracker"))
    beats.add_argument("--progress-jsonl", action="store_true", help="print progress and the outcome as JSON events")
    beats.set_defaults(run=command_beats)

    preview = commands.add_parser(
        "preview", help="draw a motion's skeleton as an .mp4 with the music (or one frame as .png)"
    )
    preview.add_argument("motion", help="motion file (.npz, .json or .csv) from 'generate'")
    preview.add_argument(
        "-o", "--output", required=True, help=".mp4 video (needs ffmpeg), or .png for the frame at --at"
    )
    preview.add_argument("--audio", help="music to put under the video (cut to the motion's length)")
    preview.add_argument(
        "--size", default="480x480", help="WIDTHxHEIGHT in pixels, or one number for a square (default 480)"
    )
    preview.add_argument("--theme", default="dark", choices=("dark", "light"), help="background (default dark)")
    preview.add_argument(
        "--at",
        type=float,
        default=0.0,
        help="for a .png: the time in the music to draw, seconds (negative in the conductor's lead-in)",
    )
    preview.set_defaults(run=command_preview)

    plot = commands.add_parser("plot", help="plot a motion's keypoint curves over time as a .png")
    plot.add_argument("motion", help="motion file (.npz, .json or .csv) from 'generate'")
    plot.add_argument("-o", "--output", required=True, help="the .png to write")
    plot.add_argument(
        "--joints",
        default="nose,left_wrist,right_wrist,left_elbow,right_elbow",
        help="comma-separated joint names to plot",
    )
    plot.add_argument("--size", default="1200x600", help="WIDTHxHEIGHT in pixels (default 1200x600)")
    plot.set_defaults(run=command_plot)
    return parser


def command_preview(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .motion.keypoints import Motion
    from .motion.preview import parse_size, render_preview, render_still

    motion = Motion.load(args.motion)
    size = parse_size(args.size)
    if Path(args.output).suffix.lower() == ".png":
        render_still(motion, args.output, at_s=args.at, size=size, theme=args.theme)
        return f"wrote {args.output}: the skeleton at {args.at:g} s"
    render_preview(motion, args.output, audio=args.audio, size=size, theme=args.theme, progress=progress)
    sound = f" with {Path(args.audio).name}" if args.audio else " (no audio)"
    return f"wrote {args.output}: {motion.frame_count} frames at {motion.fps:g} fps{sound}"


def command_plot(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .motion.keypoints import Motion
    from .motion.preview import parse_size, plot_curves

    joints = [name.strip() for name in args.joints.split(",") if name.strip()]
    plot_curves(Motion.load(args.motion), args.output, joints=joints, size=parse_size(args.size))
    return f"wrote {args.output}: {', '.join(joints)} over time"


def main(argv: Sequence[str] | None = None) -> int:
    stop_on_sigterm()
    machine = "--progress-jsonl" in (sys.argv[1:] if argv is None else argv)
    bar = ProgressBar(enabled=not machine)
    progress = jsonl_progress if machine else bar
    try:
        try:
            args = build_parser().parse_args(argv)  # the settings' declarations need NumPy
        except SystemExit as done:  # --help (0) or a malformed command line (2, usage printed)
            return int(done.code or 0)
        if args.command == "mel":
            summary = command_mel(args)
        elif args.command == "generate":
            summary = command_generate(args, progress)
        else:
            summary = args.run(args, progress)
    except ConductorError as error:
        bar.close()
        if machine and isinstance(error, MissingPackage):  # the add-on says how to install it there
            emit_event(
                "missing_package", package=error.package, message=str(error), setting=error.setting, value=error.value
            )
        elif machine:
            emit_event("error", message=str(error))
        else:
            print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        bar.close()
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as error:
        bar.close()
        package = missing_dependency(error)
        if package is None:
            traceback.print_exc()
            if machine:
                emit_event("internal_error", message=f"the installation is incomplete ({error}); reinstall it")
            return EXIT_INTERNAL_ERROR
        message = missing_package_sentence(package)
        if machine:
            emit_event("missing_package", package=package, message=message)
        else:
            print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # a bug, not bad input: keep the traceback for the report
        bar.close()
        traceback.print_exc()
        if machine:
            emit_event("internal_error", message=f"{type(error).__name__}: {error}")
        return EXIT_INTERNAL_ERROR
    bar.close()
    if machine:
        emit_event("result", output=getattr(args, "output", ""), summary=summary)
    else:
        print(summary)
    return EXIT_OK
