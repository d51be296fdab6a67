"""The conductor scene to video: H.264 with the music as AAC in an MP4, headless, CPU or GPU.

Engines, as tried with the ``bpy`` module 5.0.1 on a machine with no GPU and no display:

- ``cycles`` (default) needs no OpenGL at all, so it renders anywhere; ``gpu`` picks CUDA,
  OptiX, HIP, oneAPI or Metal for it (Cycles device preferences, all devices of that kind).
  On two CPU cores a 1280x720 frame of the conductor takes about 19 s at 16 samples, and the
  OpenImageDenoise pass adds about 40 s more: use a GPU, fewer ``samples`` or no ``denoise``.
- ``workbench`` (flat studio lighting) takes about 2 s a 1280x720 frame on the same CPU, but
  needs an OpenGL context: on a server without a GPU that is Mesa's software EGL (Debian:
  libegl1, libgl1-mesa-dri); with no EGL at all Blender aborts the whole process.
- ``eevee`` is for machines with a GPU: on Mesa's software EGL it works, but the first frame
  took about two minutes (compiling its shaders on the CPU), even at 160x120.

The video is written to a temporary name in the output's folder and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import bpy

from ..core.errors import ConductorError
from ..core.outputs import check_output_folder
from . import compat
from .console import held_output
from .keyframes import scene_fps

ENGINES = ("cycles", "eevee", "workbench")
QUALITIES = ("low", "medium", "high", "lossless")
DEVICES = ("none", "cuda", "optix", "hip", "oneapi", "metal")
_CRF = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH", "lossless": "LOSSLESS"}


@dataclasses.dataclass
class RenderOptions:
    """How to render (plain data from the command line).

    resolution : (width, height) in pixels, even numbers (H.264 needs them).
    quality : one of :data:`QUALITIES` (H.264 constant rate factor).
    engine : one of :data:`ENGINES`.
    samples : Cycles samples a pixel (EEVEE's too), at least 1.
    gpu : one of :data:`DEVICES`; "none" renders Cycles on the CPU.
    denoise : denoise Cycles renders (OpenImageDenoise; about 1 s a frame on two CPU cores).
    seconds : render only the first ``seconds`` of the scene's frame range (None: all of it).
    audio_bitrate_kbps : AAC bit rate.
    """

    resolution: tuple[int, int] = (1280, 720)
    quality: str = "medium"
    engine: str = "cycles"
    samples: int = 16
    gpu: str = "none"
    denoise: bool = True
    seconds: float | None = None
    audio_bitrate_kbps: int = 192


def parse_resolution(text: str) -> tuple[int, int]:
    """ "1280x720" -> (1280, 720); raises ConductorError on anything else."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConductorError(f"Resolution '{text}' is not WIDTHxHEIGHT, e.g. 1280x720.") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384) or width % 2 or height % 2:
        raise ConductorError(
            f"Resolution {width}x{height} must be even numbers from 16 to 16384 (H.264 needs even sizes)."
        )
    return width, height


def configure(scene: Any, options: RenderOptions) -> tuple[int, int]:
    """Set the scene's engine, size and H.264/AAC output; returns the frame range to render."""
    if options.engine not in ENGINES or options.quality not in _CRF or options.gpu not in DEVICES:
        raise ConductorError(
            f"Render options must be an engine of {ENGINES}, a quality of {QUALITIES} and a gpu of {DEVICES}."
        )
    if options.samples < 1:
        raise ConductorError(f"Samples must be at least 1, got {options.samples}.")
    if scene.camera is None:
        raise ConductorError(f"Scene '{scene.name}' has no camera to render from; add one or use --camera.")
    render = scene.render
    render.resolution_x, render.resolution_y = options.resolution
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    _set_engine(scene, options)

    compat.set_video_output(render.image_settings)
    ffmpeg = render.ffmpeg
    ffmpeg.format, ffmpeg.codec = "MPEG4", "H264"
    ffmpeg.constant_rate_factor, ffmpeg.ffmpeg_preset = _CRF[options.quality], "GOOD"
    fps = render.fps / render.fps_base
    ffmpeg.gopsize = max(1, round(fps))  # a key frame each second: seekable previews
    ffmpeg.use_max_b_frames = False
    ffmpeg.audio_codec, ffmpeg.audio_channels = "AAC", "STEREO"
    ffmpeg.audio_bitrate, ffmpeg.audio_mixrate = options.audio_bitrate_kbps, 48000
    render.use_file_extension = False

    start, end = scene.frame_start, scene.frame_end
    if options.seconds is not None:
        if options.seconds <= 0:
            raise ConductorError(f"--seconds must be more than 0, got {options.seconds:g}.")
        end = min(end, start + max(1, round(options.seconds * fps)) - 1)
    return start, end


def _set_engine(scene: Any, options: RenderOptions) -> None:
    if options.engine == "workbench":
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.display.shading.light = "STUDIO"
        scene.display.shading.color_type = "MATERIAL"
        return
    if options.engine == "eevee":
        compat.use_eevee(scene.render)
        scene.eevee.taa_render_samples = options.samples
        return
    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.samples = options.samples
    cycles.use_adaptive_sampling = True
    cycles.use_denoising = options.denoise
    cycles.denoiser = "OPENIMAGEDENOISE"
    cycles.max_bounces = 4
    cycles.device = "CPU"
    if options.gpu != "none":
        _use_gpu(options.gpu.upper())
        cycles.device = "GPU"


def _use_gpu(backend: str) -> None:
    """Switch Cycles to ``backend`` (CUDA, OPTIX, HIP, ONEAPI, METAL) with all its devices."""
    user_preferences = bpy.context.preferences
    assert user_preferences is not None, "Blender always has user preferences"
    # Cycles' own AddonPreferences subclass: its fields are not in the stubs.
    preferences: Any = user_preferences.addons["cycles"].preferences
    try:
        preferences.compute_device_type = backend
    except TypeError:
        raise ConductorError(f"This Blender's Cycles has no {backend} support; pick another --gpu or none.") from None
    preferences.get_devices()  # refresh the device list for this backend
    devices = [device for device in preferences.devices if device.type == backend]
    if not devices:
        raise ConductorError(f"Cycles finds no {backend} device on this machine; pick another --gpu or none.")
    for device in preferences.devices:
        device.use = device.type == backend


def render_video(
    scene: Any,
    output: str | os.PathLike[str],
    options: RenderOptions,
    *,
    progress: Callable[[float, str], None] | None = None,
    music: str | os.PathLike[str] | None = None,
) -> Path:
    """Render ``scene``'s frame range (its camera, its sound strips) to the MP4 ``output``.

    ``music``: the piece's file, laid under the video with ffmpeg from the first rendered frame
    when this Blender build has no audio support (the 4.2 ``bpy`` wheel) and so cannot mix the
    sound strips itself. Returns the written path. Raises ConductorError with no file at
    ``output`` (and no temporary file) when anything fails.
    """
    output = Path(output).resolve()
    if output.suffix.lower() not in (".mp4", ".m4v"):
        raise ConductorError(f"The video '{output.name}' must be an .mp4 (H.264 video with AAC audio).")
    check_output_folder(output.parent)
    report = progress or (lambda fraction, message: None)
    with held_output():  # Cycles' device probe ("WARNING CUEW initialization failed"), shown only if it fails
        start, end = configure(scene, options)
    temporary = output.with_name(f".{output.stem}.partial-{os.getpid()}.mp4")
    saved = (scene.frame_start, scene.frame_end, scene.render.filepath)
    scene.frame_start, scene.frame_end = start, end
    scene.render.filepath = str(temporary)
    total = end - start + 1
    done = [0]

    def frame_done(*_args: Any) -> None:
        done[0] += 1
        report(done[0] / total, f"frame {done[0]}/{total}")

    bpy.app.handlers.render_post.append(frame_done)
    try:
        report(0.0, f"rendering {total} frames at {options.resolution[0]}x{options.resolution[1]} ({options.engine})")
        with compat.context_override(scene=scene):
            bpy.ops.render.render(animation=True, scene=scene.name)
        if not temporary.is_file() or temporary.stat().st_size == 0:
            raise ConductorError(f"Blender wrote no video for '{output.name}'; check the render log above.")
        if music is not None and not compat.can_load_sound():
            add_music_with_ffmpeg(temporary, Path(music), seconds=total / scene_fps(scene))
        os.replace(temporary, output)
    except (RuntimeError, OSError) as error:
        raise ConductorError(f"Rendering '{output.name}' failed ({str(error).strip().splitlines()[0]}).") from error
    finally:
        bpy.app.handlers.render_post.remove(frame_done)
        scene.frame_start, scene.frame_end, scene.render.filepath = saved
        if temporary.exists():
            temporary.unlink()
    return output


def add_music_with_ffmpeg(video: Path, music: Path, *, seconds: float) -> None:
    """Mux ``music`` (cut to ``seconds``) as AAC under the silent MP4 ``video``, in place."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConductorError(
            "This Blender build cannot mix audio into the video; install ffmpeg so the music can be added."
        )
    muxed = video.with_name(video.stem + ".music.mp4")
    command = [
        ffmpeg,
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-i",
        str(video),
        "-i",
        str(music),
        "-t",
        f"{seconds:.3f}",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        str(muxed),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        muxed.unlink(missing_ok=True)
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ConductorError(f"Adding the music to '{video.name}' failed ({reason}).")
    os.replace(muxed, video)


def render_still(scene: Any, output: str | os.PathLike[str], options: RenderOptions, *, frame: int) -> Path:
    """Render frame ``frame`` of ``scene`` (its camera) to the PNG ``output``.

    Written to a temporary name and renamed; raises ConductorError, leaving no file, when the
    frame is outside the scene's range or rendering fails.
    """
    output = Path(output).resolve()
    if output.suffix.lower() != ".png":
        raise ConductorError(f"A still frame is written as .png, not '{output.name}'.")
    check_output_folder(output.parent)
    if not scene.frame_start <= frame <= scene.frame_end:
        raise ConductorError(f"Frame {frame} is outside the scene's frames {scene.frame_start}-{scene.frame_end}.")
    with held_output():  # Cycles' device probe, as for a video
        configure(scene, options)
    compat.set_png_output(scene.render.image_settings)
    temporary = output.with_name(f".{output.stem}.partial-{os.getpid()}.png")
    saved_frame = scene.frame_current
    try:
        scene.frame_set(frame)
        with compat.context_override(scene=scene):
            bpy.ops.render.render(write_still=False, scene=scene.name)
        # Saved by us, quietly (write_still would print the temporary name), then renamed.
        bpy.data.images["Render Result"].save_render(filepath=str(temporary), scene=scene)
        if not temporary.is_file():
            raise ConductorError(f"Blender wrote no image for '{output.name}'; check the render log above.")
        os.replace(temporary, output)
    except (RuntimeError, OSError, KeyError) as error:
        raise ConductorError(f"Rendering '{output.name}' failed ({str(error).strip().splitlines()[0]}).") from error
    finally:
        scene.frame_set(saved_frame)
        if temporary.exists():
            temporary.unlink()
    return output
