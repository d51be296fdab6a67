"""Music file in, Motion out: the one entry point the CLI, the add-on's worker and batch jobs call."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import cast

import numpy as np

from .errors import CancelCheck, ConductorError, ProgressCallback
from .motion import Motion

MIN_DURATION_S = 1.0
PROCEDURAL = "procedural"
DEFAULT = "default"
NEURAL = "neural"


@dataclasses.dataclass
class GenerateOptions:
    """How to generate.

    weights : "default" (the project's weights, or the procedural conductor where none are
        installed), "procedural" (beat-exact, no network), "neural" (the project's own trained
        generator, experimental until it is the default), or a path to a .safetensors or
        official .pt generator checkpoint.
    seed : noise seed (same seed, same motion); None draws a fresh one.
    noise_path : a .npy of noise shaped (S, 8) or (1, S, 8), used instead of the seed.
    variation : scales the noise (0 = the mean motion for the music, 1 = as trained); for the
        procedural conductor, the human irregularity (0 = the textbook pattern).
    device : "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:1", "mps".
    meter : beats per bar for the procedural conductor (2, 3, 4 or 6) instead of the detected
        meter; None detects it. Neural weights have no meter to set.
    """

    weights: str = DEFAULT
    seed: int | None = 0
    noise_path: str | None = None
    variation: float = 1.0
    device: str = "auto"
    meter: int | None = None


def resolve_weights(weights: str) -> str:
    """Turn "default" and "neural" into a path (or "procedural"); check a given path exists."""
    from .weights import default_weights_path, neural_weights_path

    if weights in ("", DEFAULT):
        path = default_weights_path()
        return str(path) if path.is_file() else PROCEDURAL
    if weights == PROCEDURAL:
        return PROCEDURAL
    if weights == NEURAL:
        path = neural_weights_path()
        if not path.is_file():
            raise ConductorError(f"The project's neural weights '{path.name}' are not installed here; "
                                 "reinstall the add-on or give a weights file.")
        return str(path)
    if not Path(weights).expanduser().is_file():
        raise ConductorError(f"Weights file '{weights}' does not exist; check the path or choose 'default'.")
    return str(Path(weights).expanduser())


def load_mel_input(source: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(samples_22k, None) for an audio file, (None, mel_90hz) for a ``.npy`` mel feature."""
    from .audio import SAMPLE_RATE_HZ, load_audio

    if source.suffix.lower() == ".npy":
        try:
            mel = np.load(source, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ConductorError(f"'{source.name}' is not a readable .npy array; give a mel saved by 'python -m core mel'.") from error
        if mel.ndim != 2 or mel.shape[1] != 128:
            raise ConductorError(f"'{source.name}' is shaped {mel.shape}, not (frames, 128); give a mel saved by 'python -m core mel'.")
        if mel.shape[0] < 90:
            raise ConductorError(f"'{source.name}' covers {mel.shape[0] / 90:.2f} s; the conductor needs at least 1 second of music.")
        if not np.all(np.isfinite(mel)) or mel.min() < -1e-3 or mel.max() > 1 + 1e-3:
            raise ConductorError(
                f"'{source.name}' holds values outside [0, 1] or NaN, so it is not the normalised mel feature; "
                "give a mel saved by 'python -m core mel'."
            )
        return None, mel.astype(np.float32)
    samples = load_audio(source)
    duration_s = samples.shape[0] / SAMPLE_RATE_HZ
    if duration_s < MIN_DURATION_S:
        raise ConductorError(f"'{source.name}' is only {duration_s:.2f} s long; the conductor needs at least 1 second of music.")
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
    returns True the work stops with :class:`~core.errors.CancelledError`.
    """
    from .audio import check_audio_path, file_sha256

    options = options or GenerateOptions()
    report = progress or (lambda fraction, message: None)
    source = check_audio_path(audio_path)
    weights = resolve_weights(options.weights)
    if options.noise_path is not None and weights == PROCEDURAL:
        raise ConductorError("A noise file only applies to neural weights; drop --noise or choose a weights file.")
    if options.meter is not None and weights != PROCEDURAL:
        raise ConductorError(
            "Beats per bar can only be set for the procedural conductor; drop --meter or choose --weights procedural."
        )
    report(0.0, "decoding audio")
    samples, mel = load_mel_input(source)
    audio_sha256 = file_sha256(source)

    if weights == PROCEDURAL:
        if samples is None:
            raise ConductorError("The procedural conductor needs the audio itself, not a mel .npy; give the music file.")
        from .procedural import conduct

        motion = conduct(
            samples,
            seed=options.seed,
            variation=options.variation,
            progress=lambda fraction, message: report(0.1 + 0.9 * fraction, message),
            should_cancel=should_cancel,
            meter=options.meter,
        )
        return dataclasses.replace(motion, source_audio=source.name, audio_sha256=audio_sha256)

    from .inference import generate_keypoints, make_noise, check_noise, pick_device, seconds_of_noise
    from .mel import mel_90hz
    from .networks import Generator
    from .weights import GENERATOR, load_model

    device = pick_device(options.device)
    if mel is None:
        assert samples is not None, "load_mel_input gives samples or a mel"
        report(0.05, "mel spectrogram")
        mel = mel_90hz(samples)
    loaded = load_model(weights, GENERATOR)
    seconds = seconds_of_noise(mel.shape[0])
    if options.noise_path is not None:
        noise_file = Path(options.noise_path)
        try:
            noise = check_noise(np.load(noise_file, allow_pickle=False), seconds)
        except (OSError, ValueError) as error:
            raise ConductorError(f"Noise file '{noise_file}' could not be read as a .npy array; check the path.") from error
        seed = None
    else:
        seed = options.seed if options.seed is not None else int(np.random.default_rng().integers(2**31))
        noise = make_noise(seconds, seed=seed)
    keypoints = generate_keypoints(
        cast(Generator, loaded.model),  # load_model builds the network of the kind asked for
        mel,
        noise,
        variation=options.variation,
        device=device,
        progress=lambda fraction, message: report(0.15 + 0.85 * fraction, message),
        should_cancel=should_cancel,
    )
    return Motion(
        keypoints=keypoints,
        fps=30.0,
        seed=seed,
        weights_id=loaded.weights_id,
        extra={"variation": float(options.variation), "device": str(device)},
        source_audio=source.name,
        audio_sha256=audio_sha256,
    )
