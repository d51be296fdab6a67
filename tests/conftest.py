"""Shared fixtures: the parity files in ../shared/parity (read in place, never copied), the
bundled demo piece, real audio files written to a temporary folder, and the add-on imported the
way Blender loads it (:func:`import_extension`).

Tests that need the parity files carry the marker ``parity``: given by hand, or found here
(they use a parity fixture or name a parity file). Where ../shared/parity is absent, as in a
fresh clone of the repository alone, they are skipped with :data:`PARITY_SKIP_REASON`."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARITY_DIR = PROJECT_ROOT.parent / "shared" / "parity"
DEMO_PIECE = PROJECT_ROOT / "core" / "assets" / "demo_piece.ogg"
OFFICIAL_GENERATOR = PARITY_DIR / "M2SGAN_official_pretrained.pt"
OFFICIAL_M2SNET = PARITY_DIR / "M2SNet_official_pretrained.pt"
OFFICIAL_M2SNET_TEST = PARITY_DIR / "M2SNet_test_official_pretrained.pt"
GOLDEN_AUDIO = PARITY_DIR / "beethoven_op18no1_40s.flac"
GOLDEN_NPZ = PARITY_DIR / "beethoven_op18no1_40s.golden.npz"

PARITY_NAMES = {
    "PARITY_DIR",
    "OFFICIAL_GENERATOR",
    "OFFICIAL_M2SNET",
    "OFFICIAL_M2SNET_TEST",
    "GOLDEN_AUDIO",
    "GOLDEN_NPZ",
}
PARITY_FIXTURES = {"parity_dir", "golden", "official_generator"}
PARITY_SKIP_REASON = (
    f"the parity files are not at {PARITY_DIR}: the official VirtualConductor checkpoints (research use "
    "only, from the authors' release of 'Self-Supervised Music-Motion Synchronization Learning', JCST 2022) "
    "and their golden outputs sit beside the repository in ../shared/parity, which CI provides"
)

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
# Blender's user folders in a scratch folder before any test imports bpy: an extension the
# developer installed in their own Blender puts its wheels on sys.path (another cffi than the
# venv's broke soundfile in every later test).
import extension_install  # noqa: E402, F401

# The repository root imported as the package ``virtual_conductor`` (as Blender loads the extension),
# so the add-on's relative imports work: ``import_extension("addon.apply")`` returns that module.
# addon/headless_main.py holds the one implementation; running it here does not import bpy, the
# modules it returns do.
import_extension = runpy.run_path(str(PROJECT_ROOT / "addon" / "headless_main.py"))["import_extension"]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "parity: needs the official checkpoints and golden outputs in ../shared/parity")


PARITY_FIXTURE_NAMES = {"parity_dir": "PARITY_DIR", "golden": "GOLDEN_NPZ", "official_generator": "OFFICIAL_GENERATOR"}
TORCH_FIXTURES = {"official_generator"}  # the official generator as a PyTorch network
TORCH_SKIP_REASON = (
    "PyTorch is not installed in this environment (the networks run without it, as in the Blender 5.3 "
    "tests); this test compares with the PyTorch network"
)


def parity_names_in(function, module_globals: dict, seen: set) -> set[str]:
    """The parity files ``function`` names, itself or through the functions of its module it calls."""
    code = getattr(function, "__code__", None)
    if code is None or code in seen:
        return set()
    seen.add(code)
    names = set(code.co_names) | {
        name for const in code.co_consts if hasattr(const, "co_names") for name in const.co_names
    }
    found = PARITY_NAMES & names
    for name in names:
        target = module_globals.get(name)
        if callable(target):
            found |= parity_names_in(getattr(target, "__wrapped__", target), module_globals, seen)
    return found


def parity_names_used(item) -> set[str]:
    """The parity files a test needs: through parity fixtures, or named by the test or by its
    module's helpers and fixtures."""
    found = {PARITY_FIXTURE_NAMES[name] for name in getattr(item, "fixturenames", ()) if name in PARITY_FIXTURE_NAMES}
    module_globals = vars(item.module) if getattr(item, "module", None) is not None else {}
    functions = [getattr(item, "function", None)]
    for definitions in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        functions.extend(definition.func for definition in definitions)
    seen: set = set()
    for function in functions:
        found |= parity_names_in(function, module_globals, seen)
    return found


def pytest_collection_modifyitems(config, items) -> None:
    import importlib.util

    skip_parity = pytest.mark.skip(reason=PARITY_SKIP_REASON)
    skip_torch = pytest.mark.skip(reason=TORCH_SKIP_REASON)
    has_torch = importlib.util.find_spec("torch") is not None
    for item in items:
        used = parity_names_used(item)
        if used:
            item.add_marker(pytest.mark.parity)
        if not PARITY_DIR.is_dir() and item.get_closest_marker("parity") is not None:
            item.add_marker(skip_parity)
        elif not has_torch and TORCH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip_torch)


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    if not PARITY_DIR.is_dir():
        pytest.skip(PARITY_SKIP_REASON)
    return PARITY_DIR


@pytest.fixture(scope="session")
def golden(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(GOLDEN_NPZ, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.fixture(scope="session")
def official_generator(parity_dir: Path):
    from core.neural.weights import GENERATOR, load_model

    return load_model(OFFICIAL_GENERATOR, GENERATOR).model


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (AVX-512 BF16 or AMX), whatever oneDNN is allowed."""
    from core.neural.precision import cpu_has_bf16_instructions

    return cpu_has_bf16_instructions()


def bf16_refusal() -> str | None:
    """Why ``--precision bf16`` is refused on this machine's CPU, or None where it runs."""
    import torch

    from core.neural.precision import bf16_refusal as refusal

    return refusal(torch.device("cpu"))


def write_tone(
    path: Path,
    *,
    duration_s: float,
    rate_hz: int = 22_050,
    channels: int = 1,
    frequency_hz: float = 440.0,
    fmt: str | None = None,
) -> Path:
    """Write a real audio file: a tone with a 2 Hz pulse (so it has beats), any rate/channels."""
    import soundfile

    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    pulse = 0.5 + 0.5 * (np.sin(2 * np.pi * 2.0 * t) > 0.6)
    signal = 0.3 * np.sin(2 * np.pi * frequency_hz * t) * pulse
    data = np.stack([signal * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)
    soundfile.write(str(path), data, rate_hz, format=fmt)
    return path


_EXIT_STATUS = {"code": 0}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # The bpy 4.2 module can crash while the interpreter tears it down (exit status 139 after
    # every test passed); once pytest has reported, leave without that teardown.
    if "bpy" in sys.modules:
        import os

        if "extension_install" in sys.modules:  # os._exit skips atexit: its scratch folder (0.5 GB) goes now
            sys.modules["extension_install"].remove_scratch()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["code"])
