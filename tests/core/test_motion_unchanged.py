"""The motion of every path on three real pieces is the one recorded in
tests/data/motion_fingerprints.json (see tests/motion_fingerprints.py): bit for bit on a CPU like
the one that recorded it; on another, where the kernels may sum in another order, within 1e-5.

The official network's cases run on PyTorch (``official``, ``official_grid_locked``: the motion
of the path before the torch-free runtimes, bit for bit) and on ONNX Runtime, the default on the
CPU (``official_onnxruntime``: bit for bit with the ONNX Runtime version that recorded it, else
within 1e-5).

A failure here means a change moved the figure. If it was meant to, re-record
(``python tests/motion_fingerprints.py record``) in the same commit and say why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from motion_fingerprints import (
    CASES,
    OFFICIAL_GENERATOR,
    RECORD,
    beats_case,
    cpu_signature,
    motion_case,
    onnxruntime_version,
    runtime_of,
    scene_case,
)

pytestmark = pytest.mark.slow
RECORDED = json.loads(RECORD.read_text())
SAME_CPU = RECORDED["cpu"] == cpu_signature() and RECORDED["numpy"] == np.__version__
SAME_ONNXRUNTIME = RECORDED.get("onnxruntime") == onnxruntime_version()  # its kernels decide those cases' bits
OTHER_CPU_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fingerprints")


def assert_same(name: str, found: dict) -> None:
    recorded = RECORDED["cases"][name]
    assert found["shape"] == recorded["shape"], f"{name}: shape {found['shape']}, recorded {recorded['shape']}"
    if found["sha256"] == recorded["sha256"]:
        return
    distance = float(np.max(np.abs(np.subtract(found["sample"], recorded["sample"]))))
    same = SAME_CPU and (runtime_of(name.split("/")[1]) != "onnxruntime" or SAME_ONNXRUNTIME)
    assert not same, f"{name}: not bit-equal to the recording (sampled values differ by up to {distance:.3g})"
    assert distance <= OTHER_CPU_TOLERANCE, f"{name}: sampled values differ by up to {distance:.3g} on another CPU"


def needs_parity_files(*, runtime: str | None = None) -> None:
    if not OFFICIAL_GENERATOR.is_file():
        pytest.skip(f"{OFFICIAL_GENERATOR.parent} is absent (the parity files sit beside the repository)")
    if runtime in ("torch", "onnxruntime"):
        pytest.importorskip(runtime, reason=f"the case runs the official checkpoint on {runtime}")


@pytest.mark.parametrize("piece", ["demo", "parity", "ten_minutes"])
def test_the_beat_grid_is_unchanged(piece, folder):
    if piece == "parity":
        needs_parity_files()
    assert_same(f"{piece}/beats", beats_case(piece, folder))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("piece", ["demo", "parity", "ten_minutes"])
def test_the_motion_is_unchanged(piece, case, folder):
    if piece == "parity" or CASES[case][0]:
        needs_parity_files(runtime=runtime_of(case))
    assert_same(f"{piece}/{case}", motion_case(piece, case, folder))


def test_the_keys_headless_generate_writes_are_unchanged(folder):
    pytest.importorskip("bpy")
    found = scene_case(folder, sys.executable)
    assert found["curves"] == RECORDED["cases"]["demo/scene"]["curves"]
    assert_same("demo/scene", found)
