"""Where the project's own weights are installed (``weights/`` beside ``core/``), by name.

Plain paths, no torch: the procedural conductor's path and the learned beat tracker ask for
them without importing any network code. weights/README.md says how each was made.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_WEIGHTS_NAME = "virtualconductor_default"
# The project's own trained generator that is not (yet) the default: "neural" in the CLI and the
# add-on. weights/README.md says how it was made and how it compares with the procedural conductor.
NEURAL_WEIGHTS_NAME = "virtualconductor_cpu_v1"
BEAT_TRACKER_WEIGHTS_NAME = "beat_tracker_cpu_v3"


def default_weights_path() -> Path:
    """The project's default generator weights (may not exist in a checkout without them)."""
    return WEIGHTS_DIR / f"{DEFAULT_WEIGHTS_NAME}.safetensors"


def neural_weights_path() -> Path:
    """The project's own trained generator weights that "neural" names (shipped in weights/)."""
    return WEIGHTS_DIR / f"{NEURAL_WEIGHTS_NAME}.safetensors"


def beat_tracker_weights_path() -> Path:
    """weights/beat_tracker_cpu_v3.safetensors (its model card beside it)."""
    return WEIGHTS_DIR / f"{BEAT_TRACKER_WEIGHTS_NAME}.safetensors"
