"""The 2D preview without Blender: ``python -m core preview`` (MP4 with the music, or a PNG frame)
and ``python -m core plot`` (keypoint curves), as real subprocesses on a real motion file."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import PROJECT_ROOT, write_tone
from core.motion.keypoints import Motion

SECONDS = 3.0


def core_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB PNG (what core.motion.preview.write_png writes) to (H, W, 3) uint8."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 2)
    chunks, offset = b"", 8
    while offset < len(data):
        (length,), kind = struct.unpack(">I", data[offset : offset + 4]), data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    rows = np.frombuffer(zlib.decompress(chunks), np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()  # filter type 0: rows stored as they are
    return rows[:, 1:].reshape(height, width, 3)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def motion_file(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("preview")
    music = write_tone(folder / "tone.wav", duration_s=SECONDS)
    done = core_cli("generate", music, "-o", folder / "motion.npz", "--weights", "procedural")
    assert done.returncode == 0, done.stderr
    return folder / "motion.npz", music


def test_preview_video_has_the_skeleton_and_the_music(motion_file, tmp_path: Path) -> None:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None or shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg/ffprobe are not installed (apt-get install ffmpeg)")
    motion, music = motion_file
    output = tmp_path / "preview.mp4"
    done = core_cli("preview", motion, "--audio", music, "-o", output, "--size", "160x120")
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-of", "json", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (160, 120)
    lead_in_s = Motion.load(motion).lead_in_s
    assert lead_in_s > 0.3  # the tone sounds from its first beat: the preparation comes before it
    assert int(streams["video"]["nb_frames"]) == round((SECONDS + lead_in_s) * 30)
    assert streams["audio"]["codec_name"] == "aac"
    assert float(streams["audio"]["duration"]) == pytest.approx(SECONDS + lead_in_s, abs=0.1)
    assert [p.name for p in tmp_path.iterdir()] == ["preview.mp4"]  # no temporary left
    # The music comes in after the lead-in, in time with the motion: silence before it.
    decoded = subprocess.run(
        [shutil.which("ffmpeg"), "-v", "error", "-i", str(output), "-f", "f32le", "-ac", "1", "-ar", "8000", "-"],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(decoded, dtype="<f4")
    before = samples[: int((lead_in_s - 0.05) * 8000)]
    after = samples[int((lead_in_s + 0.05) * 8000) : int((lead_in_s + 0.5) * 8000)]
    assert np.sqrt(np.mean(before**2)) < 1e-3 < np.sqrt(np.mean(after**2))
    # Music shorter than the motion goes on as silence (ffmpeg used to stop where it ended).
    short = write_tone(tmp_path / "short.wav", duration_s=1.0)
    done = core_cli("preview", motion, "--audio", short, "-o", tmp_path / "short.mp4", "--size", "64")
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-of", "json", str(tmp_path / "short.mp4")],
        capture_output=True,
        text=True,
        check=False,
    )
    streams = {s["codec_type"]: s for s in json.loads(probe.stdout)["streams"]}
    assert int(streams["video"]["nb_frames"]) == round((SECONDS + lead_in_s) * 30)
    assert float(streams["audio"]["duration"]) == pytest.approx(SECONDS + lead_in_s, abs=0.1)


def test_preview_frame_and_curve_plot_are_pictures(motion_file, tmp_path: Path) -> None:
    motion, _ = motion_file
    frame = tmp_path / "frame.png"
    done = core_cli("preview", motion, "-o", frame, "--at", 1.5, "--size", "200")
    assert done.returncode == 0, done.stderr
    # A time in the lead-in, before the music, is the preparation: drawn, not refused.
    lead_in = tmp_path / "lead_in.png"
    done = core_cli("preview", motion, "-o", lead_in, "--at", -Motion.load(motion).lead_in_s / 2, "--size", "200")
    assert done.returncode == 0, done.stderr
    assert read_png(lead_in).shape == (200, 200, 3) and not np.array_equal(read_png(lead_in), read_png(frame))
    image = read_png(frame)
    assert image.shape == (200, 200, 3)
    from core.motion.preview import CENTRE_RGB, LEFT_RGB, RIGHT_RGB, THEMES

    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert {THEMES["dark"][0], LEFT_RGB, RIGHT_RGB, CENTRE_RGB} <= colours  # background and limbs
    # the conductor's right side (orange) is drawn on the picture's left
    right_x = np.nonzero((image == RIGHT_RGB).all(-1))[1].mean()
    left_x = np.nonzero((image == LEFT_RGB).all(-1))[1].mean()
    assert right_x < left_x  # (the beating hand may cross the middle: beat 2 goes across the body)

    plot = tmp_path / "curves.png"
    done = core_cli("plot", motion, "-o", plot, "--size", "600x300")
    assert done.returncode == 0, done.stderr
    assert png_size(plot) == (600, 300)


def test_plain_numpy_plot_draws_every_joint_curve() -> None:
    from core.motion.keypoints import Motion
    from core.motion.preview import LEFT_RGB, RIGHT_RGB, _plain_plot

    t = np.linspace(0, 2 * np.pi, 90)
    keypoints = np.full((90, 13, 2), 0.5, np.float32)
    keypoints[:, 9, 1] = 0.5 + 0.2 * np.sin(t)  # left wrist
    keypoints[:, 10, 1] = 0.5 - 0.2 * np.sin(t)  # right wrist
    image = _plain_plot(Motion(keypoints), ("left_wrist", "right_wrist"), (300, 200))
    assert image.shape == (200, 300, 3)
    assert (image == LEFT_RGB).all(-1).sum() > 100 and (image == RIGHT_RGB).all(-1).sum() > 100


def test_bad_preview_requests_are_one_sentence(motion_file, tmp_path: Path) -> None:
    motion, _ = motion_file
    (tmp_path / "a file").write_text("")
    done = core_cli("preview", motion, "-o", tmp_path / "a file" / "x.mp4")
    assert done.returncode == 1 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "is a file, not a folder" in done.stderr
    done = core_cli("plot", motion, "-o", tmp_path / "x.png", "--joints", "tail")
    assert done.returncode == 1 and "Unknown joints tail" in done.stderr
    for at_s in (-5, 1000):
        done = core_cli("preview", motion, "-o", tmp_path / "x.png", "--at", at_s)
        assert done.returncode == 1 and "is outside the motion (-" in done.stderr
        assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_sigterm_stops_a_preview_as_ctrl_c_does(tmp_path: Path) -> None:
    """``kill``, ``timeout`` and job schedulers send SIGTERM: the preview stops its ffmpeg and
    leaves no partial file, as on Ctrl-C (exit 130), instead of dying with both behind."""
    import os
    import signal
    import time

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    music = write_tone(tmp_path / "long.wav", duration_s=600.0)
    done = core_cli("generate", music, "-o", tmp_path / "long.npz", "--weights", "procedural")
    assert done.returncode == 0, done.stderr
    preview = subprocess.Popen(
        [sys.executable, "-m", "core", "preview", tmp_path / "long.npz", "-o", tmp_path / "p.mp4", "--size", "64"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".p.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".p.partial-*")), "ffmpeg never started writing"
    preview.send_signal(signal.SIGTERM)
    _, stderr = preview.communicate(timeout=30)
    assert preview.returncode == 130 and "interrupted; nothing was written" in stderr, stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["long.npz", "long.wav"]
    assert not [pid for pid in os.listdir("/proc") if ".p.partial-" in command_line(pid)], "its ffmpeg outlived it"


def command_line(pid: str) -> str:
    """A process's command line from /proc ("" for what is not a process, or has just ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") if pid.isdigit() else ""
    except OSError:
        return ""
