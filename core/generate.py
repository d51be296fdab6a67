"""Music file in, Motion out: the one entry point the CLI, the add-on's worker and batch jobs call."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .audio.decode import SAMPLE_RATE_HZ
from .audio.mel import MEL_FPS
from .errors import CancelCheck, ConductorError, ProgressCallback, one_of
from .generate_options import PROCEDURAL, GenerateOptions, check_combination, resolve_weights
from .motion.keypoints import MOTION_FPS, Motion

if TYPE_CHECKING:
    from .audio.background_decoding import DecodedMusic
    from .beats.track import BeatTrack
    from .neural.runtimes import OpenedGenerator

MIN_DURATION_S = 1.0


def load_mel_input(source: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The music of ``source``: an audio file's samples, or a ``.npy`` mel feature, checked.

    Returns
    -------
    samples : np.ndarray [shape=(n,), float32] at 22,050 Hz, or None
        The decoded music, mono, nominally in [-1, 1]; None for a mel.
    mel_90hz : np.ndarray [shape=(T90, 128), float32] in [0, 1], or None
        A saved mel feature at 90 frames a second (T90 >= 90); None for an audio file.
    """
    from .audio.decode import load_audio

    if source.suffix.lower() == ".npy":
        try:
            mel = np.load(source, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ConductorError(
                f"'{source.name}' is not a readable .npy array; give a mel saved by 'python -m core mel'."
            ) from error
        if mel.ndim != 2 or mel.shape[1] != 128:
            raise ConductorError(
                f"'{source.name}' is shaped {mel.shape}, not (frames, 128); give a mel saved by 'python -m core mel'."
            )
        if mel.shape[0] < 90:
            raise ConductorError(
                f"'{source.name}' covers {mel.shape[0] / 90:.2f} s; the conductor needs at least 1 second of music."
            )
        if not np.all(np.isfinite(mel)) or mel.min() < -1e-3 or mel.max() > 1 + 1e-3:
            raise ConductorError(
                f"'{source.name}' holds values outside [0, 1] or NaN, so it is not the normalised mel feature; "
                "give a mel saved by 'python -m core mel'."
            )
        return None, mel.astype(np.float32)
    samples = load_audio(source)
    duration_s = samples.shape[0] / SAMPLE_RATE_HZ
    if duration_s < MIN_DURATION_S:
        raise ConductorError(
            f"'{source.name}' is only {duration_s:.2f} s long; the conductor needs at least 1 second of music."
        )
    return samples, None


def generate_motion(
    audio_path: str | os.PathLike[str],
    options: GenerateOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Motion:
    """Generate conducting motion for a music file (or a saved (T90, 128) mel ``.npy``).

    Returns a :class:`Motion` at 30 fps covering the whole piece (``ceil(T90 / 3)`` frames),
    with the source file's name and SHA-256, the seed and the weights id recorded.
    ``progress(fraction, message)`` is called as work advances; when ``should_cancel()``
    returns True the work stops with :class:`~core.errors.GenerationCancelled`.
    """
    from .audio.decode import check_audio_path

    options = options or GenerateOptions()
    report = progress or (lambda fraction, message: None)
    source = check_audio_path(audio_path)
    weights = resolve_weights(options.weights)
    check_combination(options, procedural=weights == PROCEDURAL)
    if options.beats_path is not None:
        _check_beats_file(Path(options.beats_path).expanduser())
    if weights == PROCEDURAL:
        return _procedural_motion(source, options, report=report, should_cancel=should_cancel)
    return _neural_motion(source, options, weights=weights, report=report, should_cancel=should_cancel)


def _check_beats_file(beats_file: Path) -> None:
    """ConductorError unless ``beats_file`` is an existing file of a beat grid's kind (and, for a
    MIDI file, one that reads)."""
    from .beats.grid import BEATS_SUFFIXES, MIDI_SUFFIXES, read_midi_grid

    if beats_file.suffix.lower() not in BEATS_SUFFIXES:
        raise ConductorError(f"'{beats_file.name}' is not a beat grid; give --beats a {one_of(BEATS_SUFFIXES)} file.")
    if not beats_file.is_file():
        raise ConductorError(f"Beat file '{beats_file}' does not exist; check --beats.")
    if beats_file.suffix.lower() in MIDI_SUFFIXES:
        read_midi_grid(beats_file)  # a broken MIDI file is said before the music is decoded


def _procedural_motion(
    source: Path, options: GenerateOptions, *, report: ProgressCallback, should_cancel: CancelCheck | None
) -> Motion:
    """:func:`generate_motion` by the procedural conductor: on the music itself, never a mel."""
    from .audio.decode import file_sha256

    notes: list[str] = []
    report(0.0, "decoding audio")
    samples, _ = load_mel_input(source)
    if samples is None:
        raise ConductorError("The procedural conductor needs the audio itself, not a mel .npy; give the music file.")
    grid = given_grid(options, samples, duration_s=samples.shape[0] / SAMPLE_RATE_HZ, notes=notes)
    from .beats.track import beat_coverage, no_beats_heard
    from .procedural.conductor import conduct

    motion = conduct(
        samples,
        seed=options.seed,
        variation=options.variation,
        progress=lambda fraction, message: report(0.1 + 0.9 * fraction, message),
        should_cancel=should_cancel,
        meter=options.meter,
        style=options.style,
        beats=grid,
        tracker=options.tracker,
    )
    coverage = beat_coverage(np.asarray(motion.extra["beats_s"]), samples, SAMPLE_RATE_HZ)
    if coverage.note():
        notes.append(coverage.note())
    elif grid is None and not motion.extra["beats_s"]:
        notes.append(
            f"{no_beats_heard(source.name)}, so the conductor stands still; give it beats (a beat file or "
            "timeline markers) to conduct it."
        )
    extra = dict(motion.extra, notes=notes, beats_source=grid.tracker if grid is not None else "tracked")
    extra["beat_coverage"] = round(coverage.share, 3)
    if options.beats_path is not None:
        extra["beat_grid"] = grid_record(options)
    return dataclasses.replace(motion, source_audio=source.name, audio_sha256=file_sha256(source), extra=extra)


def _neural_motion(
    source: Path,
    options: GenerateOptions,
    *,
    weights: str,
    report: ProgressCallback,
    should_cancel: CancelCheck | None,
) -> Motion:
    """:func:`generate_motion` by the generator network of ``weights``, locked to the beats
    where ``options`` ask for it."""
    network, (samples, mel, audio_sha256) = _network_and_music(source, options, weights=weights, report=report)
    from .neural.inference import generate_keypoints, seconds_of_noise

    notes: list[str] = []
    grid = given_grid(options, samples, duration_s=mel.shape[0] / MEL_FPS, notes=notes)  # before the network runs
    strength = options.beat_lock if options.beat_lock is not None else (1.0 if grid is not None else 0.0)
    if strength > 0 and grid is None and samples is None:
        raise ConductorError(
            "Locking to the tracked beats needs the music itself, not a mel .npy; give the "
            "music file or a grid with --beats."
        )
    if grid is not None or strength == 0:
        samples = None  # only locking to tracked beats needs the music again: free it (635 MB for 2 hours)
    noise, seed = _noise(options, seconds_of_noise(mel.shape[0]))
    keypoints = generate_keypoints(
        network.forward,
        mel,
        noise,
        variation=options.variation,
        progress=lambda fraction, message: report(0.15 + (0.8 if strength > 0 else 0.85) * fraction, message),
        should_cancel=should_cancel,
    )
    extra = {
        "variation": float(options.variation),
        "device": network.device,
        "precision": options.precision,
        "runtime": network.runtime,
        "runtime_version": network.version,
        "notes": notes,
    }
    if strength > 0:
        report(0.95, "locking the strokes to the beats")
        if grid is None:
            assert samples is not None, "checked before the network ran"
            from .beats.tracking import track_beats

            grid = track_beats(samples, tracker=options.tracker)
        keypoints, extra["beat_lock"] = _beat_locked(keypoints, grid, strength=strength)
    if options.beats_path is not None:
        extra["beat_grid"] = grid_record(options)
    return Motion(
        keypoints=keypoints,
        fps=float(MOTION_FPS),
        seed=seed,
        weights_id=network.weights_id,
        extra=extra,
        source_audio=source.name,
        audio_sha256=audio_sha256,
    )


def _network_and_music(
    source: Path, options: GenerateOptions, *, weights: str, report: ProgressCallback
) -> tuple[OpenedGenerator, DecodedMusic]:
    """(the generator on its runtime, the decoded music): the music is decoded and its mel computed
    while the runtime loads (PyTorch's imports take 1.3-2.5 s), in a forked process where that is
    safe (core.audio.background_decoding). A problem with the device, the runtime or the weights
    is still told first, once the decoding is stopped (no decoder is left behind)."""
    from .audio.background_decoding import BackgroundDecoding
    from .neural.runtimes import TORCH, choose_runtime

    runtime = choose_runtime(device=options.device, precision=options.precision, runtime=options.runtime)
    loading = "PyTorch and the weights" if runtime == TORCH else "the weights"
    report(0.0, f"loading {loading}; decoding audio")
    # Only a beat grid (its bar starts, a MIDI file's offset) and locking to tracked beats need
    # the music again.
    keep_samples = options.beats_path is not None or (options.beat_lock or 0.0) > 0
    decoding = BackgroundDecoding(
        lambda: decoded_music(source, keep_samples=keep_samples), yield_to_caller=runtime == TORCH
    )
    try:
        from .neural.runtimes import open_generator

        network = open_generator(weights, device=options.device, precision=options.precision, runtime=runtime)
        report(0.03, "decoding audio, mel spectrogram")
        return network, decoding.result()
    finally:
        decoding.close()


def _noise(options: GenerateOptions, seconds: int) -> tuple[np.ndarray, int | None]:
    """(noise [shape=(seconds, 8), float32], seed): ``options.noise_path``'s noise (seed None),
    else drawn from ``options.seed`` or a fresh seed."""
    from .neural.inference import check_noise, make_noise

    if options.noise_path is not None:
        noise_file = Path(options.noise_path)
        try:
            noise = check_noise(np.load(noise_file, allow_pickle=False), seconds)
        except (OSError, ValueError) as error:
            raise ConductorError(
                f"Noise file '{noise_file}' could not be read as a .npy array; check the path."
            ) from error
        return noise, None
    seed = options.seed if options.seed is not None else int(np.random.default_rng().integers(2**31))
    return make_noise(seconds, seed=seed), seed


def _beat_locked(keypoints: np.ndarray, grid: BeatTrack, *, strength: float) -> tuple[np.ndarray, dict]:
    """(keypoints locked to ``grid``'s beats at ``strength``, what the motion records of it)."""
    from .neural.beat_lock import level_name, lock_to_beats

    keypoints, levels = lock_to_beats(keypoints, grid, fps=float(MOTION_FPS), strength=strength)
    record = {
        "strength": strength,
        "level": level_name(levels),
        "bar_levels": [[bar + 1, level] for bar, level in levels],  # bars numbered as in the grid's labels
        "beats": grid.tracker,
    }
    return keypoints, record


def decoded_music(source: Path, *, keep_samples: bool = True) -> tuple[np.ndarray | None, np.ndarray, str]:
    """The music, its mel feature and its file's SHA-256, from a music file or a saved mel ``.npy``.

    Returns
    -------
    samples : np.ndarray [shape=(n,), float32] at 22,050 Hz, or None
        None for a mel, or when ``keep_samples`` is False.
    mel_90hz : np.ndarray [shape=(T90, 128), float32] in [0, 1]
        90 frames a second (:func:`core.audio.mel.mel_90hz`).
    sha256 : str
        Hex SHA-256 of the file's bytes.
    """
    from .audio.decode import file_sha256
    from .audio.mel import mel_90hz

    samples, mel = load_mel_input(source)
    if mel is None:
        assert samples is not None, "load_mel_input gives samples or a mel"
        mel = mel_90hz(samples)
    return samples if keep_samples else None, mel, file_sha256(source)


def grid_record(options: GenerateOptions) -> dict:
    """What a motion records of the beat grid it was given: the file's name and the offset
    (None: none given; a MIDI file's was found from the music, and a note says by how much)."""
    return {"file": Path(str(options.beats_path)).name, "offset_s": options.beats_offset_s}


def given_grid(
    options: GenerateOptions, samples: np.ndarray | None, *, duration_s: float, notes: list[str]
) -> BeatTrack | None:
    """The beat grid of ``options.beats_path`` (None without one) on this music, or ConductorError.

    Parameters
    ----------
    options : GenerateOptions
        ``beats_path`` and ``beats_offset_s`` are used.
    samples : np.ndarray [shape=(n,), float32] at 22,050 Hz, or None
        The music (a MIDI file's offset and a grid's bar starts are found from it); None for a mel.
    duration_s : float
        The music's length, seconds.
    notes : list of str
        What the grid's reading noticed is appended here.

    Returns
    -------
    BeatTrack or None
    """
    if options.beats_path is None:
        return None
    from .beats.grid import load_grid
    from .beats.tracking import grid_tempo_note

    path = Path(options.beats_path).expanduser()
    grid = load_grid(path, duration_s=duration_s, offset_s=options.beats_offset_s, samples=samples, notes=notes)
    if samples is not None:
        note = grid_tempo_note(grid, samples, tracker=options.tracker, where=f"'{path.name}'")
        if note:
            notes.append(note)
    return grid
