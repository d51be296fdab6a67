"""Any-length M2S-GAN inference: mel + noise in, 30 fps keypoints out, in bounded memory, on any
runtime (:mod:`core.neural.runtimes`): one window loop drives the PyTorch, ONNX Runtime and NumPy
forwards alike, each a callable of one window (mel (90 S, 128), noise (S, 8)) -> keypoints
(30 S, 13, 2).

The generator is fully convolutional with a receptive field of about 9 s (six dilated temporal
blocks reach 258 frames either way, plus the noise upsampler and the music encoder). A long
piece is cut into windows of ``window_s`` seconds, each run with ``context_s`` seconds of real
music on both sides that are then thrown away. Because the context is longer than the receptive
field, the kept centre of every window is the same as a single pass over the whole piece would
give: there are no seams to cross-fade, and memory stays bounded whatever the length.

Imports without PyTorch; a PyTorch network given here is wrapped in
:class:`core.neural.torch_generator.TorchGenerator`.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..audio.mel import MEL_FPS, frame_count_30fps
from ..errors import CancelCheck, ConductorError, GenerationCancelled, ProgressCallback
from ..motion.keypoints import MOTION_FPS
from ..motion.skeleton import JOINT_COUNT
from .architecture import MEL_BANDS, NOISE_PER_SECOND

if TYPE_CHECKING:
    import torch

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (mel (90 S, 128), noise (S, 8)) -> (30 S, 13, 2)

DEFAULT_WINDOW_S = 600  # the encoders chunk themselves, so only the cheap TCN sees a whole window
DEFAULT_CONTEXT_S = 12
# The temporal blocks reflect-pad by up to 128 frames, so one pass needs more than 128 frames;
# shorter pieces are mirrored out to this length and cut back afterwards.
MIN_PASS_S = 6


def pick_device(name: str = "auto") -> torch.device:
    """A PyTorch device: ``"auto"`` picks cuda, then mps, then cpu; otherwise the named device,
    checked to exist. (Generation picks its runtime and device in :mod:`core.neural.runtimes`,
    where "auto" is the CPU without PyTorch; training calls this.)"""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConductorError("Device 'cuda' was asked for but PyTorch sees no CUDA GPU; choose 'cpu' or 'auto'.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConductorError("Device 'mps' was asked for but this machine has no Metal GPU; choose 'cpu' or 'auto'.")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ConductorError(f"'{name}' is not a device name; use auto, cpu, cuda or mps.") from error


def seconds_of_noise(mel_frames_90hz: int) -> int:
    """Whole seconds of noise the generator needs for ``mel_frames_90hz`` mel frames."""
    return max(1, math.ceil(mel_frames_90hz / MEL_FPS))


def make_noise(seconds: int, *, seed: int | None) -> np.ndarray:
    """Standard-normal generator noise, one 8-vector per second.

    The same seed gives the same noise, and the first ``k`` seconds of a longer draw equal a
    shorter draw, so trimming the music does not change the motion of what remains.

    Returns
    -------
    np.ndarray [shape=(seconds, 8), float32]
    """
    # numpy's generator draws sequentially, so a longer draw starts with the shorter one
    return np.random.default_rng(seed).standard_normal((seconds, NOISE_PER_SECOND), dtype=np.float32)


def check_noise(noise: np.ndarray, seconds: int) -> np.ndarray:
    """Check generator noise against the music's length.

    Parameters
    ----------
    noise : np.ndarray [shape=(S, 8) or (1, S, 8), float]
        One 8-vector a second, S >= ``seconds``; finite.
    seconds : int
        Whole seconds of music (:func:`seconds_of_noise`).

    Returns
    -------
    np.ndarray [shape=(seconds, 8), float32]
        Its first ``seconds`` rows.
    """
    noise = np.asarray(noise, dtype=np.float32)
    if noise.ndim == 3 and noise.shape[0] == 1:
        noise = noise[0]
    if noise.ndim != 2 or noise.shape[1] != NOISE_PER_SECOND:
        raise ConductorError(
            f"Noise must be shaped (seconds, {NOISE_PER_SECOND}) or (1, seconds, {NOISE_PER_SECOND}), "
            f"got {tuple(noise.shape)}; save one 8-vector per second of music."
        )
    if noise.shape[0] < seconds:
        raise ConductorError(
            f"The noise covers {noise.shape[0]} s but the music needs {seconds} s; give at least one 8-vector per second."
        )
    if not np.all(np.isfinite(noise)):
        raise ConductorError("The noise contains NaN or infinite values; give finite numbers.")
    return noise[:seconds]


def generate_keypoints(
    network: Forward | Any,
    mel_90hz: np.ndarray,
    noise: np.ndarray,
    *,
    variation: float = 1.0,
    device: torch.device | str = "cpu",
    window_s: int = DEFAULT_WINDOW_S,
    context_s: int = DEFAULT_CONTEXT_S,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    fused: bool = True,
    precision: str = "float32",
) -> np.ndarray:
    """Run the generator over a whole piece.

    Parameters
    ----------
    network : a forward, or a MotionGenerator
        A callable of one window, mel [shape=(90 S, 128), float32] and noise [shape=(S, 8),
        float32] -> keypoints [shape=(30 S, 13, 2), float32] (a runtime's generator, see
        :func:`core.neural.runtimes.open_generator`); or a PyTorch
        :class:`~core.neural.networks.MotionGenerator` in eval mode, run on ``device`` as
        ``fused`` and ``precision`` say (:class:`~core.neural.torch_generator.TorchGenerator`).
    mel_90hz : np.ndarray [shape=(T90, 128), float32]
        The official mel feature (:func:`core.audio.mel.mel_90hz`), T90 >= 1.
    noise : np.ndarray [shape=(S, 8), float32]
        One 8-vector per second, S >= ceil(T90 / 90) (extra rows are ignored).
    variation : float >= 0
        Scales the noise: 0 gives the mean motion for the music, 1 the trained spread.
    window_s, context_s : int
        Window length and context on each side, in whole seconds (context_s >= 10 keeps the
        result equal to a single pass).
    device, fused, precision
        For a PyTorch network only (see :class:`~core.neural.torch_generator.TorchGenerator`);
        "bf16" runs its fused music encoder in bfloat16 (:func:`core.neural.precision.check_precision`
        says where that is fast): keypoints a few thousandths from float32's on average.

    Returns
    -------
    keypoints_30fps : np.ndarray [shape=(ceil(T90 / 3), 13, 2), float32]
        x and y in [0, 1], y down.

    Raises
    ------
    GenerationCancelled
        When ``should_cancel()`` returns True (asked before each window).
    """
    mel_frames = int(mel_90hz.shape[0])
    if mel_90hz.ndim != 2 or mel_90hz.shape[1] != MEL_BANDS or mel_frames < 1:
        raise ConductorError(f"The mel feature must be shaped (frames, {MEL_BANDS}), got {tuple(mel_90hz.shape)}.")
    if not (np.isfinite(variation) and variation >= 0):
        raise ConductorError(f"Variation must be a number >= 0, got {variation!r}.")
    forward = _forward(network, device=device, fused=fused, precision=precision)
    seconds = seconds_of_noise(mel_frames)
    music, noise = _whole_seconds(mel_90hz, check_noise(noise, seconds) * np.float32(variation))
    seconds = noise.shape[0]
    output = np.empty((seconds * MOTION_FPS, JOINT_COUNT, 2), dtype=np.float32)
    starts = list(range(0, seconds, window_s))
    for index, core_start in enumerate(starts):
        if should_cancel is not None and should_cancel():
            raise GenerationCancelled()
        core_end = min(core_start + window_s, seconds)
        first = max(0, core_start - context_s)
        last = min(seconds, core_end + context_s)
        motion = forward(_mel_window(music, first, last), noise[first:last])
        keep = slice((core_start - first) * MOTION_FPS, (core_end - first) * MOTION_FPS)
        output[core_start * MOTION_FPS : core_end * MOTION_FPS] = motion[keep]
        if progress is not None:
            progress((index + 1) / len(starts), f"generator: {core_end} of {seconds} s")
    return output[: frame_count_30fps(mel_frames)]


def _forward(network: Forward | Any, *, device: torch.device | str, fused: bool, precision: str) -> Forward:
    """The forward of ``network``: a PyTorch module wrapped to run on ``device``; a forward as it
    is (it runs where its runtime runs: ``device``, ``fused`` and ``precision`` must be left alone)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(network, torch.nn.Module):
        from .torch_generator import TorchGenerator

        return TorchGenerator(network, device, fused=fused, precision=precision)
    if str(device) != "cpu" or not fused or precision != "float32":
        raise ConductorError(
            "Device, fusion and precision are settings of a PyTorch network; this runtime runs float32 on the CPU."
        )
    return network


