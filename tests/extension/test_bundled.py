"""The extension works the moment it is installed: its linux-x64 zip, built with Blender's own tool,
installed into a Python that has nothing but Blender (the bpy module and its NumPy: no SciPy,
no soundfile, no ONNX Runtime, no PyTorch), conducts the bundled demo piece through the
operator's synchronous path, procedurally and with the networks (ONNX Runtime from the zip).
Runs on every Blender the suite runs on (4.2 and 5.0 on Python 3.11, 5.3 on 3.13)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from conftest import OFFICIAL_GENERATOR, PROJECT_ROOT
from extension_install import blender_ext_tool

bpy = pytest.importorskip("bpy")
pytestmark = pytest.mark.slow

MANIFEST = tomllib.loads((PROJECT_ROOT / "blender_manifest.toml").read_text())


@pytest.fixture(scope="module")
def linux_zip(tmp_path_factory) -> Path:
    missing = [wheel for wheel in MANIFEST["wheels"] if not (PROJECT_ROOT / wheel).is_file()]
    if missing:
        pytest.skip(f"the bundled wheels are not downloaded ({len(missing)} missing): run `make wheels`")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            str(blender_ext_tool()),
            "build",
            "--source-dir",
            str(PROJECT_ROOT),
            "--output-dir",
            str(out),
            "--split-platforms",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    zips = {path.name.rsplit("-", 1)[1]: path for path in out.glob("*.zip")}
    assert set(zips) == {"linux_x64.zip", "macos_arm64.zip", "macos_x64.zip", "windows_x64.zip"}
    validated = subprocess.run(
        [sys.executable, str(blender_ext_tool()), "validate", str(zips["linux_x64.zip"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    return zips["linux_x64.zip"]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A virtual environment holding only links to this environment's bpy and NumPy."""
    folder = tmp_path_factory.mktemp("bare")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "env")], check=True, timeout=120)
    python = folder / "env" / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = Path(sysconfig.get_paths()["purelib"])
    for name in ("bpy", "numpy", "numpy.libs"):
        if (ours / name).exists():
            (target / name).symlink_to(ours / name)
    return python


def bare_session(linux_zip: Path, bare_python: Path, folder: Path, *model: str) -> dict:
    """Install the zip into the bare Blender and conduct the demo piece with ``model``
    (tests/bare_blender_session.py); its report."""
    environment = dict(os.environ, BLENDER_USER_RESOURCES=str(folder / "user"))
    environment.pop("PYTHONPATH", None)
    environment.pop("VIRTUAL_CONDUCTOR_PYTHON", None)
    done = subprocess.run(
        [str(bare_python), str(PROJECT_ROOT / "tests" / "bare_blender_session.py"), str(linux_zip), *model],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_zip_installs_into_bare_blender_and_conducts_the_demo_piece(
    linux_zip: Path, bare_python: Path, tmp_path: Path
) -> None:
    report = bare_session(linux_zip, bare_python, tmp_path)
    assert report["absent_before"] == ["soundfile", "soxr", "safetensors", "scipy", "torch", "cffi", "onnxruntime"]
    assert report["enabled"] and report["result"] == ["FINISHED"], report
    assert report["action"] == "Conductor: demo_piece (seed 0)" and report["frames"][0] == 1.0
    assert report["frames"][1] > 24 * 30  # the whole 35-s piece is keyed
    assert report["missing_for_procedural"] == [] and report["packages"]["PyTorch"] is None


def assert_the_network_ran_without_pytorch(report: dict, weights_id: str) -> None:
    assert "torch" in report["absent_before"] and "onnxruntime" in report["absent_before"]
    assert report["result"] == ["FINISHED"], report
    assert report["packages"]["PyTorch"] is None and report["packages"]["ONNX Runtime"] is not None
    assert report["runtime"] == "onnxruntime" and not report["torch_imported"]
    assert report["weights_id"] == weights_id and report["frames"][1] > 24 * 30


def test_the_zip_runs_our_network_in_bare_blender_without_pytorch(
    linux_zip: Path, bare_python: Path, tmp_path: Path
) -> None:
    """``neural`` (our weights, inside the zip) through the panel's operator, in a Blender with
    nothing installed: ONNX Runtime from the zip runs it."""
    report = bare_session(linux_zip, bare_python, tmp_path, "NEURAL")
    assert_the_network_ran_without_pytorch(report, "virtualconductor-cpu-v1")


def test_the_zip_runs_the_official_checkpoint_in_bare_blender_without_pytorch(
    linux_zip: Path, bare_python: Path, tmp_path: Path
) -> None:
    """The official checkpoint, given by path as the panel takes it."""
    report = bare_session(linux_zip, bare_python, tmp_path, "OFFICIAL", str(OFFICIAL_GENERATOR))
    assert_the_network_ran_without_pytorch(report, OFFICIAL_GENERATOR.stem)


def blender_42_version_key(version: str) -> tuple:
    """How Blender 4.2's wheel installer orders versions: the first three numbers, then the rest
    of the text (``_bpy_internal.extensions.wheel_manager.wheel_version_from_filename_for_cmp``)."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    assert match is not None, version
    return (*(int(group or 0) for group in match.groups()), version[match.end() :])


def test_every_bundled_wheel_suits_one_platform_and_the_311_build_wins_on_blender_42() -> None:
    """Blender 4.2 installs one wheel of each name, the newest version, whatever its Python; so
    every Python 3.11 wheel must be a newer version than its Python 3.13 twin on the same platform."""
    by_platform: dict[tuple[str, str], dict[str, str]] = {}
    for wheel in MANIFEST["wheels"]:
        name, version, python_tag, _abi, platform_tag = Path(wheel).name[:-4].split("-")
        platform = next((p for p in ("manylinux", "win_amd64", "arm64", "x86_64") if p in platform_tag), platform_tag)
        if platform_tag == "any":
            continue
        by_platform.setdefault((name, platform), {})[python_tag] = version
    twins = 0
    for (name, platform), versions in by_platform.items():
        if "cp311" in versions and len(versions) > 1:
            twins += 1
            newest = max(versions.values(), key=blender_42_version_key)
            assert versions["cp311"] == newest and list(versions.values()).count(newest) == 1, (name, platform)
    assert twins == 12  # cffi, soxr and onnxruntime, on four platforms
