"""Look at a motion without Blender: the skeleton drawn as a video with the music, or one frame,
and the keypoint curves over time as a picture.

Drawing is numpy only (anti-aliased thick lines and discs); videos go through an ``ffmpeg``
subprocess (H.264, AAC music); PNGs are written with zlib, or plotted with matplotlib where it
is installed. Every file is written to a temporary name beside the target and renamed.
"""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import ConductorError
from .keypoints import Motion
from ..outputs import check_output_folder
from .skeleton import EDGES, JOINT_INDEX, JOINT_NAMES

# Colours (RGB) by body side, as the skeleton is seen: the conductor's right arm on the left.
CENTRE_RGB = (90, 200, 120)
LEFT_RGB = (70, 150, 255)  # the conductor's left side
RIGHT_RGB = (255, 110, 70)  # the conductor's right side (usually the baton hand)
THEMES = {"dark": ((22, 22, 28), (235, 235, 235)), "light": ((250, 250, 248), (40, 40, 40))}


def side_colour(*joints: int) -> tuple[int, int, int]:
    names = [JOINT_NAMES[j] for j in joints]
    if all(name.startswith("left_") for name in names):
        return LEFT_RGB
    if all(name.startswith("right_") for name in names):
        return RIGHT_RGB
    return CENTRE_RGB


# ---------------------------------------------------------------------------------- drawing
def fit_to_canvas(keypoints: np.ndarray, width: int, height: int, *, margin: float = 0.08) -> np.ndarray:
    """Pixel coordinates of ``keypoints`` scaled as a whole (same scale for every frame), so
    the middle 99 % of all joint positions fills the canvas.

    Parameters
    ----------
    keypoints : np.ndarray [shape=(T, 13, 2), float] image units
        x, y in [0, 1] image coordinates, y down, any frame rate; NaN allowed (left out of the fit).
    width, height : int
        Canvas size in pixels.
    margin : float
        Free border as a fraction of the smaller side.

    Returns
    -------
    pixels : np.ndarray [shape=(T, 13, 2), float64] pixels
        x, y on the canvas (y down), frame for frame.
    """
    finite = keypoints[np.isfinite(keypoints).all(-1)]  # (N, 2)
    if finite.size:  # the 0.5th to 99.5th percentile: a rare flung hand does not shrink the rest
        low, high = np.percentile(finite, 0.5, axis=0), np.percentile(finite, 99.5, axis=0)
    else:
        low, high = np.zeros(2), np.ones(2)
    span = np.maximum(high - low, 1e-3)
    room = np.array([width, height], dtype=np.float64) - 2 * margin * min(width, height)
    scale = float(np.min(room / span))
    centre = (low + high) / 2
    return (keypoints - centre) * scale + np.array([width, height]) / 2


def draw_segment(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, *, radius: float, rgb: Sequence[int]) -> None:
    """Blend a round-capped segment from ``a`` to ``b`` into ``canvas`` in place, anti-aliased
    over one pixel (nothing where an end is not finite).

    Parameters
    ----------
    canvas : np.ndarray [shape=(H, W, 3), float32] RGB in [0, 255]
    a, b : np.ndarray [shape=(2,), float] pixels
        The ends, x and y (y down); equal ends draw a disc.
    radius : float
        Half the line's width, pixels.
    rgb : sequence of 3 int in [0, 255]
    """
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return
    height, width = canvas.shape[:2]
    x0, y0 = np.floor(np.minimum(a, b) - radius - 1).astype(int)
    x1, y1 = np.ceil(np.maximum(a, b) + radius + 1).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    direction = b - a
    length2 = float(direction @ direction)
    along = (xs - a[0]) * direction[0] + (ys - a[1]) * direction[1]
    t = np.zeros_like(xs) if length2 == 0 else np.clip(along / length2, 0, 1)  # nearest point's place
    distance = np.hypot(xs - (a[0] + t * direction[0]), ys - (a[1] + t * direction[1]))
    coverage = np.clip(radius + 0.5 - distance, 0.0, 1.0)[..., None]
    patch = canvas[y0:y1, x0:x1]
    patch += coverage * (np.asarray(rgb, dtype=np.float32) - patch)


def draw_skeleton(
    pixels: np.ndarray, width: int, height: int, *, theme: str = "dark", progress_fraction: float | None = None
) -> np.ndarray:
    """One frame: limbs as thick lines, joints as discs.

    Parameters
    ----------
    pixels : np.ndarray [shape=(13, 2), float] pixels
        One frame of :func:`fit_to_canvas`'s result.
    width, height : int
        Canvas size in pixels.
    theme : "dark" or "light"
    progress_fraction : float in [0, 1] or None
        Draws a thin bar along the bottom showing how far through the piece the frame is.

    Returns
    -------
    image : np.ndarray [shape=(height, width, 3), uint8] RGB
    """
    background, foreground = THEMES[theme]
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = background
    unit = min(width, height) / 100.0
    for i, j in EDGES:
        draw_segment(canvas, pixels[i], pixels[j], radius=1.1 * unit, rgb=side_colour(i, j))
    for joint, point in enumerate(pixels):
        draw_segment(canvas, point, point, radius=1.6 * unit, rgb=foreground)
        draw_segment(canvas, point, point, radius=1.0 * unit, rgb=side_colour(joint))
    if progress_fraction is not None:
        bar = max(2, round(0.6 * unit))
        canvas[height - bar :, : round(width * min(max(progress_fraction, 0.0), 1.0))] = foreground
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------- files
def write_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write ``image`` [shape=(H, W, 3), uint8] RGB as a PNG (zlib, no other dependency),
    atomically; returns the path written."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )
    return _write_bytes(Path(path), data)


