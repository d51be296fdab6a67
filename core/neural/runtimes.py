"""Which runtime runs the generator, and opening it: ONNX Runtime or NumPy on the CPU without
PyTorch, PyTorch for a GPU, for bfloat16 and where asked for.

- ``auto`` (the default): the CPU in float32 runs ONNX Runtime where it imports (the extension
  bundles it), else NumPy; a GPU device (``cuda``, ``cuda:N``, ``mps``) or ``bf16`` runs PyTorch.
- ``onnxruntime``, ``numpy``: that runtime, on the CPU in float32.
- ``torch``: PyTorch on the device asked for ("auto": a CUDA GPU, then a Metal one, then the CPU).

Every runtime runs the same function of the same weights (read and checked once, by
:func:`core.neural.weights.load_weights`), equal to the PyTorch network to float32 rounding
(tests/core/neural/test_runtimes.py). Imports without PyTorch and without ONNX Runtime: each is
imported when chosen.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Any

from ..errors import ConductorError, MissingPackage

AUTO = "auto"
ONNXRUNTIME = "onnxruntime"
NUMPY = "numpy"
TORCH = "torch"
RUNTIMES = (AUTO, ONNXRUNTIME, NUMPY, TORCH)  # of GenerateOptions.runtime
CPU_DEVICES = ("auto", "cpu")


@dataclasses.dataclass
class OpenedGenerator:
    """A generator ready to run: ``forward`` is one window's pass for
    :func:`core.neural.inference.generate_keypoints` (mel (90 S, 128) + noise (S, 8) -> keypoints
    (30 S, 13, 2), NumPy arrays); ``runtime`` and ``version`` say what runs it, ``device`` where."""

    forward: Any
    runtime: str
    version: str
    device: str
    weights_id: str
    card: dict[str, Any]


def needs_torch(*, device: str, precision: str, runtime: str) -> MissingPackage | None:
    """What asks for PyTorch among these settings, as the error to raise where it is not
    installed (None: they run without it). Looks for PyTorch, never imports it."""
    device = (device or AUTO).lower()
    if runtime == TORCH:
        reason = MissingPackage("torch", setting="runtime", value=TORCH)
    elif device not in CPU_DEVICES:
        reason = MissingPackage("torch", setting="device", value=device)
    elif precision != "float32":
        reason = MissingPackage("torch", setting="precision", value=precision)
    else:
        return None
    return reason if importlib.util.find_spec("torch") is None else None


def choose_runtime(*, device: str = AUTO, precision: str = "float32", runtime: str = AUTO) -> str:
    """The runtime these settings run on: ONNXRUNTIME, NUMPY or TORCH.

    Raises
    ------
    ConductorError
        A runtime that cannot do what the other settings ask (NumPy on a GPU, ONNX Runtime in
        bf16), or an unknown one.
    MissingPackage
        PyTorch asked for (a GPU, bf16, ``torch``) where it is not installed, or ONNX Runtime
        asked for by name where it does not import.
    """
    device = (device or AUTO).lower()
    if runtime not in RUNTIMES:
        raise ConductorError(f"The runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}.")
    if runtime in (ONNXRUNTIME, NUMPY):
        name = "ONNX Runtime" if runtime == ONNXRUNTIME else "NumPy"
        if device not in CPU_DEVICES:
            raise ConductorError(
                f"{name} runs the network on the CPU; drop --runtime {runtime} to use the {device} GPU, "
                "or choose --device cpu."
            )
        if precision != "float32":
            raise ConductorError(f"{name} runs the network in float32; bf16 runs on PyTorch (--runtime torch).")
    wants_torch = runtime == TORCH or device not in CPU_DEVICES or precision != "float32"
    if wants_torch:
        missing = needs_torch(device=device, precision=precision, runtime=runtime)
        if missing is not None:
            raise missing
        return TORCH
    if runtime == NUMPY:
        return NUMPY
    if onnxruntime_imports():
        return ONNXRUNTIME
    if runtime == ONNXRUNTIME:
        raise MissingPackage("onnxruntime", setting="runtime", value=ONNXRUNTIME)
    return NUMPY


def onnxruntime_imports() -> bool:
    """Whether ONNX Runtime imports here (it is bundled with the extension, but a wheel built for a
    newer operating system than this one fails to load: then NumPy runs the network)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def open_generator(
    path: str | os.PathLike[str], *, device: str = AUTO, precision: str = "float32", runtime: str = AUTO
) -> OpenedGenerator:
    """The M2S-GAN generator of the weights file ``path`` on the runtime the settings choose
    (:func:`choose_runtime`), ready to run.

    Raises
    ------
    ConductorError
        Bad weights (one sentence: :func:`core.neural.weights.load_weights`), a device or
        precision this machine cannot run, a runtime that cannot do what is asked.
    """
    from .weights import GENERATOR, load_weights

    chosen = choose_runtime(device=device, precision=precision, runtime=runtime)
    if chosen == TORCH:
        return _open_on_torch(path, device=device, precision=precision)
    weights = load_weights(path, GENERATOR)
    forward: Any
    if chosen == ONNXRUNTIME:
        from .ort_generator import OrtGenerator

        forward = OrtGenerator(weights.state)
        version = forward.version
    else:
        import numpy

        from .numpy_generator import NumpyGenerator

        forward, version = NumpyGenerator(weights.state), numpy.__version__
    return OpenedGenerator(forward, chosen, version, "cpu", weights.weights_id, weights.card)


def _open_on_torch(path: str | os.PathLike[str], *, device: str, precision: str) -> OpenedGenerator:
    """:func:`open_generator` on PyTorch: the device checked, then the precision, then the weights."""
    from .inference import pick_device
    from .precision import check_precision
    from .torch_generator import TorchGenerator
    from .weights import GENERATOR, load_model

    torch_device = pick_device(device)
    check_precision(precision, torch_device)
    loaded = load_model(path, GENERATOR)
    forward = TorchGenerator(loaded.model, torch_device, precision=precision)  # type: ignore[arg-type]
    return OpenedGenerator(forward, TORCH, forward.version, str(torch_device), loaded.weights_id, loaded.card)
