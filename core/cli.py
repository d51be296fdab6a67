"""``python -m core``: the command line over core (mel, generate, preview, plot).

Exit status 0 only on success. Errors a user can fix print one sentence to stderr (or, with
``--progress-jsonl``, a JSON line) and exit 1; a bug prints its traceback and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

from .errors import ConductorError


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
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} {now - self.started:6.1f} s  {message[:40]:<40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def jsonl_progress(fraction: float, message: str) -> None:
    print(json.dumps({"progress": round(float(fraction), 4), "message": message}), flush=True)


def command_mel(args: argparse.Namespace) -> str:
    import numpy as np

    from .audio import load_audio
    from .mel import mel_90hz
    from .motion import write_atomically

    mel = mel_90hz(load_audio(args.audio))
    write_atomically(Path(args.output), lambda handle: np.save(handle, mel), binary=True)
    return f"wrote {args.output}: mel {mel.shape[0]} frames x {mel.shape[1]} bands at 90 fps"


def command_generate(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .generate import GenerateOptions, generate_motion

    output = Path(args.output)
    if output.suffix.lower() not in (".npz", ".json", ".csv"):
        raise ConductorError(f"Cannot write motion to '{output.name}'; name the output .npz, .json or .csv.")
    if not output.parent.is_dir() and str(output.parent):
        raise ConductorError(f"Output folder '{output.parent}' does not exist; create it or pick another.")
    options = GenerateOptions(
        weights=args.weights, seed=args.seed, noise_path=args.noise, variation=args.variation, device=args.device,
        meter=args.meter,
    )
    motion = generate_motion(args.audio, options, progress=progress)
    if args.fps is not None:
        motion = motion.resampled(args.fps)
    motion.save(output)
    return (
        f"wrote {output}: {motion.frame_count} frames at {motion.fps:g} fps ({motion.duration_s:.1f} s), "
        f"weights {motion.weights_id}, seed {motion.seed}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="VirtualConductor: music in, conducting motion out.")
    commands = parser.add_subparsers(dest="command", required=True)

    mel = commands.add_parser("mel", help="compute the (T90, 128) mel feature at 90 fps")
    mel.add_argument("audio", help="music file (wav, flac, ogg, mp3; m4a/aac/opus with ffmpeg)")
    mel.add_argument("-o", "--output", required=True, help="where to write the .npy")

    generate = commands.add_parser("generate", help="generate conducting motion for a piece of music")
    generate.add_argument("audio", help="music file, or a mel .npy from 'python -m core mel'")
    generate.add_argument("-o", "--output", required=True, help="motion file to write: .npz, .json or .csv")
    generate.add_argument("--weights", default="default",
                          help="'default', 'procedural', 'neural' (our own trained M2S-GAN, experimental), "
                               "or a .safetensors/.pt generator file")
    noise = generate.add_mutually_exclusive_group()
    noise.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same motion; default 0)")
    noise.add_argument("--noise", help="noise .npy shaped (S, 8) or (1, S, 8), one 8-vector per second")
    generate.add_argument("--variation", type=float, default=1.0,
                          help="noise scale (procedural: human irregularity): 0 = calmest, 1 = as trained")
    generate.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    generate.add_argument("--meter", type=int, choices=(2, 3, 4, 6), default=None,
                          help="procedural conductor: beats per bar instead of the detected meter")
    generate.add_argument("--fps", type=float, help="resample the 30 fps output to this frame rate (24, 25, 29.97, 60, ...)")
    generate.add_argument("--progress-jsonl", action="store_true", help="print progress as JSON lines (for the Blender worker)")

    preview = commands.add_parser("preview", help="draw a motion's skeleton as an .mp4 with the music (or one frame as .png)")
    preview.add_argument("motion", help="motion file (.npz or .json) from 'generate'")
    preview.add_argument("-o", "--output", required=True, help=".mp4 video (needs ffmpeg), or .png for the frame at --at")
    preview.add_argument("--audio", help="music to put under the video (cut to the motion's length)")
    preview.add_argument("--size", default="480x480", help="WIDTHxHEIGHT in pixels, or one number for a square (default 480)")
    preview.add_argument("--theme", default="dark", choices=("dark", "light"), help="background (default dark)")
    preview.add_argument("--at", type=float, default=0.0, help="for a .png: the time in seconds to draw")
    preview.set_defaults(run=command_preview)

    plot = commands.add_parser("plot", help="plot a motion's keypoint curves over time as a .png")
    plot.add_argument("motion", help="motion file (.npz or .json) from 'generate'")
    plot.add_argument("-o", "--output", required=True, help="the .png to write")
    plot.add_argument("--joints", default="nose,left_wrist,right_wrist,left_elbow,right_elbow",
                      help="comma-separated joint names to plot")
    plot.add_argument("--size", default="1200x600", help="WIDTHxHEIGHT in pixels (default 1200x600)")
    plot.set_defaults(run=command_plot)
    return parser


def command_preview(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .motion import Motion
    from .preview import parse_size, render_preview, render_still

    motion = Motion.load(args.motion)
    size = parse_size(args.size)
    if Path(args.output).suffix.lower() == ".png":
        render_still(motion, args.output, at_s=args.at, size=size, theme=args.theme)
        return f"wrote {args.output}: the skeleton at {args.at:g} s"
    render_preview(motion, args.output, audio=args.audio, size=size, theme=args.theme, progress=progress)
    sound = f" with {Path(args.audio).name}" if args.audio else " (no audio)"
    return f"wrote {args.output}: {motion.frame_count} frames at {motion.fps:g} fps{sound}"


def command_plot(args: argparse.Namespace, progress: Callable[[float, str], None]) -> str:
    from .motion import Motion
    from .preview import parse_size, plot_curves

    joints = [name.strip() for name in args.joints.split(",") if name.strip()]
    plot_curves(Motion.load(args.motion), args.output, joints=joints, size=parse_size(args.size))
    return f"wrote {args.output}: {', '.join(joints)} over time"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    machine = bool(getattr(args, "progress_jsonl", False))
    bar = ProgressBar(enabled=not machine)
    progress = jsonl_progress if machine else bar
    try:
        if args.command == "mel":
            summary = command_mel(args)
        elif args.command == "generate":
            summary = command_generate(args, progress)
        else:
            summary = args.run(args, progress)
    except ConductorError as error:
        bar.close()
        if machine:
            print(json.dumps({"ok": False, "error": str(error)}), flush=True)
        else:
            print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:
        bar.close()
        if machine:
            raise  # the add-on's worker turns a missing package into its own advice
        print(f"error: the package '{error.name}' is not installed; install the project's dependencies "
              "(pip install -e . from the project folder, or make demo).", file=sys.stderr)
        return 1
    except Exception as error:  # a bug, not bad input: keep the traceback for the report
        bar.close()
        traceback.print_exc()
        if machine:
            print(json.dumps({"ok": False, "error": f"internal error: {type(error).__name__}: {error}"}), flush=True)
        return 2
    bar.close()
    if machine:
        print(json.dumps({"ok": True, "output": getattr(args, "output", ""), "summary": summary}), flush=True)
    else:
        print(summary)
    return 0
