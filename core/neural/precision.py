"""The arithmetic a network runs in: float32 (exact, the default) or bf16, and where bf16 may run.

``PRECISIONS`` needs no torch (the option dataclasses list it); the checks import torch when
called, as only the network path calls them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import ConductorError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("float32", "bf16")  # of the network's arithmetic (check_precision)


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision this device cannot run fast: bfloat16 needs a CUDA GPU that computes
    it (compute capability 8, Ampere, or newer) or a CPU with AVX-512 BF16 or AMX that oneDNN may
    use; elsewhere it is emulated, slower than float32 (2x on AVX-512 without BF16), or fails."""
    if precision not in PRECISIONS:
        raise ConductorError(f"Precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    if precision == "float32":
        return
    import torch

    if device.type == "cuda":
        if torch.cuda.get_device_capability(device)[0] < 8:  # before Ampere bfloat16 is emulated
            raise ConductorError("This GPU has no bfloat16 arithmetic; use --precision float32.")
        return
    if device.type == "cpu" and cpu_has_bf16_instructions():
        if not onednn_runs_bf16():
            raise ConductorError(
                "This CPU has bfloat16 arithmetic but oneDNN is kept from it (ONEDNN_MAX_CPU_ISA or "
                "DNNL_MAX_CPU_ISA is set below AVX512_CORE_BF16); lift that limit or use --precision float32."
            )
        return
    raise ConductorError(
        f"bf16 needs a CPU with AVX-512 BF16 or AMX, or a CUDA GPU; this {device.type} would emulate it, "
        "slower than float32, so use --precision float32."
    )


def cpu_has_bf16_instructions() -> bool:
    """Whether this CPU computes bfloat16 (AVX-512 BF16 or AMX), whatever oneDNN is allowed."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def bf16_refusal(device: torch.device) -> str | None:
    """Why ``device`` may not run the network in bf16 (the sentence :func:`check_precision`
    raises), or None where it may."""
    try:
        check_precision("bf16", device)
    except ConductorError as error:
        return str(error)
    return None


# oneDNN's instruction-set limits below its bfloat16 instructions: at AVX2 and under its bfloat16
# convolution refuses to run, at AVX512_CORE(_VNNI) it emulates it, 2x slower than float32.
_ONEDNN_ISAS_WITHOUT_BF16 = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
)


def onednn_runs_bf16() -> bool:
    """Whether oneDNN, which runs the fused convolutions, may use this CPU's bfloat16 instructions
    (``ONEDNN_MAX_CPU_ISA``, or its older name ``DNNL_MAX_CPU_ISA``, can hold it below them)."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        if os.environ.get(name, "").strip().upper() in _ONEDNN_ISAS_WITHOUT_BF16:
            return False
    import torch

    is_supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(is_supported()) if is_supported is not None else torch.backends.mkldnn.is_available()
    except (AttributeError, RuntimeError):
        return False
