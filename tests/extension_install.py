"""The extension as users get it, for the tests: built with Blender's own extension tool
(:func:`build_package`), installed from the zip into the running bpy session and enabled
(:func:`install_extension`).

Blender's user folders point at a temporary directory (BLENDER_USER_RESOURCES, set here before
bpy is imported) and the package goes into a repository of its own, so no real configuration is
touched. Import this before bpy.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXTENSION_ID = "virtual_conductor"
REPO_MODULE = "vc_test"

_SCRATCH = Path(tempfile.mkdtemp(prefix="virtual_conductor_test_"))


def remove_scratch() -> None:
    """Delete the scratch folder (the built zip, the repositories, Blender's user folder)."""
    shutil.rmtree(_SCRATCH, ignore_errors=True)


atexit.register(remove_scratch)
os.environ.setdefault("BLENDER_USER_RESOURCES", str(_SCRATCH / "blender_user"))

_installed: dict = {}


def blender_ext_tool() -> Path:
    """Blender's extension CLI as shipped inside the bpy wheel (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    assert spec is not None and spec.origin, "bpy is not installed in this Python"
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    assert found, "blender_ext.py is missing from the bpy package"
    return found[-1]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(blender_ext_tool()), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def build_package(output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    done = run_tool("build", "--source-dir", str(PROJECT_ROOT), "--output-dir", str(output_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    (archive,) = output_dir.glob(f"{EXTENSION_ID}-*.zip")
    return archive


def install_extension() -> dict:
    """Build the zip once, install it into a temporary repository and enable it.

    Returns {"zip", "package", "module", "folder"}: the archive, the add-on's module name
    (``bl_ext.vc_test<n>.virtual_conductor``), its imported module and its installed folder.
    Other tests may reset Blender's preferences (``read_factory_settings``), which drops the
    repository and disables the add-on; it is then installed again into a fresh repository.
    """
    import addon_utils
    import bpy

    addons = bpy.context.preferences.addons
    repos = bpy.context.preferences.extensions.repos
    if _installed and _installed["package"] in addons:
        return _installed
    if _installed and any(repo.module == _installed["repo"] for repo in repos):
        addon_utils.enable(_installed["package"], default_set=True)
        _installed["module"] = importlib.import_module(_installed["package"])
        return _installed
    archive = _installed.get("zip") or build_package(_SCRATCH / "dist")
    attempt = _installed.get("attempt", 0) + 1
    module = REPO_MODULE if attempt == 1 else f"{REPO_MODULE}{attempt}"
    repo = repos.new(
        name=f"VirtualConductor Test {attempt}",
        module=module,
        custom_directory=str(_SCRATCH / f"repo{attempt}"),
        source="USER",
    )
    result = bpy.ops.extensions.package_install_files(filepath=str(archive), repo=module, enable_on_install=True)
    assert result == {"FINISHED"}
    package = f"bl_ext.{module}.{EXTENSION_ID}"
    assert package in addons
    _installed.update(
        zip=archive,
        package=package,
        module=importlib.import_module(package),
        repo=module,
        folder=Path(repo.directory) / EXTENSION_ID,
        attempt=attempt,
    )
    return _installed