def _write_bytes(path: Path, data: bytes) -> Path:
    from ..outputs import write_atomically

    return write_atomically(path, lambda handle: handle.write(data), binary=True)


def _check_output(path: Path, suffixes: Sequence[str]) -> Path:
    if path.suffix.lower() not in suffixes:
        raise ConductorError(f"Cannot write '{path.name}'; name it {' or '.join(suffixes)}.")
    check_output_folder(path.parent)  # before any frame is drawn
    return path


def parse_size(text: str) -> tuple[int, int]:
    """ "640x480" or "480" (square) -> (width, height), even numbers (H.264 needs them)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise ConductorError(f"Size '{text}' is not WIDTHxHEIGHT or one number, e.g. 640x480.") from None
    width, height = (parts * 2)[:2] if len(parts) in (1, 2) else (0, 0)
    if not (32 <= width <= 4096 and 32 <= height <= 4096) or width % 2 or height % 2:
        raise ConductorError(f"Size '{text}' must be even numbers from 32 to 4096.")
    return width, height


def render_still(
    motion: Motion,
    output: str | os.PathLike[str],
    *,
    at_s: float = 0.0,
    size: tuple[int, int] = (480, 480),
    theme: str = "dark",
) -> Path:
    """The skeleton at ``at_s`` seconds of the music (negative in a lead-in) as a PNG."""
    output = _check_output(Path(output), (".png",))
    first_s, last_s = -motion.lead_in_s, motion.duration_s - motion.lead_in_s
    if not first_s - 1e-9 <= at_s <= last_s:
        raise ConductorError(
            f"{at_s:g} s is outside the motion ({first_s:.2f} to {last_s:.2f} s); give --at a time within it."
        )
    width, height = size
    frame = int(motion.frames_at(at_s))
    pixels = fit_to_canvas(motion.keypoints, width, height)
    return write_png(output, draw_skeleton(pixels[frame], width, height, theme=theme))


def render_preview(
    motion: Motion,
    output: str | os.PathLike[str],
    *,
    audio: str | os.PathLike[str] | None = None,
    size: tuple[int, int] = (480, 480),
    theme: str = "dark",
    crf: int = 23,
    progress: Callable[[float, str], None] | None = None,
) -> Path:
    """The skeleton as an H.264 MP4 at the motion's frame rate, with ``audio`` as AAC if given.

    The video is as long as the motion; the music starts after its lead-in and is cut to it.
    Needs ``ffmpeg`` on PATH.
    """
    output = _check_output(Path(output), (".mp4",))
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConductorError(
            "Writing a preview video needs ffmpeg; install it (e.g. apt-get install ffmpeg) or write a .png."
        )
    if audio is not None and not Path(audio).is_file():
        raise ConductorError(f"Audio file '{audio}' does not exist; check the path or leave out --audio.")
    report = progress or (lambda fraction, message: None)
    width, height = size
    pixels = fit_to_canvas(motion.keypoints, width, height)
    temporary = output.with_name(f".{output.stem}.partial-{os.getpid()}.mp4")
    command = _ffmpeg_command(
        ffmpeg, temporary, size=size, fps=motion.fps, audio=audio, crf=crf, audio_delay_s=motion.lead_in_s
    )
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    stdin, stderr = process.stdin, process.stderr
    assert stdin is not None and stderr is not None, "both are pipes"
    try:
        for index in range(motion.frame_count):
            image = draw_skeleton(
                pixels[index], width, height, theme=theme, progress_fraction=(index + 1) / motion.frame_count
            )
            stdin.write(image.tobytes())
            if index % 30 == 0:
                report(index / motion.frame_count, f"frame {index}/{motion.frame_count}")
        stdin.close()
        error_text = stderr.read().decode(errors="replace").strip()
        if process.wait() != 0 or not temporary.is_file():
            reason = (error_text.splitlines() or ["unknown error"])[-1]
            raise ConductorError(f"ffmpeg could not write '{output.name}' ({reason}).")
        os.replace(temporary, output)
    except BrokenPipeError:
        process.wait()
        reason = (stderr.read().decode(errors="replace").strip().splitlines() or ["it stopped early"])[-1]
        raise ConductorError(f"ffmpeg could not write '{output.name}' ({reason}).") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if temporary.exists():
            temporary.unlink()
    report(1.0, "done")
    return output


def _ffmpeg_command(
    ffmpeg: str,
    output: Path,
    *,
    size: tuple[int, int],
    fps: float,
    audio: str | os.PathLike[str] | None,
    crf: int,
    audio_delay_s: float = 0.0,
) -> list[str]:
    """The ffmpeg command that reads raw RGB frames of ``size`` on stdin at ``fps`` and writes
    them to ``output`` as H.264 (quality ``crf``), with ``audio`` as AAC starting
    ``audio_delay_s`` seconds in and cut to the video."""
    width, height = size
    command = [
        ffmpeg,
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        f"{fps:.6g}",
        "-i",
        "-",
    ]
    if audio is not None:
        # apad: music shorter than the motion goes on as silence, so -shortest cuts to the video
        # (alone, ffmpeg stopped at the music's end and the frames still coming broke the pipe)
        # (adelay: the motion's lead-in plays before the music, in silence)
        delay = f"adelay={round(audio_delay_s * 1000)}:all=1," if audio_delay_s > 0 else ""
        command += [
            "-i",
            str(audio),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-af",
            f"{delay}apad",
            "-c:a",
            "aac",
            "-b:a",
            "192k",
        ]
        command += ["-shortest"]
    return command + [
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        str(int(crf)),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(output),
    ]


# ---------------------------------------------------------------------------------- curves
PLOT_JOINTS = ("nose", "left_wrist", "right_wrist", "left_elbow", "right_elbow")


def plot_curves(
    motion: Motion,
    output: str | os.PathLike[str],
    *,
    joints: Sequence[str] = PLOT_JOINTS,
    size: tuple[int, int] = (1200, 600),
) -> Path:
    """x and y of ``joints`` against time as a PNG: matplotlib where installed, else numpy lines."""
    output = _check_output(Path(output), (".png",))
    unknown = [name for name in joints if name not in JOINT_INDEX]
    if unknown:
        raise ConductorError(f"Unknown joints {', '.join(unknown)}; choose from {', '.join(JOINT_NAMES)}.")
    try:
        import matplotlib
    except ImportError:
        return write_png(output, _plain_plot(motion, joints, size))
    matplotlib.use("Agg")
    from matplotlib import pyplot

    times_s = motion.times_s  # in the music: the lead-in before 0
    figure, axes = pyplot.subplots(2, 1, sharex=True, figsize=(size[0] / 100, size[1] / 100), dpi=100)
    for name in joints:
        series = motion.keypoints[:, JOINT_INDEX[name]]
        colour = np.array(side_colour(JOINT_INDEX[name])) / 255
        style = "-" if "wrist" in name or name == "nose" else "--"
        for axis, values in zip(axes, series.T):
            axis.plot(times_s, values, style, color=colour, linewidth=1.0, label=name.replace("_", " "))
    axes[0].set_ylabel("x (image width)")
    axes[1].set_ylabel("y (image height, down)")
    axes[1].invert_yaxis()
    axes[1].set_xlabel("time (s)")
    axes[0].legend(loc="upper right", ncol=len(joints), fontsize=8, frameon=False)
    title = (
        f"{motion.source_audio or 'motion'}: {motion.frame_count} frames at {motion.fps:g} fps "
        f"({motion.weights_id or '?'})"
    )
    axes[0].set_title(title, fontsize=10)
    figure.tight_layout()
    temporary = output.with_name(f".{output.stem}.partial-{os.getpid()}.png")
    try:
        figure.savefig(temporary, format="png")
        os.replace(temporary, output)
    except OSError as error:
        raise ConductorError(f"Could not write '{output}' ({error.strerror}); check the folder.") from error
    finally:
        pyplot.close(figure)
        if temporary.exists():
            temporary.unlink()
    return output


def _plain_plot(motion: Motion, joints: Sequence[str], size: tuple[int, int]) -> np.ndarray:
    """The same two panels as :func:`plot_curves`, drawn without labels: (H, W, 3) uint8."""
    width, height = size
    canvas = np.full((height, width, 3), 255.0, dtype=np.float32)
    panel = height // 2
    count = motion.frame_count
    xs = np.linspace(0.04 * width, 0.98 * width, count)
    for row in range(2):
        top, bottom = row * panel + 0.06 * panel, (row + 1) * panel - 0.06 * panel
        canvas[int(bottom), int(xs[0]) : int(xs[-1])] = 160  # time axis
        values = motion.keypoints[:, [JOINT_INDEX[n] for n in joints], row]
        low, high = np.nanmin(values), np.nanmax(values)
        ys = top + (values - low) / max(high - low, 1e-6) * (bottom - top)  # y down in both
        step = max(1, count // width)
        for column, name in enumerate(joints):
            points = np.stack([xs, ys[:, column]], axis=1)[::step]
            for a, b in itertools.pairwise(points):
                draw_segment(canvas, a, b, radius=0.8, rgb=side_colour(JOINT_INDEX[name]))
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