def _whole_seconds(mel_90hz: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The music and the noise [shape=(S, 8), float32] for the window loop: a piece shorter than
    ``MIN_PASS_S`` edge-padded to its whole seconds and both mirrored out to ``MIN_PASS_S``
    seconds (the padded tail is cut off after the pass); a longer mel [shape=(T90, 128)] as it
    is, its last partial second padded window by window (:func:`_mel_window`), so that no copy
    of a long piece's whole mel is made."""
    seconds, mel_frames = noise.shape[0], mel_90hz.shape[0]
    mel_90hz = np.asarray(mel_90hz, dtype=np.float32)
    if seconds >= MIN_PASS_S:
        return mel_90hz, noise
    padded = np.pad(mel_90hz, ((0, seconds * MEL_FPS - mel_frames), (0, 0)), mode="edge")
    padded = np.pad(padded, ((0, (MIN_PASS_S - seconds) * MEL_FPS), (0, 0)), mode="symmetric")
    noise = np.pad(noise, ((0, MIN_PASS_S - seconds), (0, 0)), mode="symmetric")
    return padded, noise


def _mel_window(music: np.ndarray, first: int, last: int) -> np.ndarray:
    """Seconds ``first`` to ``last`` of the mel [shape=(90 (last - first), 128), float32]: the
    piece's last, partial second completed by repeating its last frame (as an edge pad of the
    whole mel would)."""
    window = music[first * MEL_FPS : last * MEL_FPS]
    missing = (last - first) * MEL_FPS - window.shape[0]
    return np.pad(window, ((0, missing), (0, 0)), mode="edge") if missing else window
