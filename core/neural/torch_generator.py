"""The generator on PyTorch, as a forward like the torch-free runtimes': NumPy arrays in and out.

The runtime of a GPU (``cuda``, ``mps``), of ``--precision bf16`` and of ``--runtime torch``:
:class:`TorchGenerator` runs :class:`core.neural.fusion.FusedGenerator` (or the plain network)
on one window of music at a time for :func:`core.neural.inference.generate_keypoints`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConductorError
from .fusion import FusedGenerator
from .networks import MotionGenerator
from .precision import PRECISIONS


class TorchGenerator:
    """A :class:`MotionGenerator` (eval mode) as a forward of NumPy arrays on ``device``.

    Parameters
    ----------
    generator : MotionGenerator
    device : torch.device or str
    fused : bool
        Run the fused twin (batch norms folded, ~1.7x faster on CPU, equal to float32 rounding)
        instead of the plain network.
    precision : "float32" or "bf16"
        "bf16" runs the fused network's music encoder in bfloat16; the plain network runs
        float32 only (ConductorError otherwise).
    """

    def __init__(
        self,
        generator: MotionGenerator,
        device: torch.device | str = "cpu",
        *,
        fused: bool = True,
        precision: str = "float32",
    ) -> None:
        self.device = torch.device(device)
        self.model = _inference_model(generator, self.device, fused=fused, precision=precision)
        self.version = torch.__version__

    def __call__(self, mel_90hz: np.ndarray, noise_1hz: np.ndarray) -> np.ndarray:
        """mel [shape=(90 S, 128), float32] + noise [shape=(S, 8), float32] -> keypoints
        [shape=(30 S, 13, 2), float32] in [0, 1], as ``MotionGenerator()(mel[None], noise[None])[0]``."""
        with torch.inference_mode():
            mel = torch.from_numpy(np.ascontiguousarray(mel_90hz, dtype=np.float32)).to(self.device)[None]
            noise = torch.from_numpy(np.ascontiguousarray(noise_1hz, dtype=np.float32)).to(self.device)[None]
            return self.model(mel, noise)[0].float().cpu().numpy()


def _inference_model(
    generator: MotionGenerator, device: torch.device, *, fused: bool, precision: str
) -> torch.nn.Module:
    """The network to run on ``device``: the fused twin (its music encoder in bfloat16 for "bf16")
    or the plain generator in float32; ConductorError for a precision it cannot run."""
    if precision not in PRECISIONS:
        raise ConductorError(f"Precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if fused:
        encoder_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        return FusedGenerator(generator.eval(), encoder_dtype).to(device)
    if precision == "float32":
        return generator.to(device).eval()
    raise ConductorError("The plain network runs in float32 only; bf16 runs the fused one (fused=True).")
