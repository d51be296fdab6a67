"""Decoding music files to the mono 22,050 Hz signal the official mel feature is defined on.

wav, flac, ogg and mp3 decode through libsndfile (the ``soundfile`` package); anything else
ffmpeg can read (m4a, aac, opus, ...) goes through an ``ffmpeg`` executable when one is on the
PATH. Channels are averaged to mono and the rate converted with soxr's high-quality resampler,
which is what ``librosa.load(path)`` does by default.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConductorError

SAMPLE_RATE_HZ = 22_050
MIN_SOURCE_RATE_HZ = 8_000
MAX_SOURCE_RATE_HZ = 192_000
SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
MUSIC_SUFFIXES = SOUNDFILE_SUFFIXES + (".m4a", ".aac", ".opus")  # the last three through ffmpeg


def load_audio(path: str | os.PathLike[str], *, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Decode a music file to mono float32 samples at ``sample_rate_hz``.

    Parameters
    ----------
    path : path-like
        A music file: wav, flac, ogg, mp3, or (with ffmpeg installed) m4a, aac, opus, ...
    sample_rate_hz : int > 0
        Output rate in Hz; the default is the model's 22,050 Hz.

    Returns
    -------
    samples : np.ndarray [shape=(n,), float32]
        The channel mean, resampled; values nominally in [-1, 1].

    Raises
    ------
    ConductorError
        The file is missing, a folder, empty, not decodable audio, or has an unsupported rate.
    """
    source = check_audio_path(path)
    samples, source_rate_hz = decode(source)
    if not MIN_SOURCE_RATE_HZ <= source_rate_hz <= MAX_SOURCE_RATE_HZ:
        raise ConductorError(
            f"'{source.name}' has a sample rate of {source_rate_hz} Hz; convert it to a rate "
            f"between {MIN_SOURCE_RATE_HZ} and {MAX_SOURCE_RATE_HZ} Hz (44,100 Hz is typical)."
        )
    if samples.shape[0] == 0:
        raise ConductorError(f"'{source.name}' contains no audio samples; give a file with music in it.")
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        raise ConductorError(f"'{source.name}' decodes to invalid (NaN or infinite) samples; re-export the file.")
    if source_rate_hz != sample_rate_hz:
        import soxr

        mono = soxr.resample(mono, source_rate_hz, sample_rate_hz, quality="HQ").astype(np.float32)
    return mono


def check_audio_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path after checking it names a non-empty file (else ConductorError)."""
    source = Path(path).expanduser()
    if not source.exists():
        raise ConductorError(f"Audio file '{source}' does not exist; check the path.")
    if source.is_dir():
        raise ConductorError(f"'{source}' is a folder, not an audio file; give the path of a music file.")
    if source.stat().st_size == 0:
        raise ConductorError(f"Audio file '{source}' is empty (0 bytes); give a file with music in it.")
    return source


def decode(source: Path) -> tuple[np.ndarray, int]:
    """Decode a music file at its own rate, without resampling.

    Returns
    -------
    samples : np.ndarray [shape=(n, channels), float32] nominally in [-1, 1]
    rate_hz : int
        The file's sample rate, Hz.
    """
    import soundfile

    declared_s: float | None = None  # what the file's header says, where libsndfile reads it
    try:
        with soundfile.SoundFile(str(source)) as handle:
            if handle.frames > 0 and handle.samplerate > 0:
                declared_s = handle.frames / handle.samplerate
            samples = handle.read(dtype="float32", always_2d=True)
            rate_hz = int(handle.samplerate)
    except Exception as soundfile_error:  # libsndfile cannot read it (or not all of it): try ffmpeg
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            if source.suffix.lower() in SOUNDFILE_SUFFIXES:
                raise ConductorError(
                    f"'{source.name}' could not be decoded as audio; check that it is a complete, valid music file."
                ) from soundfile_error
            raise ConductorError(
                f"'{source.name}' is not a format this machine can decode; install ffmpeg for "
                "m4a, aac and opus, or convert it to wav, flac, ogg or mp3."
            ) from soundfile_error
        samples, rate_hz = decode_with_ffmpeg(source, ffmpeg)
    if declared_s is not None and samples.shape[0] < 0.98 * declared_s * rate_hz:
        # ffmpeg decodes what it can of a cut file and succeeds: the header tells what is missing
        raise ConductorError(
            f"'{source.name}' is truncated: its header promises {declared_s:.1f} s "
            f"but only {samples.shape[0] / rate_hz:.1f} s decode; re-export or re-download the file."
        )
    return samples, rate_hz


def decode_with_ffmpeg(source: Path, ffmpeg: str) -> tuple[np.ndarray, int]:
    """Decode any file that the ``ffmpeg`` executable reads, as :func:`decode` does.

    Returns
    -------
    samples : np.ndarray [shape=(n, channels), float32] nominally in [-1, 1]
    rate_hz : int
        The file's sample rate, Hz.
    """
    import soundfile

    with tempfile.TemporaryDirectory(prefix="conductor-decode-") as folder:
        wav_path = Path(folder) / "decoded.wav"
        command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(source), "-vn", "-c:a", "pcm_f32le", str(wav_path)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not wav_path.exists():
            raise ConductorError(
                f"'{source.name}' could not be decoded as audio; check that it is a complete, valid music file."
            )
        samples, rate_hz = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
    return samples, int(rate_hz)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
